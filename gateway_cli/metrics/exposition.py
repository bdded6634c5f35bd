"""The Prometheus text exposition format, version 0.0.4, for one registry.

Rendering runs on the event loop thread and does not await, so the page is
one consistent snapshot (see registry.py). A callback that raises leaves its
metric out of this page, is logged, and is counted in
`gateway_metrics_collect_errors_total`, so one broken reading never hides
every other metric from the scrape.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from gateway_cli.metrics.registry import (
    Callback,
    Counter,
    Gauge,
    Histogram,
    Labels,
    Metric,
    Registry,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger("gateway.metrics")

# The only escapes the format has: a label value also needs its quote escaped.
_LABEL_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_HELP_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n"})
# Below this, an integral float prints exactly and shorter as an int ("3", not "3.0");
# from here on repr switches to an exponent ("1e+16") rather than 17 digits.
_INT_BELOW = 1e16


def format_value(value: float) -> str:
    """A sample value as Prometheus writes one: `+Inf`, `-Inf`, `NaN`, `3` rather than `3.0`."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if value.is_integer() and abs(value) < _INT_BELOW:
        return str(int(value))  # -0.0 too: "0"
    return repr(value)  # shortest round-trip form; Go's ParseFloat reads its exponents


def render(registry: Registry) -> bytes:
    lines: list[str] = []
    for metric in registry.metrics():
        try:
            _family(lines, metric)
        except Exception:
            log.exception("metrics: reading %s failed; left out of this scrape", metric.name)
            registry.collect_errors.inc((metric.name,))
    # A lone surrogate (a client's "\ud800" decoded from JSON) cannot be UTF-8: replace
    # it rather than fail the whole scrape.
    return "".join(lines).encode("utf-8", "replace")


def _family(lines: list[str], metric: Metric) -> None:
    """Append one metric's lines, or none at all if reading it raises."""
    name = f"{metric.name}_total" if metric.kind == "counter" else metric.name
    out = [f"# HELP {name} {metric.help.translate(_HELP_ESCAPES)}\n",
           f"# TYPE {name} {metric.kind}\n"]
    if isinstance(metric, Histogram):
        _histogram(out, metric)
    else:
        assert isinstance(metric, Counter | Gauge | Callback), metric
        for labels, value in metric.series():
            out.append(f"{name}{_labels(metric.labelnames, labels)} {format_value(value)}\n")
    lines.extend(out)


def _histogram(out: list[str], metric: Histogram) -> None:
    name = metric.name
    les = [f'le="{format_value(b)}"' for b in metric.bounds] + ['le="+Inf"']
    for labels, cell in metric.series():
        pairs = ",".join(_pairs(metric.labelnames, labels))
        bucket = f"{name}_bucket{{{pairs}," if pairs else f"{name}_bucket{{"
        cumulative: float = 0  # stays an int (the counts are), which formats fastest
        for le, count in zip(les, cell, strict=False):  # cell ends with the sum
            cumulative += count
            out.append(f"{bucket}{le}}} {format_value(cumulative)}\n")
        plain = f"{{{pairs}}}" if pairs else ""
        out.append(f"{name}_sum{plain} {format_value(cell[-1])}\n")
        out.append(f"{name}_count{plain} {format_value(cumulative)}\n")


def _pairs(names: Sequence[str], values: Labels) -> list[str]:
    return [f'{n}="{v.translate(_LABEL_ESCAPES)}"' for n, v in zip(names, values, strict=True)]


def _labels(names: Sequence[str], values: Labels) -> str:
    return "{" + ",".join(_pairs(names, values)) + "}" if names else ""
