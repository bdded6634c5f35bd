"""Whether the gateway can serve: every model has a deployment its breaker lets through.

`/health` only says the process answers; a load balancer deciding where to
send traffic needs `/health/ready`, which is false while every deployment of
some model is cooling down after failures (the gateway would answer that
model's requests with 503 until one reopens). Pure: state and time passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from gateway_cli.routing.health import DeploymentHealth
from gateway_cli.routing.table import ModelRoute

BreakerState = Literal["closed", "open", "half_open"]


def breaker_state(state: DeploymentHealth, now: float) -> BreakerState:
    if state.open_until == 0.0:
        return "closed"
    if now < state.open_until:
        return "open"
    return "half_open"


def readiness(models: Mapping[str, ModelRoute], health: Mapping[str, DeploymentHealth],
              now: float) -> dict[str, dict[str, BreakerState]]:
    """Each model's deployments and their breaker states."""
    return {name: {dep.id: breaker_state(health[dep.id], now) if dep.id in health else "closed"
                   for dep in route.deployments}
            for name, route in models.items()}


def is_ready(detail: Mapping[str, Mapping[str, BreakerState]]) -> bool:
    """Ready when each model has a deployment not open (half-open takes a trial request)."""
    return all(any(s != "open" for s in deps.values()) for deps in detail.values())
