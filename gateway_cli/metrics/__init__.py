"""Prometheus metrics without prometheus-client: a registry and the text exposition format."""

from gateway_cli.metrics.exposition import CONTENT_TYPE, format_value, render
from gateway_cli.metrics.registry import (
    DEFAULT_BUCKETS,
    MAX_LABEL_VALUE,
    MAX_SERIES,
    Callback,
    Counter,
    Gauge,
    Histogram,
    Labels,
    Metric,
    Registry,
)

__all__ = [
    "CONTENT_TYPE",
    "DEFAULT_BUCKETS",
    "MAX_LABEL_VALUE",
    "MAX_SERIES",
    "Callback",
    "Counter",
    "Gauge",
    "Histogram",
    "Labels",
    "Metric",
    "Registry",
    "format_value",
    "render",
]
