"""The decision every store makes the same way, once it has the counters' current values.

The stores differ in where the numbers live and how the check-and-add is made
atomic (a dict touched without an await, a SQLite IMMEDIATE transaction, a
Lua script in Redis); what "room" means, which counter a refusal names and
what a grant reports must not differ between them, so it is written once
here. The Redis script repeats `fits` in Lua (redis_store.py), with the same
SLACK.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway_cli.limits.model import Counter, Granted, Held, Refused
from gateway_cli.limits.windows import slot

# Amounts are floats (spend in USD): 0.1 + 0.2 is 0.30000000000000004, and a request
# that brings a budget to exactly its limit must not be refused for the rounding.
SLACK = 1e-9


def fits(value: float, amount: float, limit: float) -> bool:
    """Whether `amount` more keeps a counter standing at `value` within `limit`."""
    return value + amount <= limit + SLACK


def slots(counters: Sequence[Counter], now: float) -> list[tuple[str, float]]:
    """(slot, window end) of each counter at `now`."""
    return [slot(c.key, c.period, now) for c in counters]


def ttl_seconds(end: float, now: float) -> int:
    """Whole seconds from `now` until a slot ending at `end` may be forgotten (at least 1)."""
    return max(1, math.ceil(end - now))


def refused(counter: Counter, used: float, end: float, now: float) -> Refused:
    """The refusal naming `counter`; a gauge frees room when a request ends, so "retry in 1 s"."""
    return Refused(counter, used, now + 1.0 if counter.period == "none" else end)


def granted(counters: Sequence[Counter], where: Sequence[tuple[str, float]],
            values: Sequence[float], now: float) -> Granted:
    """The grant of `counters` reserved at `where` (slot, end), now standing at `values`."""
    held = tuple([Held(s, c.amount, end) for c, (s, end) in zip(counters, where, strict=True)])
    return Granted(held, counters, values, now)


def first_without_room(counters: Sequence[Counter], values: Sequence[float]) -> int | None:
    """Index of the first counter (in the order given) without room; None if all fit."""
    for i, (c, v) in enumerate(zip(counters, values, strict=True)):
        if not fits(v, c.amount, c.limit):
            return i
    return None


def check_amounts(counters: Sequence[Counter]) -> None:
    """Refuse NaN and infinities, which would poison a counter for the rest of its window."""
    for c in counters:
        if not (math.isfinite(c.amount) and math.isfinite(c.limit)):
            raise ValueError(f"counter {c.key!r}: amount and limit must be finite numbers")


def check_deltas(changes: Sequence[tuple[Held, float]]) -> None:
    for held, delta in changes:
        if not math.isfinite(delta):
            raise ValueError(f"slot {held.slot!r}: an adjustment must be a finite number")
