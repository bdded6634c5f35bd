"""CPU of the limits stage alone, in process: `Limiter.admit` + `settle` with the memory
store, rpm + tpm + in-flight per key, for the proxy bench's request (1.7 KB).

    .venv/bin/python bench/limits/stage.py

Prints µs per admit+settle and, for comparison, µs per call of the token estimator on
the same body (which bodies over `QUICK_BOUND_BYTES` and input caps use).
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import OPEN
from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.tokens import Usage, estimate_input
from gateway_cli.providers.operations import Op
from gateway_cli.request.limits import Limiter
from gateway_cli.routing.table import Deployment, ModelRoute

TEXT = "Requests carry a long system prompt. " * 40
BODY = {"model": "bench-model",
        "messages": [{"role": "system", "content": TEXT},
                     {"role": "user", "content": "Explain connection pooling " * 5}]}
SIZE = len(msgspec.json.encode(BODY))
DEP = Deployment(id="nginx/bench-model", provider=None, model="bench-model", weight=1.0,
                 priority=0, timeout=10.0)
ROUTE = ModelRoute("bench-model", "priority", (DEP,), "nginx")
CONFIG = msgspec.convert({"per_key": {"rpm": 10**8, "tpm": 10**9, "concurrent": 10**5}},
                         LimitsConfig)


async def _run(limiter: Limiter, n: int) -> None:
    for _ in range(n):
        admission, _ = await limiter.admit(OPEN, Op.CHAT, BODY, SIZE, ROUTE)
        await limiter.settle(admission, Usage(100, 50), DEP)


def main() -> None:
    limiter = Limiter(CONFIG, MemoryStore())
    asyncio.run(_run(limiter, 2000))
    best = []
    for _ in range(5):
        start = time.perf_counter()
        asyncio.run(_run(limiter, 5000))
        best.append((time.perf_counter() - start) / 5000 * 1e6)
    print(f"admit + settle (memory): {min(best):.1f} µs (best of 5 x 5,000)")
    start = time.perf_counter()
    for _ in range(5000):
        estimate_input(Op.CHAT, BODY)
    print(f"estimate_input on {SIZE} B: {(time.perf_counter() - start) / 5000 * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
