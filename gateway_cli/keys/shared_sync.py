"""A client-key command's change, applied to the table shared through Redis.

The commands keep their one way of changing keys (the functions of
clients.py, which edit clients.json under its lock); with a shared table each
change is wrapped in pull, apply, push:

1. pull the table from Redis into clients.json (Redis wins: a stale local
   file never overwrites what another instance's command created);
2. apply the change to clients.json with the usual function;
3. push the result back with the compare-and-set of shared_table.py, which
   also announces it to every gateway; if another change came first, start
   again from 1 on the newer table (a few times, then give up).

A lock on a sidecar file keeps two commands on one state directory from
interleaving these steps. If Redis cannot be reached, the command fails and
changes nothing shared: a change made only here would be undone by the next
pull, and reporting a revocation done that other instances never saw would
be worse than an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from gateway_cli.errors import GatewayError
from gateway_cli.keys import clients, shared_table
from gateway_cli.limits.model import StoreUnavailable
from gateway_cli.limits.resp import RedisClient, ReplyError

T = TypeVar("T")
ATTEMPTS = 5


@dataclass(frozen=True)
class Shared:
    """Where the shared table is: the redis:// URL and the password (kept out of repr)."""

    url: str
    password: str | None = field(default=None, repr=False)


@contextlib.contextmanager
def _sync_lock(home: Path) -> Iterator[None]:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(home / "clients.json.shared.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _unreachable(err: Exception) -> GatewayError:
    return GatewayError(f"the shared client-key table cannot be updated ({err}); nothing "
                        "was changed on any instance")


async def _cycle(client: RedisClient, home: Path, apply: Callable[[], T],
                 attempts: int) -> T:
    for _ in range(attempts):
        snapshot = await shared_table.pull(client)
        if snapshot is not None:
            clients.replace_all(home, shared_table.parse(snapshot))
        result = apply()
        expected = snapshot.version if snapshot is not None else 0
        if await shared_table.push(client, expected, clients.load_document(home)) is not None:
            return result
    raise GatewayError(f"the shared client-key table kept changing under this command "
                       f"({attempts} attempts); nothing was changed, try again")


async def _run(shared: Shared, home: Path, apply: Callable[[], T], attempts: int) -> T:
    client = shared_table.connect(shared.url, shared.password)
    try:
        return await _cycle(client, home, apply, attempts)
    except (StoreUnavailable, ReplyError) as err:
        raise _unreachable(err) from None
    finally:
        await client.close()


def change(home: Path, shared: Shared | None, apply: Callable[[], T], *,
           attempts: int = ATTEMPTS) -> T:
    """Run `apply` (a change to clients.json) on the shared table when there is one."""
    if shared is None:
        return apply()
    with _sync_lock(home):
        try:
            return asyncio.run(_run(shared, home, apply, attempts))
        except GatewayError:
            # What was applied here and not stored there must not linger in clients.json.
            with contextlib.suppress(GatewayError, StoreUnavailable, ReplyError):
                asyncio.run(_restore(shared, home))
            raise


async def _restore(shared: Shared, home: Path) -> None:
    client = shared_table.connect(shared.url, shared.password)
    try:
        snapshot = await shared_table.pull(client)
        if snapshot is not None:
            clients.replace_all(home, shared_table.parse(snapshot))
    finally:
        await client.close()


def read(shared: Shared) -> list[clients.Client] | None:
    """The shared table's records, or None when Redis holds none yet."""

    async def pull() -> list[clients.Client] | None:
        client = shared_table.connect(shared.url, shared.password)
        try:
            snapshot = await shared_table.pull(client)
        except StoreUnavailable as err:
            raise GatewayError(f"the shared client-key table cannot be read ({err})") from None
        finally:
            await client.close()
        return None if snapshot is None else list(shared_table.table(snapshot).by_id.values())

    return asyncio.run(pull())
