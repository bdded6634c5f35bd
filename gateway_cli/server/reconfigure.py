"""`gateway reload` and SIGHUP: read gateway.toml again and serve the new configuration.

The file is read and validated completely, and every new provider secret is
resolved, before anything changes; any problem refuses the reload with one
line and the running configuration keeps serving. Then one assignment on the
event loop puts the new generation in place (runtime.Serving): requests and
streams in flight finish on the one they started with.

What carries over: a provider whose settings are unchanged keeps its object
(its resolved secret, a rotation's grace key) and its connection pool; a
deployment that still exists keeps its circuit-breaker state; the limits keep
their store and counts. What a running process cannot change (the listening
socket, Granian's limits, the request log, the secret store, the limits store)
is left as it is, and the reload says which of those settings changed.

A served TLS certificate is read again at each reload (tls_reload.py): a renewed
or newly configured pair is checked before anything changes (a bad one refuses
the reload), then served from a new Granian worker on the same socket.
"""

from __future__ import annotations

import asyncio
import logging

from gateway_cli.config import Config, load_config
from gateway_cli.errors import GatewayError
from gateway_cli.routing.table import Provider
from gateway_cli.server import served_config
from gateway_cli.server.runtime import Runtime, Serving, build_serving, provider_for
from gateway_cli.server.tls_reload import ServedCertificate, Snapshot, source_of
from gateway_cli.upstream.pool import UpstreamPool

log = logging.getLogger("gateway")

# [server] settings fixed for the life of the process: the socket and Granian read them
# at start, and the logging and observer are set up once.
_SERVER_AT_START = ("host", "port", "max_connections", "backlog", "header_timeout",
                    "max_header_bytes", "http2", "log_level", "log_format", "access_log",
                    "metrics")
_LIMITS_STORE = ("store", "redis_url", "redis_password", "on_store_failure")


def needs_restart(old: Config, new: Config, tls: ServedCertificate | None = None) -> list[str]:
    """The settings that changed but apply only when the gateway starts again."""
    changed = [f"server.{name}" for name in _SERVER_AT_START
               if getattr(old.server, name) != getattr(new.server, name)]
    # New files are served at once; switching between HTTP and HTTPS changes the URL.
    if (tls is not None) != (source_of(new, tls.fixed if tls else None) is not None):
        changed.append("server.tls_cert and server.tls_key (between HTTP and HTTPS)")
    changed += [f"limits.{name}" for name in _LIMITS_STORE
                if getattr(old.limits, name) != getattr(new.limits, name)]
    changed += [section for section in ("audit", "secrets")
                if getattr(old, section) != getattr(new, section)]
    # The MCP servers, their paths, sessions and pins are set up once (server/mcp_setup.py).
    changed += [f"mcp.{name}" for name in ("servers", "open_scopes", "max_sessions",
                                           "session_idle")
                if getattr(old.mcp, name) != getattr(new.mcp, name)]
    return changed


def _providers(new: Config, old: Serving, runtime: Runtime) -> dict[str, Provider]:
    """The new config's providers: unchanged ones carried over, the others built (their
    secrets resolved now, so a missing one refuses the reload)."""
    before = {p.name: p for p in old.config.providers}
    out: dict[str, Provider] = {}
    for config in new.providers:
        same = before.get(config.name) == config and config.name in old.providers
        out[config.name] = old.providers[config.name] if same \
            else provider_for(config, runtime.store)
    return out


def next_serving(runtime: Runtime, new: Config) -> Serving:
    """The generation `new` describes, built beside the current one (which is untouched)."""
    old = runtime.serving
    serving = build_serving(new, _providers(new, old, runtime), old.health, old.hooks)
    limiter = old.limiter
    serving.limiter = limiter if limiter is None or old.config.limits == new.limits \
        else limiter.reconfigured(new.limits)
    serving.rng = old.rng
    return serving


def _open_pools(pool: UpstreamPool, old: Serving, new: Serving) -> None:
    for name, provider in new.providers.items():
        if old.providers.get(name) is not provider:
            pool.open(name, max_connections=provider.max_connections,
                      connect_timeout=provider.connect_timeout)


def _prepare(runtime: Runtime, config: Config,
             tls: ServedCertificate | None) -> tuple[Serving, Snapshot | None]:
    """Everything the new configuration needs, built and checked beside the running one."""
    serving = next_serving(runtime, config)
    return serving, tls.prepare(config) if tls is not None else None


async def reload_config(runtime: Runtime, pool: UpstreamPool,
                        tls: ServedCertificate | None = None,
                        config: Config | None = None) -> list[str]:
    """Swap in the configuration file (and the TLS files) as they are now, or `config`
    read from it already; GatewayError (nothing changed) if not."""
    path = runtime.config_path
    if path is None:
        raise GatewayError("this gateway was started without --config: there is no "
                           "configuration file to read again")
    loop = asyncio.get_running_loop()
    if config is None:
        config = await loop.run_in_executor(None, load_config, path)
    old = runtime.serving
    serving, snapshot = await loop.run_in_executor(None, _prepare, runtime, config, tls)
    _open_pools(pool, old, serving)
    runtime.serving = serving
    if runtime.workers > 1 and runtime.home is not None:
        # A worker restarted later serves this one too (served_config.py).
        try:
            served_config.record(runtime.home, config)
        except OSError as err:
            log.warning("cannot record the configuration served (%s): a worker restarted "
                        "later serves the one read at start", err.strerror)
    if tls is not None and snapshot is not None:
        await tls.replace(snapshot)
    later = needs_restart(old.config, config, tls)
    log.info("configuration reloaded from %s: %d model(s), %d provider(s)", path,
             len(serving.models), len(serving.providers))
    if later:
        log.warning("changed in %s but applied only at the next start: %s", path,
                    ", ".join(later))
    return ["config"] + (["tls certificate"] if snapshot is not None else []) \
        + ([f"restart needed for {', '.join(later)}"] if later else [])


async def reload_logged(runtime: Runtime, pool: UpstreamPool,
                        tls: ServedCertificate | None = None) -> None:
    """SIGHUP: reload, or say in one line why not (the old configuration keeps serving)."""
    try:
        await reload_config(runtime, pool, tls)
    except GatewayError as err:
        log.error("reload refused, the running configuration keeps serving: %s", err)
    except Exception:
        log.exception("reload failed, the running configuration keeps serving")


async def catch_up(runtime: Runtime, pool: UpstreamPool, tls: ServedCertificate | None,
                   worker: int) -> None:
    """A restarted worker: serve the configuration the other workers reloaded since the
    start, if gateway.toml still holds it (served_config.py); else say what it serves."""
    home, path = runtime.home, runtime.config_path
    wanted = served_config.recorded(home) if home is not None else None
    if path is None or wanted is None or wanted == served_config.digest(runtime.serving.config):
        return
    loop = asyncio.get_running_loop()
    try:
        config = await loop.run_in_executor(None, load_config, path)
        if served_config.digest(config) != wanted:
            raise GatewayError(f"{path} changed since the other workers reloaded it")
        await reload_config(runtime, pool, tls, config)
    except GatewayError as err:
        log.warning("worker %d serves the configuration read at start, not the one the other "
                    "workers reloaded: %s; run `gateway reload`", worker, err)
        return
    log.info("worker %d serves the configuration the other workers reloaded", worker)
