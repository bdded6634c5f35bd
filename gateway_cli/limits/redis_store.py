"""Counters in Redis: limits shared by every instance of the gateway.

Several gateways behind one load balancer must count against the same
limits, so the counters live in one Redis. A reservation is one round trip:
a Lua script (Redis runs a script without interleaving any other command)
reads every slot, checks each against its limit, and either adds every
amount and sets each slot's TTL, or adds nothing and names the first counter
without room. Corrections after the response are one round trip too.

Keys are `prefix + slot` (e.g. `gw:key:c_3f2a:tokens:minute@1764000000`) and
expire with their window (a gauge GAUGE_TTL after its last use), so Redis
holds only the windows in use. TTLs are relative, computed from the `now`
the caller passes, so the Redis server's clock does not matter.

Persistence is Redis's: a server restarted without it forgets the counters,
monthly spend included. The client is resp.py (no client library: see
there); every failure to reach Redis, or an error reply, is raised as
StoreUnavailable for the caller's `on_store_failure`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway_cli.limits import outcome
from gateway_cli.limits.model import Counter, Granted, Held, Refused, StoreUnavailable
from gateway_cli.limits.resp import (
    Arg,
    RedisClient,
    RedisUnavailable,
    Reply,
    ReplyError,
    Script,
    parse_url,
)

# KEYS: the slots. ARGV: limit, amount, TTL in seconds of each slot in turn, then the slack
# (outcome.SLACK). Returns {1, new value...} or {0, index of the refused slot, its value}.
RESERVE = Script("""
local n = #KEYS
local slack = tonumber(ARGV[3 * n + 1])
local values = redis.call('MGET', unpack(KEYS))
for i = 1, n do
  local used = values[i] or '0'
  if tonumber(used) + tonumber(ARGV[3 * i - 1]) > tonumber(ARGV[3 * i - 2]) + slack then
    return {0, i, used}
  end
end
local out = {1}
for i = 1, n do
  out[i + 1] = redis.call('INCRBYFLOAT', KEYS[i], ARGV[3 * i - 1])
  redis.call('EXPIRE', KEYS[i], ARGV[3 * i])
end
return out
""")

# KEYS: the slots. ARGV: delta, then milliseconds until the slot's expiry, of each in turn.
# A slot never goes below zero (a gauge given back after Redis lost it must not count
# negative); a slot that is gone is recreated, with its TTL, only to add to it.
ADJUST = Script("""
for i = 1, #KEYS do
  local delta = tonumber(ARGV[2 * i - 1])
  local current = redis.call('GET', KEYS[i])
  if current then
    if tonumber(current) + delta < 0 then
      local ttl = redis.call('PTTL', KEYS[i])
      redis.call('SET', KEYS[i], '0')
      if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
    else
      redis.call('INCRBYFLOAT', KEYS[i], ARGV[2 * i - 1])
    end
  elseif delta > 0 and tonumber(ARGV[2 * i]) > 0 then
    redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i])
  end
end
return #KEYS
""")


def _number(reply: Reply) -> float:
    if reply is None:
        return 0.0
    if isinstance(reply, bytes | int):
        try:
            return float(reply)
        except ValueError:
            pass
    raise RedisUnavailable("redis: a counter holds something that is not a number")


class RedisStore:
    name = "redis"

    def __init__(self, host: str, port: int = 6379, db: int = 0, *,
                 username: str | None = None, password: str | None = None,
                 prefix: str = "gw:", connect_timeout: float = 1.0,
                 command_timeout: float = 0.5, retry_after: float = 0.5) -> None:
        self.prefix = prefix
        self.client = RedisClient(host, port, db=db, username=username, password=password,
                                  connect_timeout=connect_timeout,
                                  command_timeout=command_timeout, retry_after=retry_after)

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, prefix: str = "gw:",
                 connect_timeout: float = 1.0, command_timeout: float = 0.5,
                 retry_after: float = 0.5) -> RedisStore:
        """A store at `url` (redis://[:password@]host[:port][/db]); `password` wins over
        the URL's."""
        address = parse_url(url)
        return cls(address.host, address.port, address.db, username=address.username,
                   password=password if password is not None else address.password,
                   prefix=prefix, connect_timeout=connect_timeout,
                   command_timeout=command_timeout, retry_after=retry_after)

    def __repr__(self) -> str:
        return f"RedisStore({self.client.where}, db={self.client.db}, prefix={self.prefix!r})"

    async def _run(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        try:
            return await self.client.evalsha(script, keys, args)
        except ReplyError as exc:
            raise StoreUnavailable(f"redis at {self.client.where}: {str(exc)[:200]}") from None

    async def reserve(self, counters: Sequence[Counter], now: float) -> Granted | Refused:
        outcome.check_amounts(counters)
        if not counters:
            return Granted((), ())
        return await self.reserve_at(counters, outcome.slots(counters, now), now)

    async def reserve_at(self, counters: Sequence[Counter], where: Sequence[tuple[str, float]],
                         now: float) -> Granted | Refused:
        """`reserve` for the request path: at `where`, the counters' (slot, window end) at
        `now` as `outcome.slots` gives them (kept per window: slots.py), of counters whose
        amounts and limits the caller has checked are finite, and at least one counter."""
        args: list[Arg] = []
        for c, (_, end) in zip(counters, where, strict=True):
            args += (c.limit, c.amount, outcome.ttl_seconds(end, now))
        args.append(outcome.SLACK)
        reply = await self._run(RESERVE, [self.prefix + s for s, _ in where], args)
        if isinstance(reply, list) and reply and reply[0] == 1 \
                and len(reply) == len(counters) + 1:
            values = [_number(v) for v in reply[1:]]
            return outcome.granted(counters, where, values, now)
        if isinstance(reply, list) and len(reply) == 3 and reply[0] == 0 \
                and isinstance(reply[1], int) and 1 <= reply[1] <= len(counters):
            i = reply[1] - 1
            return outcome.refused(counters[i], _number(reply[2]), where[i][1], now)
        raise RedisUnavailable(f"redis at {self.client.where}: unexpected reply to reserve")

    async def adjust(self, changes: Sequence[tuple[Held, float]]) -> None:
        outcome.check_deltas(changes)
        if not changes:
            return
        wall = time.time()
        args: list[Arg] = []
        for held, delta in changes:
            args += (delta, int((held.expires_at - wall) * 1000))
        await self._run(ADJUST, [self.prefix + h.slot for h, _ in changes], args)

    async def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        if not counters:
            return []
        keys = [self.prefix + s for s, _ in outcome.slots(counters, now)]
        try:
            reply = await self.client.execute("MGET", *keys)
        except ReplyError as exc:
            raise StoreUnavailable(f"redis at {self.client.where}: {str(exc)[:200]}") from None
        if not isinstance(reply, list) or len(reply) != len(keys):
            raise RedisUnavailable(f"redis at {self.client.where}: unexpected reply to MGET")
        return [_number(v) for v in reply]

    async def close(self) -> None:
        await self.client.close()
