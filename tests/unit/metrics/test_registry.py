"""Registration refuses what the format cannot carry; the label-set cap bounds memory."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest

from gateway_cli.metrics import MAX_LABEL_VALUE, Labels, Registry
from tests.unit.metrics.conftest import samples, scrape


@pytest.mark.parametrize("name", ["", "1abc", "a-b", "a b", "é", "a.b", "a{b}"])
@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_invalid_metric_names_are_refused(kind: str, name: str) -> None:
    with pytest.raises(ValueError, match="invalid metric name"):
        getattr(Registry(), kind)(name, "Help.")


def test_a_counter_named_only_total_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid metric name ''"):
        Registry().counter("_total", "Help.")
    Registry().gauge("_total", "Help.")


@pytest.mark.parametrize("name", ["ok", "_ok", "a:b", ":ok", "A_1:x"])
def test_valid_metric_names_are_accepted(name: str) -> None:
    Registry().gauge(name, "Help.")


@pytest.mark.parametrize("labelnames", [("__name__",), ("__x",), ("a:b",), ("1a",), ("",),
                                        ("a-b",), ("ok", "ok"), ("é",)])
@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_invalid_label_names_are_refused(kind: str, labelnames: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="label name"):
        getattr(Registry(), kind)("m", "Help.", labelnames)


def test_le_is_refused_on_a_histogram_only() -> None:
    with pytest.raises(ValueError, match="'le' is reserved"):
        Registry().histogram("h", "Help.", ("le",))
    Registry().gauge("g", "Help.", ("le", "_x"))


@pytest.mark.parametrize(("first", "second"), [
    (("counter", "x"), ("gauge", "x")),
    (("counter", "x"), ("gauge", "x_total")),
    (("counter", "x"), ("counter", "x_total")),
    (("histogram", "h"), ("gauge", "h_bucket")),
    (("histogram", "h"), ("counter", "h_sum")),
    (("gauge", "h_count"), ("histogram", "h")),
    (("gauge", "gateway_metrics_label_overflow_total"), None),
])
def test_names_that_would_write_the_same_series_are_refused(
        first: tuple[str, str], second: tuple[str, str] | None) -> None:
    registry = Registry()
    if second is not None:
        getattr(registry, first[0])(first[1], "Help.")
        first = second
    with pytest.raises(ValueError, match="clashes"):
        getattr(registry, first[0])(first[1], "Help.")


@pytest.mark.parametrize("buckets", [(), (1.0, 1.0), (2.0, 1.0), (math.nan,), (1.0, math.nan),
                                     (-math.inf, 1.0), (math.inf,)])
def test_invalid_buckets_are_refused(buckets: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="bucket"):
        Registry().histogram("h", "Help.", buckets=buckets)


def test_a_trailing_inf_bucket_is_implied_not_doubled() -> None:
    registry = Registry()
    registry.histogram("h", "Help.", buckets=(1.0, math.inf)).observe((), 5)
    les = [s.labels["le"] for s in scrape(registry)["h"].samples if s.name == "h_bucket"]
    assert les == ["1", "+Inf"]


@pytest.mark.parametrize("labels", [("a",), ("a", "b", "c"), ("a", 1), ["a", "b"], "ab"])
def test_label_values_of_the_wrong_shape_are_a_bug(labels: object) -> None:
    counter = Registry().counter("c", "Help.", ("x", "y"))
    with pytest.raises((ValueError, TypeError)):
        counter.inc(labels)  # type: ignore[arg-type]
    assert counter.series() == []


@pytest.mark.parametrize("amount", [-1.0, math.nan])
def test_a_counter_refuses_to_go_down_or_become_nan(amount: float) -> None:
    counter = Registry().counter("c", "Help.")
    with pytest.raises(ValueError, match="only goes up"):
        counter.inc((), amount)
    assert counter.series() == [((), 0)]


def _stored(registry: Registry, kind: str) -> Callable[[Labels], None]:
    if kind == "counter":
        return registry.counter("m", "Help.", ("client",)).inc
    if kind == "gauge":
        gauge = registry.gauge("m", "Help.", ("client",))
        return lambda labels: gauge.set(labels, 1)
    histogram = registry.histogram("m", "Help.", ("client",), buckets=(1.0,))
    return lambda labels: histogram.observe(labels, 0.5)


@pytest.mark.parametrize("kind", ["counter", "gauge", "histogram"])
def test_label_sets_past_the_cap_go_to_one_other_series(kind: str) -> None:
    registry = Registry(max_series=3)
    update = _stored(registry, kind)
    for i in range(10):
        update((f"client-{i}",))
    update(("client-0",))  # a series admitted before the cap still moves
    families = scrape(registry)
    clients = [s.labels["client"] for s in families["m"].samples]
    assert list(dict.fromkeys(clients)) == ["client-0", "client-1", "client-2", "other"]
    assert samples(families["gateway_metrics_label_overflow"]) == [
        ("gateway_metrics_label_overflow_total", {"metric": "m"}, 7)]
    if kind == "counter":
        assert samples(families["m"])[0][2] == 2 and samples(families["m"])[-1][2] == 7


def test_a_hostile_client_cannot_grow_a_metric_past_the_cap() -> None:
    registry = Registry(max_series=100)
    counter = registry.counter("m", "Help.", ("model", "client"))
    for i in range(5000):
        counter.inc((f"model-{i}", "c"))
    assert len(counter.series()) == 101
    assert counter.series()[-1] == (("other", "other"), 4900)


def test_an_over_long_label_value_goes_to_the_other_series() -> None:
    registry = Registry()
    counter = registry.counter("m", "Help.", ("model",))
    counter.inc(("x" * MAX_LABEL_VALUE,))
    counter.inc(("x" * (MAX_LABEL_VALUE + 1),))
    assert counter.series() == [(("x" * MAX_LABEL_VALUE,), 1), (("other",), 1)]
    assert registry.label_overflow.series() == [(("m",), 1)]


def test_callback_gauges_are_read_at_each_scrape() -> None:
    registry = Registry()
    state = {"openai/gpt": 0.0, "anthropic/claude": 2.0}
    depth = [0]

    def breakers() -> Iterator[tuple[Labels, float]]:
        for deployment, value in state.items():
            yield (deployment,), value

    registry.gauge_callback("gateway_breaker_state", "Circuit-breaker state.", breakers,
                            ("deployment",))
    registry.gauge_callback("gateway_queue_depth", "Queued records.",
                            lambda: [((), depth[0])])
    registry.counter_callback("gateway_audit_dropped", "Dropped records.",
                              lambda: [((), 4)])
    first = scrape(registry)
    state["openai/gpt"] = 1.0
    depth[0] = 7
    second = scrape(registry)
    assert first["gateway_breaker_state"].type == "gauge"
    assert samples(first["gateway_breaker_state"]) == [
        ("gateway_breaker_state", {"deployment": "openai/gpt"}, 0),
        ("gateway_breaker_state", {"deployment": "anthropic/claude"}, 2)]
    assert samples(second["gateway_breaker_state"])[0][2] == 1
    assert samples(first["gateway_queue_depth"]) == [("gateway_queue_depth", {}, 0)]
    assert samples(second["gateway_queue_depth"]) == [("gateway_queue_depth", {}, 7)]
    assert first["gateway_audit_dropped"].type == "counter"
    assert samples(first["gateway_audit_dropped"]) == [("gateway_audit_dropped_total", {}, 4)]


def _broken() -> list[tuple[Labels, float]]:
    raise RuntimeError("store unreachable")


@pytest.mark.parametrize("fn", [
    _broken,
    lambda: [(("a", "b"), 1.0)],  # one label value too many
    lambda: [(("a",), "not a number")],
    lambda: [((f"d{i}",), 1.0) for i in range(4)],  # more label sets than max_series
])
def test_a_failing_callback_is_left_out_and_counted(
        fn: Callable[[], list[tuple[Labels, float]]], caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(max_series=3)
    registry.gauge("before", "Before.").set((), 1)
    registry.gauge_callback("health", "Store health.", fn, ("store",))
    registry.gauge("after", "After.").set((), 2)
    families = scrape(registry)
    assert "health" not in families
    assert samples(families["before"]) == [("before", {}, 1)]
    assert samples(families["after"]) == [("after", {}, 2)]
    assert "reading health failed" in caplog.text
    # Counted at once; the count is written before the callbacks run, so the next
    # scrape shows the failures before it.
    assert samples(scrape(registry)["gateway_metrics_collect_errors"]) == [
        ("gateway_metrics_collect_errors_total", {"metric": "health"}, 1)]
    assert registry.collect_errors.series() == [(("health",), 2)]


@pytest.mark.parametrize("labels", [("a", "b"), (1,), ["a"]])
def test_a_callback_with_label_values_of_the_wrong_shape_says_so(labels: object) -> None:
    registry = Registry()
    health = registry.gauge_callback("health", "Store health.", lambda: [(labels, 1.0)],
                                     ("store",))
    with pytest.raises(ValueError, match=r"label values must be a tuple of 1 str \('store',\)"):
        health.series()


def test_overflows_of_more_metrics_than_the_cap_are_all_counted() -> None:
    registry = Registry(max_series=1)
    counters = [registry.counter(f"m{i}", "Help.", ("client",)) for i in range(5)]
    for counter in counters:
        counter.inc(("a",))
        counter.inc(("b",))
    assert registry.label_overflow.series() == [((f"m{i}",), 1) for i in range(5)]
