"""What a running gateway knows: providers, their secrets, and the model routes.

Built once at start-up from the validated config (resolving every secret
reference, so a missing key stops start-up instead of failing a request) and
shared by every request handler in this process.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_cli.config import (
    Config,
    ProviderConfig,
    default_base_url,
    mock_enabled,
    secret_references,
)
from gateway_cli.guards.pipeline import Inspector
from gateway_cli.keys.clients import ClientTable
from gateway_cli.keys.refs import Secret, resolve, scrub_environment
from gateway_cli.keys.store import SecretStore
from gateway_cli.providers import mock
from gateway_cli.providers.operations import PROVIDER_FAMILY
from gateway_cli.providers.wire import ProviderWire
from gateway_cli.request.limits import Limiter
from gateway_cli.routing.aliases import NO_ALIASES, Aliases
from gateway_cli.routing.health import DeploymentHealth
from gateway_cli.routing.hooks import RouteHook
from gateway_cli.routing.table import Deployment, ModelRoute, Provider
from gateway_cli.server.auth import Authenticator

if TYPE_CHECKING:
    from gateway_cli.auditlog.writer import AuditWriter


@dataclass
class Serving:
    """One generation of the configuration, as requests use it.

    A request takes `runtime.serving` once when it starts and uses only that
    object to the end, so `gateway reload` can put a new one in place while
    requests and streams in flight finish on the configuration they began with.
    """

    config: Config
    models: dict[str, ModelRoute] = field(default_factory=dict)
    providers: dict[str, Provider] = field(default_factory=dict)
    health: dict[str, DeploymentHealth] = field(default_factory=dict)
    hooks: list[RouteHook] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    limiter: Limiter | None = None  # made when serving starts (the store opens in its loop)
    inspector: Inspector | None = None  # None: inspection is off
    aliases: Aliases = NO_ALIASES


@dataclass
class Runtime:
    """What a running gateway holds for its whole life, and the current Serving."""

    serving: Serving
    home: Path | None = None
    store: SecretStore | None = None
    auth: Authenticator = field(default_factory=lambda: Authenticator(ClientTable({})))
    limits_password: Secret | None = None  # the shared limits store's (Redis AUTH)
    # With a client-key table shared through Redis: swaps in the shared table (the control
    # socket's "clients" reloads use it instead of clients.json; see shared_keys.py).
    shared_reload: Callable[[], Awaitable[None]] | None = None
    # Scoped tokens revoked on any instance (keys/shared_revoked.py), kept beside this
    # state directory's own list, which a control-socket reload reads again.
    shared_jtis: frozenset[str] = frozenset()
    audit: AuditWriter | None = None  # the request log's writer, started by launch.run
    config_path: Path | None = None  # what `gateway reload` reads again
    # `gateway serve --workers N`: this process is worker `worker` of `workers`, each a
    # process of its own (what must be shared goes through the stores; see workers.py).
    worker: int = 1
    workers: int = 1
    # Signs MCP session ids; made before the workers fork, so each worker can take up a
    # session another opened (mcp/sessions.py).
    mcp_session_key: bytes = field(default_factory=lambda: secrets.token_bytes(32),
                                   repr=False)

    # The current generation's parts, for code that runs outside a request.
    @property
    def config(self) -> Config:
        return self.serving.config

    @property
    def models(self) -> dict[str, ModelRoute]:
        return self.serving.models

    @property
    def providers(self) -> dict[str, Provider]:
        return self.serving.providers

    @property
    def health(self) -> dict[str, DeploymentHealth]:
        return self.serving.health

    @property
    def hooks(self) -> list[RouteHook]:
        return self.serving.hooks

    @property
    def rng(self) -> random.Random:
        return self.serving.rng

    @property
    def limiter(self) -> Limiter | None:
        return self.serving.limiter

    @limiter.setter
    def limiter(self, value: Limiter | None) -> None:
        self.serving.limiter = value


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


def provider_for(config: ProviderConfig, store: SecretStore | None) -> Provider:
    return _provider(config, store)


def build_models(config: Config, providers: dict[str, Provider]) -> dict[str, ModelRoute]:
    models: dict[str, ModelRoute] = {}
    if mock_enabled(config):
        # One deployment under two names: `mock-echo` (advertised) and `mock/echo` (the
        # first name, kept for existing keys, rules and scripts).
        dep = Deployment(id=mock.LEGACY_MODEL, provider=None, model=mock.LEGACY_MODEL,
                         weight=1.0, priority=0, timeout=60.0)
        for name in (mock.MODEL, mock.LEGACY_MODEL):
            models[name] = ModelRoute(name, "priority", (dep,), "gateway")
    for model in config.models:
        deployments = []
        for i, d in enumerate(model.deployments):
            provider = providers.get(d.provider)
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
        models[model.name] = ModelRoute(model.name, model.strategy, tuple(deployments), owner)
    return models


def build_serving(config: Config, providers: dict[str, Provider],
                  health: dict[str, DeploymentHealth] | None = None,
                  hooks: list[RouteHook] | None = None) -> Serving:
    """A generation from a validated config; `health` keeps the breaker state of
    deployments that carry over from the previous one."""
    models = build_models(config, providers)
    kept = health or {}
    states = {dep.id: kept.get(dep.id) or DeploymentHealth()
              for route in models.values() for dep in route.deployments}
    inspection = config.inspection
    return Serving(config=config, models=models, providers=providers, health=states,
                   hooks=hooks if hooks is not None else [],
                   inspector=Inspector(inspection) if inspection.enabled else None,
                   aliases=Aliases.of((m.name, m.aliases) for m in config.models))


def build_runtime(config: Config, *, scrub_env: bool = False, home: Path | None = None,
                  store: SecretStore | None = None) -> Runtime:
    providers = {p.name: _provider(p, store) for p in config.providers}
    runtime = Runtime(serving=build_serving(config, providers), home=home, store=store)
    if config.limits.redis_password and config.limits.store == "redis":
        runtime.limits_password = resolve(config.limits.redis_password, "the limits store",
                                          store)
    if scrub_env:
        scrub_environment(secret_references(config))
    return runtime
