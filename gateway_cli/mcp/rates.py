"""Per-tool call rates: which `[mcp.servers.NAME] rate` entry applies to a call, and the
counter it takes in the limits store.

A rate counts calls per minute per caller (principal id) per tool: `"write_*" = 10`
lets each caller make 10 calls a minute to each write tool. Counted in the
limits store (memory, SQLite or Redis), so the count is shared by every
worker and every gateway on the same store, in the same fixed minute windows
as the request limits (limits/windows.py).

Which entry applies is decided here, not by config order: an exact tool name,
else the most specific pattern (most literal characters; ties by the pattern
text), else `rate_default`. Pure.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from gateway_cli.config import McpServerConfig
from gateway_cli.limits.model import Counter, Refused
from gateway_cli.routing.aliases import compile_pattern, glob_match


@dataclass(frozen=True)
class Rate:
    pattern: str  # the config key that matched, or "default"
    per_minute: int


def rate_for(config: McpServerConfig, tool: str) -> Rate | None:
    if tool in config.rate:
        return Rate(tool, config.rate[tool])
    globs = sorted((p for p in config.rate if "*" in p),
                   key=lambda p: (-len(p.replace("*", "")), p))
    for pattern in globs:
        if glob_match(compile_pattern(pattern), tool):
            return Rate(pattern, config.rate[pattern])
    if config.rate_default is not None:
        return Rate("default", config.rate_default)
    return None


def counter(server: str, tool: str, principal_id: str, rate: Rate) -> Counter:
    """The store counter of this caller's calls to this tool; its key holds no content
    (server and tool names are checked names, the principal an id)."""
    return Counter(key=f"mcp:{server}:{tool}:{principal_id}:calls", limit=rate.per_minute,
                   amount=1, period="minute",
                   label=f"calls per minute to tool {tool!r} of MCP server {server!r} "
                         f"(rate {rate.pattern!r})")


def refusal(refused: Refused, now: float) -> tuple[str, dict[str, object]]:
    """The message and data of the JSON-RPC error: which limit, and when it resets."""
    wait = max(1, math.ceil(refused.resets_at - now))
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(refused.resets_at))
    counter = refused.counter
    message = (f"rate limit reached: {counter.label} is {counter.limit:g} for this caller; "
               f"it resets in {wait} s (at {reset})")
    return message, {"limit": counter.label, "perMinute": counter.limit,
                     "retryAfterSeconds": wait, "resetsAt": reset}
