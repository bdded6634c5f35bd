"""Per-deployment health: latency estimate, requests in flight, circuit breaker.

Pure state transitions with the current time passed in, so the breaker's
timing is tested without sleeping. The state object is mutated only by the
event loop thread that owns it (one per worker process), so no locks.

Breaker: after `threshold` consecutive failures the deployment is skipped
for `cooldown` seconds (open). When the cooldown has passed one request is
let through (half-open); success closes the breaker, failure reopens it for
another cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass

EWMA_ALPHA = 0.3


@dataclass
class DeploymentHealth:
    ewma_ttfb: float | None = None
    inflight: int = 0
    consecutive_failures: int = 0
    open_until: float = 0.0
    half_open_trial: bool = False


def available(state: DeploymentHealth, now: float) -> bool:
    """Whether a request may be sent to this deployment now."""
    if state.open_until == 0.0:
        return True
    if now < state.open_until:
        return False
    return not state.half_open_trial


def on_attempt(state: DeploymentHealth, now: float) -> None:
    state.inflight += 1
    if state.open_until and now >= state.open_until:
        state.half_open_trial = True


def on_done(state: DeploymentHealth) -> None:
    state.inflight = max(0, state.inflight - 1)


def on_success(state: DeploymentHealth, ttfb: float) -> None:
    state.ewma_ttfb = ttfb if state.ewma_ttfb is None else \
        EWMA_ALPHA * ttfb + (1 - EWMA_ALPHA) * state.ewma_ttfb
    state.consecutive_failures = 0
    state.open_until = 0.0
    state.half_open_trial = False


def on_failure(state: DeploymentHealth, now: float, *, threshold: int, cooldown: float) -> None:
    state.consecutive_failures += 1
    if state.half_open_trial or state.consecutive_failures >= threshold:
        state.open_until = now + cooldown
    state.half_open_trial = False


def is_open(state: DeploymentHealth, now: float) -> bool:
    return state.open_until != 0.0 and now < state.open_until
