#!/usr/bin/env python3
"""What a limits store costs per request: `.venv/bin/python bench/limits/stores.py`.

For each store (memory, SQLite in a temp dir, Redis on a loopback
redis-server this script starts and kills), times N sequential reservations
of 4 counters (requests/minute, tokens/minute, spend/month, in flight: what a
typical request reserves) and N adjustments of the same 4 slots, repeated R
times; reports the median and the best run in µs per operation. For Redis it
also times 64 tasks reserving concurrently on one store (pipelined on its one
connection): µs per reservation in wall time, and reservations per second.

Options: --ops N (default 5000), --repeat R (default 5), --no-redis, --json.
See bench/limits/README.md for results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from gateway_cli.limits.memory_store import MemoryStore  # noqa: E402
from gateway_cli.limits.model import Counter, Granted, Store  # noqa: E402
from gateway_cli.limits.redis_store import RedisStore  # noqa: E402
from gateway_cli.limits.sqlite_store import SqliteStore  # noqa: E402

COUNTERS = [
    Counter("key:c_3f2a:requests:minute", 1e15, 1, "minute", "requests per minute"),
    Counter("key:c_3f2a:tokens:minute", 1e15, 1500, "minute", "tokens per minute"),
    Counter("team:t_91:spend:month", 1e15, 0.0123, "month", "spend this month"),
    Counter("key:c_3f2a:inflight", 1e15, 1, "none", "requests in flight"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server), "
                         "or pass --no-redis")
    port = free_port()
    process = subprocess.Popen(
        [exe, "--save", "", "--appendonly", "no", "--port", str(port), "--bind", "127.0.0.1",
         "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("redis-server did not start")


async def per_op(op: Callable[[], Awaitable[object]], n: int, repeat: int) -> list[float]:
    """µs per call of `op`, one figure per repeat, after a warm-up."""
    for _ in range(min(n, 500)):
        await op()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            await op()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return runs


async def measure(store: Store, n: int, repeat: int) -> dict[str, object]:
    now = time.time()
    reserve_runs = await per_op(lambda: store.reserve(COUNTERS, now), n, repeat)
    got = await store.reserve(COUNTERS, now)
    assert isinstance(got, Granted)
    changes = [(got.held[1], -300.0), (got.held[2], 0.001), (got.held[3], 0.0)]
    adjust_runs = await per_op(lambda: store.adjust(changes), n, repeat)
    return {"store": store.name, "ops": n, "repeat": repeat,
            "reserve_us_median": statistics.median(reserve_runs),
            "reserve_us_best": min(reserve_runs),
            "adjust_us_median": statistics.median(adjust_runs),
            "adjust_us_best": min(adjust_runs)}


async def concurrent(store: Store, n: int, tasks: int) -> dict[str, object]:
    now = time.time()
    per_task = max(1, n // tasks)

    async def worker() -> None:
        for _ in range(per_task):
            await store.reserve(COUNTERS, now)

    await asyncio.gather(*(worker() for _ in range(tasks)))  # warm-up
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - start
    total = per_task * tasks
    return {"store": f"{store.name} ({tasks} tasks)", "ops": total,
            "wall_us_per_reserve": elapsed / total * 1e6, "reserves_per_s": total / elapsed}


def machine() -> dict[str, object]:
    info: dict[str, object] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                               "platform": platform.platform(),
                               "loadavg_before": os.getloadavg()}
    redis = shutil.which("redis-server")
    if redis:
        info["redis"] = subprocess.run([redis, "--version"], capture_output=True, text=True,
                                       check=False).stdout.strip()
    return info


async def main(args: argparse.Namespace, workdir: Path,
               redis_port: int | None) -> list[dict[str, object]]:
    results = []
    memory = MemoryStore()
    results.append(await measure(memory, args.ops, args.repeat))
    sqlite = SqliteStore(workdir / "limits.db")
    results.append(await measure(sqlite, args.ops, args.repeat))
    await sqlite.close()
    if redis_port is not None:
        redis = RedisStore("127.0.0.1", redis_port)
        results.append(await measure(redis, args.ops, args.repeat))
        results.append(await concurrent(redis, args.ops * 2, 64))
        await redis.close()
    return results


def report(info: dict[str, object], results: list[dict[str, object]]) -> str:
    lines = [f"machine: {info}", "",
             "| store | reserve µs/op median | best | adjust µs/op median | best |",
             "|---|---:|---:|---:|---:|"]
    for r in results:
        if "reserve_us_median" in r:
            lines.append(f"| {r['store']} | {r['reserve_us_median']:.1f} | "
                         f"{r['reserve_us_best']:.1f} | {r['adjust_us_median']:.1f} | "
                         f"{r['adjust_us_best']:.1f} |")
    for r in results:
        if "wall_us_per_reserve" in r:
            lines.append(f"\n{r['store']}: {r['ops']} reservations, "
                         f"{r['wall_us_per_reserve']:.1f} µs each in wall time, "
                         f"{r['reserves_per_s']:,.0f} per second")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-limits-") as tmp:
        process, port = (None, None) if args.no_redis else start_redis(Path(tmp))
        try:
            results = asyncio.run(main(args, Path(tmp), port))
        finally:
            if process is not None:
                process.kill()
                process.wait()
    info["loadavg_after"] = os.getloadavg()
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=2))
    else:
        print(report(info, results))
