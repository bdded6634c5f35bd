"""What a running gateway knows: providers, their secrets, and the model routes.

Built once at start-up from the validated config (resolving every secret
reference, so a missing key stops start-up instead of failing a request) and
shared by every request handler in this process.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_cli.config import Config, ProviderConfig, default_base_url, secret_references
from gateway_cli.keys.clients import ClientTable
from gateway_cli.keys.refs import Secret, resolve, scrub_environment
from gateway_cli.keys.store import SecretStore
from gateway_cli.providers import mock
from gateway_cli.providers.operations import PROVIDER_FAMILY
from gateway_cli.providers.wire import ProviderWire
from gateway_cli.request.limits import Limiter
from gateway_cli.routing.health import DeploymentHealth
from gateway_cli.routing.hooks import RouteHook
from gateway_cli.routing.table import Deployment, ModelRoute, Provider
from gateway_cli.server.auth import Authenticator

if TYPE_CHECKING:
    from gateway_cli.auditlog.writer import AuditWriter


@dataclass
class Runtime:
    config: Config
    models: dict[str, ModelRoute] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    health: dict[str, DeploymentHealth] = field(default_factory=dict)
    hooks: list[RouteHook] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    home: Path | None = None
    store: SecretStore | None = None
    auth: Authenticator = field(default_factory=lambda: Authenticator(ClientTable({})))
    limits_password: Secret | None = None  # the shared limits store's (Redis AUTH)
    limiter: Limiter | None = None  # made when serving starts (the store opens in its loop)
    # With a client-key table shared through Redis: swaps in the shared table (the control
    # socket's "clients" reloads use it instead of clients.json; see shared_keys.py).
    shared_reload: Callable[[], Awaitable[None]] | None = None
    audit: AuditWriter | None = None  # the request log's writer, started by launch.run


def _provider(config: ProviderConfig, store: SecretStore | None) -> Provider:
    owner = f"provider {config.name!r}"
    secret = resolve(config.secret, owner, store) if config.secret else None
    wire = ProviderWire(
        name=config.name,
        kind=config.kind,
        base_url=default_base_url(config),
        api_version=config.api_version,
        anthropic_version=config.anthropic_version,
        extra_headers=tuple((k.lower().encode(), v.encode()) for k, v in config.headers.items()),
    )
    return Provider(name=config.name, kind=config.kind, family=PROVIDER_FAMILY[config.kind],
                    wire=wire, secret=secret, connect_timeout=config.connect_timeout,
                    timeout=config.timeout, max_connections=config.max_connections,
                    reference=config.secret)


def build_runtime(config: Config, *, scrub_env: bool = False, home: Path | None = None,
                  store: SecretStore | None = None) -> Runtime:
    runtime = Runtime(config=config, home=home, store=store)
    runtime.providers = {p.name: _provider(p, store) for p in config.providers}
    if config.limits.redis_password and config.limits.store == "redis":
        runtime.limits_password = resolve(config.limits.redis_password, "the limits store",
                                          store)
    if scrub_env:
        scrub_environment(secret_references(config))
    if config.mock.enabled:
        dep = Deployment(id="mock/echo", provider=None, model=mock.MODEL, weight=1.0,
                         priority=0, timeout=60.0)
        runtime.models[mock.MODEL] = ModelRoute(mock.MODEL, "priority", (dep,), "gateway")
    for model in config.models:
        deployments = []
        for i, d in enumerate(model.deployments):
            provider = runtime.providers.get(d.provider)
            deployments.append(Deployment(
                id=f"{d.provider}/{d.model}" + (f"#{i}" if any(
                    o.provider == d.provider and o.model == d.model
                    for o in model.deployments[:i]) else ""),
                provider=provider,
                model=d.model,
                weight=d.weight,
                priority=d.priority,
                timeout=d.timeout or (provider.timeout if provider else 60.0),
                rpm=d.rpm,
                tpm=d.tpm,
                concurrent=d.concurrent,
            ))
        owner = model.deployments[0].provider
        runtime.models[model.name] = ModelRoute(model.name, model.strategy, tuple(deployments),
                                                owner)
    for route in runtime.models.values():
        for dep in route.deployments:
            runtime.health.setdefault(dep.id, DeploymentHealth())
    return runtime
