"""The client-key table shared through Redis, for gateways on several machines.

With `[limits] store = "redis"`, instances with separate state directories
must accept the same client keys and all refuse a revoked one at once, so the
authoritative table lives in Redis next to the shared counters. It is what
clients.json holds (hashes, never a token), in one hash:

    gw:clients  version  an integer, 1 for the first table, +1 for each change
                table    the clients.json document, as JSON

A change is a compare-and-set: a Lua script (Redis runs it without
interleaving any other command) writes the new table only if the version is
still the one the change started from, and in the same step PUBLISHes the new
version on `gw:keys`. Two commands racing cannot lose each other's change (the
loser retries on the new table), and no change is written without its message.
Subscribers reload the table on each message; the message only says "look".

Nothing here trusts the stored value: a table that is not JSON, not the
clients.json format, or holds a malformed record is SharedTableError, and the
callers keep what they had.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway_cli.errors import GatewayError
from gateway_cli.keys import clients
from gateway_cli.keys.jsonstate import StateError
from gateway_cli.limits.resp import RedisClient, RedisUnavailable, Script, parse_url

KEY = "gw:clients"
CHANNEL = "gw:keys"

# KEYS: the table's hash. ARGV: the version the change started from (0: none yet), the
# new table's JSON, the channel. Returns {1, new version} or {0, the version found}
# (-1 when the stored version is not a number).
COMPARE_AND_SET = Script("""
local raw = redis.call('HGET', KEYS[1], 'version')
local current = 0
if raw then
  current = tonumber(raw)
  if current == nil then return {0, -1} end
end
if current ~= tonumber(ARGV[1]) then return {0, current} end
local version = current + 1
redis.call('HSET', KEYS[1], 'version', version, 'table', ARGV[2])
redis.call('PUBLISH', ARGV[3], version)
return {1, version}
""")


class SharedTableError(GatewayError):
    """The table in Redis is unusable (not JSON, not the format, a malformed record)."""


@dataclass(frozen=True)
class Snapshot:
    """The table as read from Redis: its version and its JSON, not yet trusted."""

    version: int
    raw: bytes


def connect(url: str, password: str | None) -> RedisClient:
    """A client for the shared store; `password` (from a secret reference) wins over the
    URL's. Connects on first use."""
    return RedisClient.from_address(parse_url(url), password=password)


def parse(snapshot: Snapshot) -> dict[str, Any]:
    """The clients.json document a snapshot holds, checked record by record."""
    try:
        data = json.loads(snapshot.raw)
        clients.table_of(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise SharedTableError(f"the shared client-key table in Redis ({KEY}, version "
                               f"{snapshot.version}) is not valid JSON") from None
    except StateError:
        raise SharedTableError(f"the shared client-key table in Redis ({KEY}, version "
                               f"{snapshot.version}) is not a client-key table or has a "
                               "malformed record") from None
    assert isinstance(data, dict)
    return data


def table(snapshot: Snapshot) -> clients.ClientTable:
    return clients.table_of(parse(snapshot))


async def pull(client: RedisClient, key: str = KEY) -> Snapshot | None:
    """The stored table, or None when there is none yet. RedisUnavailable if unreachable."""
    reply = await client.execute("HMGET", key, "version", "table")
    if not isinstance(reply, list) or len(reply) != 2:
        raise RedisUnavailable(f"redis at {client.where}: unexpected reply to HMGET")
    version, raw = reply
    if version is None and raw is None:
        return None
    if not isinstance(version, bytes) or not isinstance(raw, bytes) \
            or not version.isdigit() or len(version) > 18:
        raise SharedTableError(f"the shared client-key table in Redis ({KEY}) has no "
                               "usable version or table field")
    return Snapshot(int(version), raw)


async def push(client: RedisClient, expected: int, data: dict[str, Any], *,
               key: str = KEY, channel: str = CHANNEL) -> int | None:
    """Store `data` as the next version if the stored one is still `expected` (0: none),
    and announce it; the new version, or None if another change came first."""
    clients.table_of(data)  # never store what no reader would accept
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"))
    reply = await client.evalsha(COMPARE_AND_SET, [key], [expected, payload, channel])
    if not (isinstance(reply, list) and len(reply) == 2
            and all(isinstance(x, int) for x in reply)):
        raise RedisUnavailable(f"redis at {client.where}: unexpected reply to the table "
                               "update")
    done, version = reply
    if done == 1:
        assert isinstance(version, int)
        return version
    if version == -1:
        raise SharedTableError(f"the shared client-key table in Redis ({KEY}) has a version "
                               "that is not a number")
    return None
