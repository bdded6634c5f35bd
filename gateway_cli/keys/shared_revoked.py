"""Revoked scoped tokens shared through Redis, like the client-key table (shared_table.py).

A scoped token (`gateway tokens issue`) is checked without a lookup, so a
revocation is a list of token ids each gateway holds. With `[limits] store =
"redis"` a revocation made on one state directory must reach gateways on
others, so the ids also live in Redis:

    gw:revoked-tokens   a hash: token id (jti) -> when that token expires (epoch s)

`gateway tokens revoke` adds its ids with a Lua script that, in one step,
forgets ids whose token has expired anyway and PUBLISHes on `gw:keys`, the
channel every gateway already follows for client keys; so a revoked token is
refused everywhere within the same bound as a revoked client key (one message
and one round trip). Nothing read is trusted: an id that is not printable
ASCII of a sane length, or an expiry that is not a number, is skipped (it can
only fail to revoke something, never un-revoke another id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gateway_cli.keys.shared_table import CHANNEL
from gateway_cli.limits.resp import RedisClient, RedisUnavailable, Script

KEY = "gw:revoked-tokens"
_JTI = re.compile(r"[!-~]{1,200}")

# KEYS: the hash. ARGV: now, the channel, then id, expiry pairs. Returns the hash's size.
ADD = Script("""
local now = tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local expires = tonumber(all[i + 1])
  if expires == nil or expires <= now then redis.call('HDEL', KEYS[1], all[i]) end
end
redis.call('PUBLISH', ARGV[2], 'revoked')
return redis.call('HLEN', KEYS[1])
""")


async def add(client: RedisClient, revoked: Mapping[str, float], now: float) -> None:
    """Put `revoked` (id -> the token's expiry) on the shared list and announce it."""
    args: list[str | float] = [now, CHANNEL]
    for jti, expires in revoked.items():
        if not _JTI.fullmatch(jti):
            raise ValueError("a token id is printable ASCII")
        args += [jti, repr(float(expires))]
    reply = await client.evalsha(ADD, [KEY], args)
    if not isinstance(reply, int):
        raise RedisUnavailable(f"redis at {client.where}: unexpected reply to the "
                               "revocation update")


async def pull(client: RedisClient, now: float) -> frozenset[str]:
    """The ids of revoked tokens that have not expired yet."""
    reply = await client.execute("HGETALL", KEY)
    if not isinstance(reply, list) or len(reply) % 2:
        raise RedisUnavailable(f"redis at {client.where}: unexpected reply to HGETALL")
    out = set()
    for raw_id, raw_expires in zip(reply[::2], reply[1::2], strict=True):
        if not isinstance(raw_id, bytes) or not isinstance(raw_expires, bytes):
            continue
        try:
            jti, expires = raw_id.decode("ascii"), float(raw_expires)
        except (UnicodeDecodeError, ValueError):
            continue
        if _JTI.fullmatch(jti) and expires > now:
            out.add(jti)
    return frozenset(out)
