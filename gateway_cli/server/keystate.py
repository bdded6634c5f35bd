"""The keys a running gateway holds, loaded at start and reloaded on rotation.

Reloading reads files and the secret store (D-Bus or scrypt: slow, blocking)
in a worker thread, then swaps the results in on the event loop in single
assignments, so requests never wait on the store and never see half a
rotation. With a client-key table shared through Redis, "clients" reloads
that table from Redis (server/shared_keys.py) rather than clients.json.

The worker threads are the reloads' own (a few, each wait bounded): a secret
source that hangs makes its reload fail with a message, and never takes the
threads that the event loop's default executor lends to everything else
(aiohttp's DNS resolution among them).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway_cli.errors import GatewayError
from gateway_cli.keys import clients, index, leases, revoked, signing
from gateway_cli.keys.events import audit_key
from gateway_cli.keys.notify import SHARED_CLIENTS
from gateway_cli.keys.refs import Secret, resolve
from gateway_cli.keys.store import SecretStore
from gateway_cli.routing.table import Provider
from gateway_cli.server.auth import Authenticator
from gateway_cli.server.runtime import Runtime

log = logging.getLogger("gateway.keys")
T = TypeVar("T")

RELOAD_TIMEOUT = 30.0
_workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-reload")


async def _off_loop(work: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.run_in_executor(_workers, work, *args),
                                      RELOAD_TIMEOUT)
    except TimeoutError:
        raise GatewayError(f"reading keys took over {RELOAD_TIMEOUT:g} s (a secret source "
                           "that does not answer?); the previous keys stay in force") from None


def jwt_keys(store: SecretStore | None) -> dict[str, tuple[bytes, float | None]]:
    if store is None:
        return {}
    keyset = signing.load(store)
    return {e.kid: (e.key, e.retire_at) for e in keyset.keys.get("tokens", ())}


def load_auth(home: Path, store: SecretStore | None,
              table: clients.ClientTable | None = None) -> Authenticator:
    return Authenticator(table=table if table is not None else clients.load_table(home),
                         jwt_keys=jwt_keys(store),
                         revoked_jtis=revoked.load(home), leases=leases.load(home))


def provider_secrets(provider: Provider, home: Path | None,
                     store: SecretStore | None) -> tuple[Secret | None, Secret | None, float]:
    """(current, previous, previous_until) for a provider, from its reference."""
    reference = provider.reference
    if reference is None:
        return None, None, 0.0
    if reference.startswith("env:"):
        # Read once at start and removed from the environment: nothing to re-read.
        return provider.secret, None, 0.0
    current = resolve(reference, f"provider {provider.name!r}", store)
    previous, until = None, 0.0
    if reference.startswith("store:") and home is not None and store is not None:
        name = reference.partition(":")[2]
        record = index.get_key(home, name)
        if record is not None and record.previous_until and record.previous_until > time.time():
            previous = store.get(name + index.PREVIOUS_SUFFIX)
            until = record.previous_until
    return current, previous, until


async def reload(runtime: Runtime, what: tuple[str, ...]) -> list[str]:
    home = runtime.home
    if home is None:
        raise GatewayError("this gateway has no state directory")
    done: list[str] = []
    if "clients" in what or "signing" in what:
        table = None
        if runtime.shared_reload is None:
            table = await _off_loop(clients.load_table, home)
        elif "clients" in what:  # the shared table, never a local file that may be stale
            await runtime.shared_reload()
        jtis = await _off_loop(revoked.load, home) | runtime.shared_jtis
        keys = (await _off_loop(jwt_keys, runtime.store) if "signing" in what
                else None)
        if "signing" in what and runtime.audit is not None:
            # Request records from now on are signed with the new audit key.
            runtime.audit.set_key(await _off_loop(audit_key, runtime.store))
        runtime.auth = runtime.auth.replaced(table=table, revoked_jtis=jtis, jwt_keys=keys)
        done += [(SHARED_CLIENTS if w == "clients" and table is None else w)
                 for w in ("clients", "signing") if w in what]
    if "runs" in what or "clients" in what:
        live = await _off_loop(leases.load, home)
        runtime.auth = runtime.auth.replaced(leases=live)
        if "runs" in what:
            done.append("runs")
    if "secrets" in what:
        for provider in runtime.providers.values():
            current, previous, until = await _off_loop(
                provider_secrets, provider, home, runtime.store)
            provider.secret, provider.previous, provider.previous_until = \
                current, previous, until
        done.append("secrets")
    log.info("keys reloaded: %s", ", ".join(done))
    return done
