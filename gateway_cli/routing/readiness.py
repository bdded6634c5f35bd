"""Whether the gateway can serve: every model has a deployment its breaker lets through.

`/health` only says the process answers; a load balancer deciding where to
send traffic needs `/health/ready`, which is false while every deployment of
some model is cooling down after failures (the gateway would answer that
model's requests with 503 until one reopens). Pure: state and time passed in.
"""

from __future__ import annotations

import time
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


def warnings(models: Mapping[str, ModelRoute], health: Mapping[str, DeploymentHealth],
             now: float, wall: float) -> list[str]:
    """What an operator should know before it becomes an outage (for /health detail)."""
    out: list[str] = []
    seen: set[str] = set()
    for route in models.values():
        for dep in route.deployments:
            provider = dep.provider
            if provider is not None and provider.name not in seen:
                seen.add(provider.name)
                if provider.previous_used and wall < provider.previous_until:
                    ends = time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                         time.gmtime(provider.previous_until))
                    out.append(f"provider {provider.name!r} refuses its current key; the "
                               f"previous one serves until {ends}")
            state = health.get(dep.id)
            if state is not None and breaker_state(state, now) == "open":
                out.append(f"deployment {dep.id}: circuit breaker open")
    return out


def is_ready(detail: Mapping[str, Mapping[str, BreakerState]]) -> bool:
    """Ready when each model has a deployment not open (half-open takes a trial request)."""
    return all(any(s != "open" for s in deps.values()) for deps in detail.values())
