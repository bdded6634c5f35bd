"""The routing table: public model names, the deployments that answer them, their providers.

Built from the config at start-up (server/runtime.py) and read by every
stage that routes: the route lookup, the failover planner and the attempt.
Kept apart from the server so those stages depend on data, not on the server.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway_cli.config import ProviderKind, Strategy
from gateway_cli.keys.refs import Secret
from gateway_cli.providers.operations import Family
from gateway_cli.providers.wire import ProviderWire


@dataclass
class Provider:
    """An upstream account. `secret` is replaced in place when keys are rotated."""

    name: str
    kind: ProviderKind
    family: Family
    wire: ProviderWire
    secret: Secret | None
    connect_timeout: float
    timeout: float
    max_connections: int
    reference: str | None = None
    # After `rotate-keys --provider --grace`, the old secret still answers until then.
    previous: Secret | None = None
    previous_until: float = 0.0
    previous_used: float = 0.0  # when the previous secret last served (the new one refused)

    def previous_secret(self) -> Secret | None:
        if self.previous is not None and time.time() < self.previous_until:
            return self.previous
        return None


@dataclass(frozen=True)
class Deployment:
    id: str
    provider: Provider | None  # None: the built-in mock
    model: str
    weight: float
    priority: int
    timeout: float
    rpm: int | None = None  # the provider account's capacity for this deployment
    tpm: int | None = None
    concurrent: int | None = None

    @property
    def limited(self) -> bool:
        """Whether the limits stage counts this deployment's capacity."""
        return bool(self.rpm or self.tpm or self.concurrent)

    @property
    def family(self) -> Family:
        return self.provider.family if self.provider else "openai"


@dataclass(frozen=True)
class ModelRoute:
    """One public model name and the deployments that can answer it."""

    name: str
    strategy: Strategy
    deployments: tuple[Deployment, ...]
    owned_by: str
