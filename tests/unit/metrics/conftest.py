"""Read our exposition back with the official Prometheus parser, never with our own code."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric as Family
from prometheus_client.parser import text_string_to_metric_families

from gateway_cli.metrics import Registry, render


def scrape(registry: Registry) -> dict[str, Family]:
    """Every family of one render, by name, as Prometheus's own parser reads it."""
    text = render(registry).decode("utf-8")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # The registry's own two counters come first on every page.
    assert list(families)[:2] == ["gateway_metrics_label_overflow",
                                  "gateway_metrics_collect_errors"]
    return families


def samples(family: Family) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, s.labels, s.value) for s in family.samples]
