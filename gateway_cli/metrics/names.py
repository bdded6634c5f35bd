"""Metric and label name rules, checked once at registration so rendering never has to.

A name the Prometheus text format cannot carry would make the whole scrape
unparseable, not just one metric, so a bad name must fail when the code that
declares it first runs (at start-up), never at the first scrape.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Colons are reserved for metric names (recording rules); label names never have them.
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def check_metric_name(name: str) -> None:
    if not _METRIC.fullmatch(name):
        raise ValueError(f"invalid metric name {name!r}: must match [a-zA-Z_:][a-zA-Z0-9_:]*")


def check_label_names(labelnames: Iterable[str], *,
                      reserved: Iterable[str] = ()) -> tuple[str, ...]:
    """The label names as a tuple, refused if invalid, reserved or repeated.

    `__`-prefixed names belong to Prometheus itself (relabelling drops them),
    and a histogram's `le` is written by the exposition, so a caller's `le`
    would make two labels of one name.
    """
    names = tuple(labelnames)
    taken = set(reserved)
    for label in names:
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            raise ValueError(f"invalid label name {label!r}: must match [a-zA-Z_][a-zA-Z0-9_]*")
        if label.startswith("__"):
            raise ValueError(f"invalid label name {label!r}: names starting with __ are reserved")
        if label in taken:
            raise ValueError(f"label name {label!r} is reserved or repeated")
        taken.add(label)
    return names
