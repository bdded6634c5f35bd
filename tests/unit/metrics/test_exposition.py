"""What we render is what Prometheus reads: names, types, help, label values and numbers."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.metrics import CONTENT_TYPE, Registry, format_value, render
from tests.unit.metrics.conftest import samples, scrape

HOSTILE = [
    'say "hi"', "back\\slash", "trailing\\", "two\nlines", "\n", "literal \\n", '\\"',
    "", "}", '"}', ",x=\"y\"", "# HELP", "ünïcödé ✓ 日本語 😀", "tab\tand\rcr", "\x00nul",
]


def test_content_type_is_the_0_0_4_text_format() -> None:
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_counter_gauge_and_histogram_round_trip() -> None:
    registry = Registry()
    requests = registry.counter("gateway_requests", "Requests by route.", ("route", "status"))
    inflight = registry.gauge("gateway_inflight", "Calls in flight.")
    latency = registry.histogram("gateway_latency_seconds", "Latency.", ("route",),
                                 buckets=(0.1, 0.5, 1.0))
    requests.inc(("chat", "200"))
    requests.inc(("chat", "200"), 2)
    requests.inc(("embed", "502"), 0.5)
    inflight.set((), 3)
    inflight.dec()
    for value in (0.05, 0.1, 0.3, 0.5, 0.7, 2.0):
        latency.observe(("chat",), value)

    families = scrape(registry)
    counter = families["gateway_requests"]
    assert (counter.type, counter.documentation) == ("counter", "Requests by route.")
    assert samples(counter) == [
        ("gateway_requests_total", {"route": "chat", "status": "200"}, 3),
        ("gateway_requests_total", {"route": "embed", "status": "502"}, 0.5),
    ]
    assert families["gateway_inflight"].type == "gauge"
    assert samples(families["gateway_inflight"]) == [("gateway_inflight", {}, 2)]
    histogram = families["gateway_latency_seconds"]
    assert histogram.type == "histogram"
    chat = {"route": "chat"}
    # `le` is inclusive: 0.1 and 0.5 count in their own buckets.
    assert samples(histogram) == [
        ("gateway_latency_seconds_bucket", {**chat, "le": "0.1"}, 2),
        ("gateway_latency_seconds_bucket", {**chat, "le": "0.5"}, 4),
        ("gateway_latency_seconds_bucket", {**chat, "le": "1"}, 5),
        ("gateway_latency_seconds_bucket", {**chat, "le": "+Inf"}, 6),
        ("gateway_latency_seconds_sum", chat, 0.05 + 0.1 + 0.3 + 0.5 + 0.7 + 2.0),
        ("gateway_latency_seconds_count", chat, 6),
    ]


def test_a_counter_declared_with_total_is_written_once_with_it() -> None:
    registry = Registry()
    registry.counter("jobs_total", "Jobs.").inc()
    text = render(registry).decode()
    assert "# TYPE jobs_total counter\njobs_total 1\n" in text
    assert samples(scrape(registry)["jobs"]) == [("jobs_total", {}, 1)]


def test_unlabelled_series_start_at_zero_labelled_ones_at_first_use() -> None:
    registry = Registry()
    registry.counter("plain", "Plain.")
    registry.histogram("plain_seconds", "Plain.", buckets=(1.0,))
    registry.counter("by_route", "By route.", ("route",))
    families = scrape(registry)
    assert samples(families["plain"]) == [("plain_total", {}, 0)]
    assert [s[2] for s in samples(families["plain_seconds"])] == [0, 0, 0, 0]
    assert samples(families["by_route"]) == []


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_label_values_round_trip(value: str) -> None:
    registry = Registry()
    registry.counter("hits", "Hits.", ("model", "client")).inc((value, "after"))
    registry.histogram("size", "Size.", ("model",), buckets=(1.0,)).observe((value,), 0.5)
    families = scrape(registry)
    assert samples(families["hits"]) == [("hits_total", {"model": value, "client": "after"}, 1)]
    assert {s.labels["model"] for s in families["size"].samples} == {value}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5, unique=True))
def test_any_label_value_round_trips(values: list[str]) -> None:
    registry = Registry()
    gauge = registry.gauge("g", "G.", ("v",))
    for i, value in enumerate(values):
        gauge.set((value,), i)
    assert samples(scrape(registry)["g"]) == [("g", {"v": v}, i) for i, v in enumerate(values)]


def test_help_text_escapes_round_trip() -> None:
    registry = Registry()
    text = 'Line one \\ with "quotes"\nline two \\n ✓'
    registry.gauge("g", text)
    assert scrape(registry)["g"].documentation == text


def test_a_lone_surrogate_does_not_break_the_page() -> None:
    registry = Registry()
    registry.counter("hits", "Hits.", ("model",)).inc(("bad\ud800",))
    registry.gauge("after", "After.").set((), 1)
    families = scrape(registry)
    assert samples(families["hits"]) == [("hits_total", {"model": "bad?"}, 1)]
    assert samples(families["after"]) == [("after", {}, 1)]


@pytest.mark.parametrize(("value", "text"), [
    (3.0, "3"), (3, "3"), (-0.0, "0"), (-2.0, "-2"), (0.1, "0.1"), (2.5e-7, "2.5e-07"),
    (1e15, "1000000000000000"), (1e16, "1e+16"), (-1.5e300, "-1.5e+300"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
])
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


def test_nan_and_infinities_render_and_parse() -> None:
    registry = Registry()
    gauge = registry.gauge("g", "G.", ("case",))
    for case, value in [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)]:
        gauge.set((case,), value)
    latency = registry.histogram("h", "H.", buckets=(1.0,))
    latency.observe((), math.nan)
    latency.observe((), 0.5)
    families = scrape(registry)
    got = {s.labels["case"]: s.value for s in families["g"].samples}
    assert math.isnan(got["nan"]) and got["inf"] == math.inf and got["-inf"] == -math.inf
    values = {(s.name, s.labels.get("le")): s.value for s in families["h"].samples}
    # NaN lands in +Inf only, as the Go client counts it, and poisons the sum.
    assert values[("h_bucket", "1")] == 1 and values[("h_bucket", "+Inf")] == 2
    assert values[("h_count", None)] == 2 and math.isnan(values[("h_sum", None)])


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=6, unique=True).map(sorted),
       st.lists(st.floats(width=64) | finite, max_size=30))
def test_histogram_buckets_sum_and_count_round_trip_exactly(
        bounds: list[float], observations: list[float]) -> None:
    registry = Registry()
    histogram = registry.histogram("h", "H.", ("k",), buckets=bounds)
    for value in observations:
        histogram.observe(("x",), value)
    if not observations:
        histogram.observe(("x",), 0.0)
        observations = [0.0]
    expected_sum = 0.0
    for value in observations:
        expected_sum += value
    got = samples(scrape(registry)["h"])
    buckets = [(s[1]["le"], s[2]) for s in got if s[0] == "h_bucket"]
    assert buckets == [
        (format_value(b), sum(1 for v in observations if v <= b)) for b in bounds
    ] + [("+Inf", len(observations))]
    (sum_sample,) = [s for s in got if s[0] == "h_sum"]
    assert sum_sample[2] == expected_sum or (math.isnan(sum_sample[2]) and
                                             math.isnan(expected_sum))
    assert [s for s in got if s[0] == "h_count"] == [("h_count", {"k": "x"}, len(observations))]
    # `le` texts read back as the very bounds declared.
    assert [float(le) for le, _ in buckets[:-1]] == bounds


@settings(max_examples=300, deadline=None)
@given(st.floats(width=64))
def test_any_gauge_value_round_trips(value: float) -> None:
    registry = Registry()
    registry.gauge("g", "G.").set((), value)
    (got,) = scrape(registry)["g"].samples
    assert got.value == value or (math.isnan(got.value) and math.isnan(value))


def test_the_gateway_never_imports_prometheus_client() -> None:
    package = Path(__file__).resolve().parents[3] / "gateway_cli"
    importers = []
    modules = sorted(package.rglob("*.py"))
    assert len(modules) > 50 and package / "metrics" / "registry.py" in modules
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "prometheus_client" for n in names):
                importers.append(str(path))
    assert importers == []
