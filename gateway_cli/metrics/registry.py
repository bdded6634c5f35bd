"""Counters, gauges and histograms cheap enough to update ten times per request.

Why not prometheus-client: every runtime dependency is attack surface, and
what the gateway needs is a dict lookup and an add. A series is keyed by the
tuple of its label values, so `requests.inc(("chat", "200", "client"))` costs
one tuple hash and one dict update; a histogram observation adds one `bisect`
over its fixed bounds. Buckets are stored per bucket, not cumulatively, so an
observation touches one count; the exposition cumulates at scrape time.

Why no locks: every update and every render happens on the asyncio event loop
thread, and neither awaits, so no other update can run in the middle of one
(the same argument as limits/memory_store.py). Code on another thread must not
touch a metric directly (`d[k] += 1` is a read, an add and a write, and a
render iterating a dict that grows raises); it hands the update to the loop
with `loop.call_soon_threadsafe`.

Why a cap on label sets: some label values come from clients (a model name, a
client id), and each new value is a new series held forever. Past
`max_series` distinct label sets per metric, and for any value longer than
MAX_LABEL_VALUE characters, the update lands on one overflow series whose
every label value is "other", and `gateway_metrics_label_overflow_total`
counts it, so memory stays bounded and the loss stays visible.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise
from typing import Literal, TypeVar

from gateway_cli.metrics.names import check_label_names, check_metric_name

Labels = tuple[str, ...]
Kind = Literal["counter", "gauge", "histogram"]
SeriesFn = Callable[[], Iterable[tuple[Labels, float]]]
M = TypeVar("M", bound="Metric")

MAX_SERIES = 10_000
MAX_LABEL_VALUE = 256
OVERFLOW = "other"
# Request latencies in seconds, from a cached answer to a slow model's full reply.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metric:
    """What the exposition needs of any metric: its name, help, type and label names."""

    __slots__ = ("help", "labelnames", "name")
    kind: Kind

    def __init__(self, name: str, help: str, labelnames: Labels) -> None:
        self.name = name
        self.help = help
        self.labelnames = labelnames

    def check_labels(self, labels: Labels) -> None:
        """Refuse label values of the wrong number or type: a bug in the caller, not input."""
        if (not isinstance(labels, tuple) or len(labels) != len(self.labelnames)
                or not all(isinstance(v, str) for v in labels)):
            raise ValueError(f"{self.name}: label values must be a tuple of "
                             f"{len(self.labelnames)} str {self.labelnames}, got {labels!r}")


class _Stored(Metric):
    """A metric whose series live in a dict, under the cap on label sets."""

    __slots__ = ("_max_series", "_on_overflow", "_overflow")

    def __init__(self, name: str, help: str, labelnames: Labels, *, max_series: int,
                 on_overflow: Callable[[str], None] | None) -> None:
        super().__init__(name, help, labelnames)
        self._max_series = max_series
        self._on_overflow = on_overflow
        self._overflow = (OVERFLOW,) * len(labelnames)

    def _admit(self, labels: Labels, size: int) -> Labels:
        """The key a label set not seen before is stored under: itself, or the overflow series.

        Only reached on a dict miss, so its checks cost nothing on the hot path.
        """
        self.check_labels(labels)
        if size < self._max_series and all(len(v) <= MAX_LABEL_VALUE for v in labels):
            return labels
        if self._on_overflow is not None:
            self._on_overflow(self.name)
        return self._overflow


class Counter(_Stored):
    __slots__ = ("_values",)
    kind: Kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Labels, *, max_series: int = MAX_SERIES,
                 on_overflow: Callable[[str], None] | None = None) -> None:
        super().__init__(name, help, labelnames, max_series=max_series, on_overflow=on_overflow)
        # An unlabelled series exists from the start: a rate over a counter that appears
        # only at its first increment misses that increment.
        self._values: dict[Labels, float] = {} if labelnames else {(): 0}

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        if not amount >= 0:  # also refuses NaN, which would poison the counter for good
            raise ValueError(f"{self.name}: a counter only goes up (amount {amount!r})")
        values = self._values
        try:
            values[labels] += amount
        except KeyError:
            key = self._admit(labels, len(values))
            values[key] = values.get(key, 0) + amount

    def series(self) -> list[tuple[Labels, float]]:
        return list(self._values.items())


class Gauge(_Stored):
    __slots__ = ("_values",)
    kind: Kind = "gauge"

    def __init__(self, name: str, help: str, labelnames: Labels, *, max_series: int = MAX_SERIES,
                 on_overflow: Callable[[str], None] | None = None) -> None:
        super().__init__(name, help, labelnames, max_series=max_series, on_overflow=on_overflow)
        self._values: dict[Labels, float] = {} if labelnames else {(): 0}

    def set(self, labels: Labels, value: float) -> None:
        values = self._values
        if labels in values:
            values[labels] = value
        else:
            values[self._admit(labels, len(values))] = value

    def inc(self, labels: Labels = (), amount: float = 1.0) -> None:
        values = self._values
        try:
            values[labels] += amount
        except KeyError:
            key = self._admit(labels, len(values))
            values[key] = values.get(key, 0) + amount

    def dec(self, labels: Labels = (), amount: float = 1.0) -> None:
        self.inc(labels, -amount)

    def series(self) -> list[tuple[Labels, float]]:
        return list(self._values.items())


class Histogram(_Stored):
    """Fixed buckets; each series is [count per bucket..., count above the last, sum]."""

    __slots__ = ("_values", "bounds")
    kind: Kind = "histogram"

    def __init__(self, name: str, help: str, labelnames: Labels, bounds: Sequence[float], *,
                 max_series: int = MAX_SERIES,
                 on_overflow: Callable[[str], None] | None = None) -> None:
        super().__init__(name, help, labelnames, max_series=max_series, on_overflow=on_overflow)
        self.bounds = check_bounds(bounds)
        self._values: dict[Labels, list[float]] = {} if labelnames else {(): self._empty()}

    def _empty(self) -> list[float]:
        return [0] * (len(self.bounds) + 1) + [0.0]

    def observe(self, labels: Labels, value: float) -> None:
        try:
            cell = self._values[labels]
        except KeyError:
            cell = self._new_cell(labels)
        i = bisect_left(self.bounds, value)
        if i == 0 and value != value:  # NaN compares false with every bound: count it in +Inf
            i = len(self.bounds)
        cell[i] += 1
        cell[-1] += value

    def _new_cell(self, labels: Labels) -> list[float]:
        key = self._admit(labels, len(self._values))
        cell = self._values.get(key)  # the overflow series may exist already
        if cell is None:
            cell = self._values[key] = self._empty()
        return cell

    def series(self) -> list[tuple[Labels, list[float]]]:
        return list(self._values.items())


def check_bounds(bounds: Sequence[float]) -> tuple[float, ...]:
    """Finite, strictly increasing bucket bounds; a trailing +Inf is implied and dropped."""
    values = [float(b) for b in bounds]
    if values and values[-1] == math.inf:
        values.pop()
    if not values:
        raise ValueError("a histogram needs at least one finite bucket bound")
    if not all(math.isfinite(b) for b in values):
        raise ValueError(f"bucket bounds must be finite numbers: {bounds!r}")
    if any(a >= b for a, b in pairwise(values)):
        raise ValueError(f"bucket bounds must increase strictly: {bounds!r}")
    return tuple(values)


class Callback(Metric):
    """A gauge or counter read at scrape time, for state the gateway already keeps.

    Queue depth, circuit-breaker state per deployment, store health: keeping a
    second copy up to date on every change would cost the hot path for a value
    read once per scrape. `fn` runs on the loop thread during the render, so it
    must be quick and must not block (no I/O); it yields (label values, value).
    """

    __slots__ = ("_fn", "_max_series", "kind")

    def __init__(self, kind: Literal["counter", "gauge"], name: str, help: str,
                 labelnames: Labels, fn: SeriesFn, *, max_series: int = MAX_SERIES) -> None:
        super().__init__(name, help, labelnames)
        self.kind = kind
        self._fn = fn
        self._max_series = max_series

    def series(self) -> list[tuple[Labels, float]]:
        out: list[tuple[Labels, float]] = []
        for labels, value in self._fn():
            self.check_labels(labels)
            if len(out) == self._max_series:
                raise ValueError(f"{self.name}: more than {self._max_series} label sets")
            out.append((labels, float(value)))
        return out


class Registry:
    """The metrics one /metrics page shows, in the order they were declared.

    Names are checked here, once, including the sample names each metric
    writes (`x_total`; `x_bucket`, `x_sum`, `x_count`), so two metrics can
    never write the same series and make the page ambiguous.
    """

    def __init__(self, *, max_series: int = MAX_SERIES) -> None:
        self._metrics: list[Metric] = []
        self._taken: set[str] = set()
        self._max_series = max_series
        # Labelled by metric name, so bounded by what the code declares, not by clients;
        # uncapped, because an overflow of the overflow counter would count itself forever.
        self.label_overflow = self._own(
            "gateway_metrics_label_overflow",
            "Updates counted on a metric's 'other' series: too many label sets, or a label "
            "value too long.")
        self.collect_errors = self._own(
            "gateway_metrics_collect_errors",
            "Scrapes that left a metric out because reading it raised.")

    def metrics(self) -> tuple[Metric, ...]:
        return tuple(self._metrics)

    def counter(self, name: str, help: str, labelnames: Iterable[str] = ()) -> Counter:
        """A counter; `name` may end in `_total` or not, it is written with `_total`."""
        family = _family(name)
        labels = check_label_names(labelnames)
        return self._add(Counter(family, help, labels, max_series=self._max_series,
                                 on_overflow=self._overflowed),
                         family, f"{family}_total")

    def gauge(self, name: str, help: str, labelnames: Iterable[str] = ()) -> Gauge:
        check_metric_name(name)
        labels = check_label_names(labelnames)
        return self._add(Gauge(name, help, labels, max_series=self._max_series,
                               on_overflow=self._overflowed), name)

    def histogram(self, name: str, help: str, labelnames: Iterable[str] = (),
                  buckets: Sequence[float] = DEFAULT_BUCKETS) -> Histogram:
        check_metric_name(name)
        labels = check_label_names(labelnames, reserved=("le",))
        return self._add(Histogram(name, help, labels, buckets, max_series=self._max_series,
                                   on_overflow=self._overflowed),
                         name, f"{name}_bucket", f"{name}_sum", f"{name}_count")

    def gauge_callback(self, name: str, help: str, fn: SeriesFn,
                       labelnames: Iterable[str] = ()) -> Callback:
        check_metric_name(name)
        labels = check_label_names(labelnames)
        return self._add(Callback("gauge", name, help, labels, fn, max_series=self._max_series),
                         name)

    def counter_callback(self, name: str, help: str, fn: SeriesFn,
                         labelnames: Iterable[str] = ()) -> Callback:
        family = _family(name)
        labels = check_label_names(labelnames)
        return self._add(Callback("counter", family, help, labels, fn,
                                  max_series=self._max_series), family, f"{family}_total")

    def _own(self, family: str, help: str) -> Counter:
        counter = Counter(family, help, ("metric",), max_series=sys.maxsize, on_overflow=None)
        return self._add(counter, family, f"{family}_total")

    def _add(self, metric: M, *names: str) -> M:
        clash = self._taken.intersection(names)
        if clash:
            raise ValueError(f"metric {metric.name!r} clashes with a metric already registered "
                             f"(name {sorted(clash)[0]!r})")
        self._taken.update(names)
        self._metrics.append(metric)
        return metric

    def _overflowed(self, name: str) -> None:
        self.label_overflow.inc((name,))


def _family(counter_name: str) -> str:
    family = counter_name.removesuffix("_total")
    check_metric_name(family)
    return family
