"""What is counted, and what a store answers.

A request is admitted by reserving, in one atomic step, an amount on every
counter that applies to it (its key's requests per minute, its team's tokens
per minute, its key's spend this month, ...): either every counter has room
and all are incremented, or none is and the first counter without room is
named. Afterwards the amounts are corrected to what the provider reported
(tokens, cost) and concurrency is given back, with `adjust`. Because the
check and the increment are one step in every store, concurrent requests
cannot overshoot a limit by more than the difference between one request's
estimate and its actual usage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

Period = Literal["minute", "day", "month", "none"]  # none: a gauge (requests in flight)


# Counter and Held are NamedTuples rather than frozen dataclasses: as immutable and as
# hashable, and built in half the time (a frozen dataclass sets each field through
# object.__setattr__); every request builds a few of them (bench/limits/README.md).
class Counter(NamedTuple):
    """One limit as it applies to one request.

    `key` names the counted thing in the store, without the window: e.g.
    `key:c_3f2a:tokens:minute`. `label` says it to a person, e.g. "tokens
    per minute of client key 'ci'"; it goes into the refusal and never holds
    request content.
    """

    key: str
    limit: float
    amount: float
    period: Period
    label: str


class Held(NamedTuple):
    """One amount a reservation added, where it was added (`slot`: key + window)."""

    slot: str
    amount: float
    expires_at: float  # epoch seconds after which the slot may be forgotten


@dataclass(frozen=True)
class Remaining:
    counter: Counter
    remaining: float
    resets_at: float  # epoch seconds; for a gauge, now


class Granted(NamedTuple):
    """A reservation made: where each amount went and what each counter stands at now.

    What remains of each limit is worked out only when asked for (`remaining`): the
    request path reads the few numbers it needs for its rate headers from `values`.
    """

    held: tuple[Held, ...]
    counters: Sequence[Counter] = ()
    values: Sequence[float] = ()  # each counter's value once this reservation was added
    now: float = 0.0

    @property
    def remaining(self) -> tuple[Remaining, ...]:
        """Room left under each limit, and when its window frees more (a gauge: now)."""
        return tuple(Remaining(c, c.limit - v, self.now if c.period == "none" else h.expires_at)
                     for c, h, v in zip(self.counters, self.held, self.values, strict=True))


@dataclass(frozen=True)
class Refused:
    counter: Counter
    used: float
    resets_at: float  # epoch seconds when the window frees room (a gauge: now + 1)


class StoreUnavailable(Exception):
    """The shared store cannot be reached; the caller applies `on_store_failure`."""


class Store(Protocol):
    name: str  # "memory" | "sqlite" | "redis"

    async def reserve(self, counters: Sequence[Counter], now: float) -> Granted | Refused:
        """Add every counter's amount if every one has room, atomically; else add nothing."""
        ...

    async def adjust(self, changes: Sequence[tuple[Held, float]]) -> None:
        """Add `delta` to each held slot (negative to give back), without any check."""
        ...

    async def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        """The current value of each counter in its current window (for `gateway limits`)."""
        ...

    async def close(self) -> None:
        ...
