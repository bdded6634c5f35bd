"""The failover planner: after each attempt, which deployment next and when, or why to stop.

Pure: the relay tells it what happened (with the time) and does what it
says; it never sleeps, sends or reads a clock. The rules, in order:

- A deployment is tried only while its circuit breaker lets it (routing/health)
  and it has not been struck off for this request: a credential rejection
  (another try sends the same rejected key), a redirect (it would redirect
  again), an operation it cannot serve.
- An upstream error the client caused (a 4xx other than 408/409/429) is
  final: another deployment would refuse it identically.
- Deployments are taken round-robin in the strategy's order, so a failure
  moves on to the next one at once, and comes back to the same one only when
  it is the only one left, after a jittered backoff or the upstream's
  Retry-After if longer. A Retry-After beyond `max_retry_after` stops the
  retries so the client hears it now rather than after a long wait.
- At most `retries` attempts after the first.
- A deployment at its capacity (its rpm/tpm, counted by the limits stage)
  is passed over for this request without an attempt.
- When no deployment is left because every one not struck off is cooling
  down, the answer is 503 with the time the first reopens, not the last
  upstream error (a client should wait, not give up); when every one is at
  capacity, 429 with the time the first frees a slot.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from gateway_cli.routing import health as hp
from gateway_cli.routing import retry
from gateway_cli.routing.health import DeploymentHealth

FailureKind = Literal["timeout", "connect", "status", "credentials", "redirect"]


class _Candidate(Protocol):
    @property
    def id(self) -> str: ...


D = TypeVar("D", bound=_Candidate)


@dataclass(frozen=True)
class Failed:
    """What the planner needs to know of a failed attempt."""

    kind: FailureKind
    status: int | None = None
    retry_after: float | None = None  # seconds, from the upstream's Retry-After


@dataclass(frozen=True)
class GiveUp:
    """Stop: `final` / `exhausted` / `retry_after` answer with the last failure; `cooling`
    with 503 and `reopens_in`; `capacity` with 429 and `reopens_in`; `unsupported` with 400
    (no deployment serves the operation)."""

    reason: Literal["final", "exhausted", "retry_after", "cooling", "capacity", "unsupported"]
    reopens_in: float = 0.0


@dataclass(frozen=True)
class Settings:
    retries: int
    backoff_initial: float
    backoff_max: float
    max_retry_after: float


def counts_against_health(failure: Failed) -> bool:
    """Whether a failure says something about the deployment (and feeds its breaker)."""
    return failure.kind != "status" or failure.status is None \
        or retry.retryable_status(failure.status)


class Planner(Generic[D]):
    """The attempts of one request over `order` (the strategy's order, best first)."""

    def __init__(self, order: Sequence[D], health: Mapping[str, DeploymentHealth],
                 settings: Settings, rng: random.Random) -> None:
        self._order = order
        self._health = health
        self._settings = settings
        self._rng = rng
        self._struck: set[str] = set()
        self._busy: dict[str, float] = {}  # at capacity: seconds until it frees a slot
        self._index = 0
        self.failures = 0

    @property
    def attempt(self) -> int:
        """The number of the attempt being made (1 for the first)."""
        return self.failures + 1

    def _ready(self, now: float) -> list[D]:
        return [d for d in self._order
                if d.id not in self._struck and hp.available(self._health[d.id], now)]

    def pick(self, now: float) -> D | GiveUp:
        """The deployment to try now, or why nothing can be tried."""
        ready = self._ready(now)
        if not ready:
            return self._nothing_left(now)
        chosen = ready[self._index % len(ready)]
        self._index += 1
        return chosen

    def unsupported(self, dep: D) -> None:
        """`dep` cannot serve this request's operation: strike it off without an attempt."""
        self._struck.add(dep.id)

    def at_capacity(self, dep: D, frees_in: float) -> None:
        """`dep` is at its rate capacity: pass it over for this request without an attempt."""
        self._struck.add(dep.id)
        self._busy[dep.id] = frees_in

    def failed(self, dep: D, failure: Failed, now: float) -> float | GiveUp:
        """Seconds to wait before the next `pick`, or why to stop.

        Call after the failure is recorded on the deployment's health, so a
        breaker it opened is seen here.
        """
        if not counts_against_health(failure):
            return GiveUp("final")
        self.failures += 1
        if failure.kind in ("credentials", "redirect"):
            self._struck.add(dep.id)
        if self.failures > self._settings.retries:
            return GiveUp("exhausted")
        remaining = self._ready(now)
        if not remaining:
            return self._nothing_left(now)
        if remaining[self._index % len(remaining)].id != dep.id:
            return 0.0  # another deployment: no reason to wait
        s = self._settings
        delay = retry.backoff(self.failures, initial=s.backoff_initial, maximum=s.backoff_max,
                              rng=self._rng)
        if failure.retry_after is not None:
            if failure.retry_after > s.max_retry_after:
                return GiveUp("retry_after")
            delay = max(delay, failure.retry_after)
        return delay

    def _nothing_left(self, now: float) -> GiveUp:
        cooling = [self._health[d.id].open_until for d in self._order
                   if d.id not in self._struck]
        if cooling:
            return GiveUp("cooling", max(0.0, min(cooling) - now))
        if self._busy and not self.failures:
            return GiveUp("capacity", max(0.0, min(self._busy.values())))
        return GiveUp("exhausted" if self.failures else "unsupported")
