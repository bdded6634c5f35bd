"""Counters in this process's memory: the store for one instance, and the fastest.

Nothing is shared with other instances and nothing survives a restart, so it
suits a single gateway whose budgets may start afresh when it does (or a
test). The check and the add happen in plain Python with no await between
them, so under asyncio no other task can run in the middle of a reservation:
that is the whole of its atomicity.

Expired slots (a minute that has passed, a gauge left alone for GAUGE_TTL)
cost memory until they are forgotten. A reservation treats an expired slot as
zero, and every reservation also forgets up to SWEEP expired slots, oldest
first, from a heap of expiry times with one entry per slot, so memory follows
the slots in use however many keys come and go, at O(log n) per new slot.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from gateway_cli.limits import outcome
from gateway_cli.limits.model import Counter, Granted, Held, Refused
from gateway_cli.limits.outcome import SLACK

SWEEP = 16  # expired slots forgotten per reservation at most
# Builds a NamedTuple from its fields without the Python-level __new__ of its class (half
# the time, for the few a request builds: bench/limits/README.md).
_new = tuple.__new__
_INF = math.inf


class MemoryStore:
    name = "memory"

    def __init__(self) -> None:
        self._slots: dict[str, tuple[float, float]] = {}  # slot -> (value, expires_at)
        self._expiry: list[tuple[float, str]] = []  # heap, one (expires_at, slot) per slot

    def __len__(self) -> int:
        """Slots held, expired or not (for tests and `gateway limits`)."""
        return len(self._slots)

    async def reserve(self, counters: Sequence[Counter], now: float) -> Granted | Refused:
        outcome.check_amounts(counters)
        if not counters:
            return Granted((), ())
        return self.reserve_now(counters, outcome.slots(counters, now), now)

    def reserve_now(self, counters: Sequence[Counter], where: Sequence[tuple[str, float]],
                    now: float) -> Granted | Refused:
        """`reserve` without a coroutine, for the request path: at `where`, the counters'
        (slot, window end) at `now` as `outcome.slots` gives them (the request path keeps
        them per window: slots.py), of counters whose amounts and limits the caller has
        checked are finite (`outcome.check_amounts`), and at least one counter."""
        heap = self._expiry
        if heap and heap[0][0] <= now:
            self._sweep(now)
        slots = self._slots
        # Indexed loops rather than zips (each zip is a call, an object and its freeing), and
        # a Counter's fields by place (limit: 1, amount: 2), as the request path's hot loop.
        values: list[float] = []
        i = 0
        for c in counters:
            s, end = where[i]
            entry = slots.get(s)
            value = entry[0] if entry is not None and entry[1] > now else 0.0
            if not value + c[2] <= c[1] + SLACK:  # outcome.fits, inline
                return outcome.refused(c, value, end, now)
            values.append(value)
            i += 1  # noqa: SIM113 (enumerate: a call, as dear as a zip)
        held = []
        i = 0
        for c in counters:
            s, end = where[i]
            value = values[i] + c[2]
            if s not in slots:
                heapq.heappush(heap, (end, s))
            slots[s] = (value, end)
            values[i] = value
            held.append(_new(Held, (s, c[2], end)))
            i += 1  # noqa: SIM113
        return _new(Granted, (tuple(held), counters, values, now))  # outcome.granted, inline

    async def adjust(self, changes: Sequence[tuple[Held, float]]) -> None:
        self.adjust_now(changes)

    def adjust_now(self, changes: Sequence[tuple[Held, float]]) -> None:
        """`adjust` without a coroutine, for the request path's settlement."""
        for _, delta in changes:  # outcome.check_deltas, inline; it says what is wrong
            if not -_INF < delta < _INF:  # False for NaN and the infinities
                outcome.check_deltas(changes)
        slots = self._slots
        for held, delta in changes:
            entry = slots.get(held.slot)
            if entry is not None:
                value = entry[0] + delta
                slots[held.slot] = (value if value > 0.0 else 0.0, entry[1])  # never below 0
            elif delta > 0:  # forgotten already: count what was used, until the window ends
                self._slots[held.slot] = (delta, held.expires_at)
                heapq.heappush(self._expiry, (held.expires_at, held.slot))

    async def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        values = []
        for s, _ in outcome.slots(counters, now):
            entry = self._slots.get(s)
            values.append(entry[0] if entry is not None and entry[1] > now else 0.0)
        return values

    async def close(self) -> None:
        self._slots.clear()
        self._expiry.clear()

    def _sweep(self, now: float) -> None:
        heap = self._expiry
        for _ in range(SWEEP):
            if not heap or heap[0][0] > now:
                return
            _, s = heapq.heappop(heap)
            entry = self._slots.get(s)
            if entry is None:
                continue
            if entry[1] <= now:
                del self._slots[s]
            else:  # a gauge used again since: its entry moves to its new expiry
                heapq.heappush(heap, (entry[1], s))
