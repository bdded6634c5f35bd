"""The fixed windows counters live in: the minute, the UTC day, the UTC month.

Fixed rather than sliding: one number per window in every store (one key in
Redis, one row in SQLite) and a reset time a client can be told exactly in
Retry-After. The cost is a burst of up to twice the limit across a window
edge, which for per-minute limits is a second of traffic at worst.
"""

from __future__ import annotations

import calendar
import time

from gateway_cli.limits.model import Period

# A gauge (requests in flight) is given back when its request ends; should an instance die
# mid-request, what it held is forgotten after this long rather than held forever.
GAUGE_TTL = 900.0

# The last window computed of each period: (start, end, id). Every request of a minute, a
# day or a month asks for the same one, and a calendar window costs a gmtime, a strftime
# and a timegm to compute (some 2 µs per request for a monthly budget).
_LAST: dict[str, tuple[float, float, str]] = {}


def window(period: Period, now: float) -> tuple[str, float]:
    """(window id, epoch second it ends) of `period` at `now`; a gauge has one window,
    which ends GAUGE_TTL after its last use."""
    if period == "none":
        return "now", now + GAUGE_TTL
    last = _LAST.get(period)
    if last is not None and last[0] <= now < last[1]:
        return last[2], last[1]
    name, start, end = _compute(period, now)
    _LAST[period] = (start, end, name)
    return name, end


def bounds(period: Period, now: float) -> tuple[str, float, float]:
    """(window id, start, end) of a minute, day or month window at `now` (not a gauge,
    whose window moves with every use): what a cache of slots needs to know how long
    they hold (slots.py)."""
    if period == "none":
        raise ValueError("a gauge has no fixed window")
    window(period, now)
    start, end, name = _LAST[period]
    return name, start, end


def _compute(period: Period, now: float) -> tuple[str, float, float]:
    """(window id, start, end) of a minute, day or month window, from the calendar."""
    if period == "minute":
        start = int(now // 60) * 60
        return str(start), float(start), float(start + 60)
    t = time.gmtime(now)
    if period == "day":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        return time.strftime("%Y-%m-%d", t), float(start), float(start + 86400)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    start = calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0))
    return (time.strftime("%Y-%m", t), float(start),
            float(calendar.timegm((year, month, 1, 0, 0, 0))))


def slot(key: str, period: Period, now: float) -> tuple[str, float]:
    """The store key of `key` in its window at `now`, and when the window ends."""
    name, ends = window(period, now)
    return f"{key}@{name}", ends
