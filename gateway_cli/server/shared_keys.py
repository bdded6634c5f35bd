"""A serving gateway's side of the client-key table shared through Redis.

At start the table is read from Redis (keys/shared_table.py); if Redis has
none yet, this gateway stores its local clients.json as the first version.
While serving, a subscription to `gw:keys` reloads the table on every
message, and on every (re)subscription too, since messages published while
it was down were missed. Each reload swaps `runtime.auth` whole, as a
rotation over the control socket does, so a revocation made on any instance
is refused here within one message and one round trip. The same reload reads
the scoped tokens revoked on any instance (keys/shared_revoked.py), announced
on the same channel.

Reloads run one at a time (a lock), so a slow one can never swap in an older
table after a newer one. A reload that fails keeps the table in force and
logs one line: Redis unreachable, a table that is not JSON or not the
format, or one that would turn an enforcing gateway open (no client key at
all: records are never deleted, so only damage or tampering empties a
table). JSON is parsed off the event loop.

Redis unreachable (or its table unusable) at start follows `[limits]
on_store_failure`: "closed" refuses to start, since serving the local table
could accept a key revoked elsewhere; "local" starts with the local table,
says so loudly, and loads the shared one as soon as the subscription is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from gateway_cli.errors import GatewayError, StartupError
from gateway_cli.keys import clients, revoked, shared_revoked, shared_table
from gateway_cli.limits.model import StoreUnavailable
from gateway_cli.limits.resp import RedisClient, ReplyError
from gateway_cli.server.runtime import Runtime

log = logging.getLogger("gateway.keys")


async def fetch(client: RedisClient, current: clients.ClientTable) -> clients.ClientTable:
    """The shared table (stored from `current` when Redis has none); GatewayError if it
    is unusable or would open an enforcing gateway, StoreUnavailable if unreachable."""
    for _ in range(3):
        snapshot = await shared_table.pull(client)
        if snapshot is None:
            if await shared_table.push(client, 0, clients.document_of(current)) is not None:
                log.info("the shared client-key table was empty: stored this gateway's "
                         "(%d records)", len(current.by_id))
                return current
            continue  # another instance stored one first: read it
        table = await asyncio.to_thread(shared_table.table, snapshot)
        if current.enforcing and not table.enforcing:
            raise GatewayError(f"the shared client-key table (version {snapshot.version}) "
                               "holds no client key, which would open this gateway to "
                               "everyone")
        return table
    raise GatewayError("the shared client-key table kept changing while being read")


def load_at_start(runtime: Runtime, local: clients.ClientTable) -> clients.ClientTable:
    """The table to serve with, before serving starts (no event loop is running yet)."""
    config = runtime.config.limits

    async def first() -> clients.ClientTable:
        client = _client(runtime)
        try:
            return await fetch(client, local)
        finally:
            await client.close()

    try:
        return asyncio.run(first())
    except (GatewayError, StoreUnavailable, ReplyError) as err:
        if config.on_store_failure == "closed":
            raise StartupError(f"cannot load the shared client-key table ({err}); not "
                               "starting, since a key revoked elsewhere could be accepted "
                               "([limits] on_store_failure = \"closed\")") from None
        log.error("cannot load the shared client-key table (%s); SERVING THE LOCAL "
                  "clients.json until Redis answers: keys revoked on other instances are "
                  "accepted meanwhile ([limits] on_store_failure = \"local\")", err)
        return local


def _client(runtime: Runtime) -> RedisClient:
    password = runtime.limits_password.reveal() if runtime.limits_password else None
    return shared_table.connect(runtime.config.limits.redis_url, password)


class SharedKeys:
    """Follows the shared table for one serving gateway; make it inside the serving loop."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.client = _client(runtime)
        self._lock = asyncio.Lock()

    async def reload(self) -> None:
        """Swap in the shared table now; GatewayError (the old table stays) if it cannot."""
        async with self._lock:
            try:
                table = await fetch(self.client, self.runtime.auth.table)
                shared = await shared_revoked.pull(self.client, time.time())
            except (StoreUnavailable, ReplyError) as err:
                raise GatewayError(f"the shared client-key table cannot be read ({err})") \
                    from None
            home = self.runtime.home
            local = await asyncio.to_thread(revoked.load, home) if home is not None \
                else frozenset()
            self.runtime.shared_jtis = shared
            self.runtime.auth = self.runtime.auth.replaced(table=table,
                                                           revoked_jtis=local | shared)

    async def follow(self) -> None:
        """Reload on every message and every (re)subscription, until cancelled."""
        async with self.client.subscribe(shared_table.CHANNEL) as subscription:
            async for _ in subscription:
                try:
                    await self.reload()
                except GatewayError as err:
                    log.warning("client keys not reloaded, the previous ones stay in force: "
                                "%s", err)

    async def close(self) -> None:
        await self.client.close()


def start(runtime: Runtime) -> tuple[SharedKeys, asyncio.Task[None]]:
    """Follow the shared table from now on; `runtime.shared_reload` serves the control
    socket's client-key reloads from it too."""
    keys = SharedKeys(runtime)
    runtime.shared_reload = keys.reload
    return keys, asyncio.create_task(keys.follow(), name="gateway-shared-keys")


async def stop(keys: SharedKeys, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await keys.close()
