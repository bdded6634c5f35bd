"""The store keys of a prepared layout's counters, worked out once per window.

Every request of one caller in one minute reserves in the same slots
("key@window"), which `windows.slot` works out anew for each (a window
look-up and an f-string per counter, on every request). A `Slots` keeps what
it worked out for the first request of a window and answers from it until
`now` leaves the window of any of its counters (a minute's end, a day's, a month's; or a clock
set back). A gauge's slot never changes; its end (GAUGE_TTL after its last
use) is the one part that moves with every request.

It gives exactly what `outcome.slots` gives for the same counters at the same
`now` (tests/unit/limits check it, across a window's edge). One `Slots` lives
in each prepared layout, so a reloaded config (a new Limiter, new layouts)
never reads slots made for the old one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gateway_cli.limits.model import Period
from gateway_cli.limits.windows import GAUGE_TTL, bounds

# (valid from, valid until, each counter's (slot, window end); a gauge's end is filled in
# per request)
_State = tuple[float, float, list[tuple[str, float]]]
_NEVER: _State = (math.inf, -math.inf, [])


class Slots:
    """(slot, window end) of each of a fixed list of (key, period), at any `now`."""

    __slots__ = ("_gauges", "_keys", "_state")

    def __init__(self, keys: Sequence[tuple[str, Period]]) -> None:
        self._keys = tuple(keys)
        self._gauges = tuple(i for i, (_, period) in enumerate(self._keys) if period == "none")
        self._state = _NEVER

    def at(self, now: float) -> list[tuple[str, float]]:
        """What `outcome.slots` gives at `now`: a new list, the caller's to keep."""
        state = self._state
        if not state[0] <= now < state[1]:
            state = self._state = self._fill(now)
        where = state[2].copy()
        for i in self._gauges:
            where[i] = (where[i][0], now + GAUGE_TTL)
        return where

    def _fill(self, now: float) -> _State:
        start, until = -math.inf, math.inf
        where: list[tuple[str, float]] = []
        for key, period in self._keys:
            if period == "none":
                where.append((f"{key}@now", 0.0))  # the end: per request, in `at`
                continue
            name, begins, ends = bounds(period, now)
            where.append((f"{key}@{name}", ends))
            start, until = max(start, begins), min(until, ends)
        return start, until, where
