#!/usr/bin/env python3
"""The limits calls of one proxied request, in process, per store: what the CPU targets are about.

    .venv/bin/python bench/limits/cpu.py count [--n 200]     # instructions, callgrind
    .venv/bin/python bench/limits/cpu.py time [--n 2000 --rounds 7]   # CPU µs, alternating

What a request pays for when limits are on, and not when they are off: the
`Limiter.admit` before the call (the plan of counters, the estimate, one
reservation, the rate headers) and the `Limiter.settle` after it (the
reported usage, its cost, one adjustment). The caller is a client key with
rpm, tpm, in-flight and a monthly budget set (4 counters), calling a priced
model with bench/chat.lua's 1,642 B chat request; the store answers grants
(the limits are high), as on the proxy bench; then the cost for the audit
record (`Limiter.cost_of`). `off` is the same loop with no `[limits]` set and
a key without limits: the gateway always has a limiter, which then plans
nothing and reserves nothing.

`count` runs `cpu.py loops off memory sqlite redis --n N` under callgrind
with a dump at every `os.getppid()` between the loops (as bench/speed/count.py
does): instructions per request of each store, minus the `off` loop's, over
N. Callgrind counts this process's user-space instructions only: Redis's own
work and the kernel's socket and file calls are not in it (`time` has them).

`time` runs the modes in turn, `--rounds` times, each N requests, in one
process, and reports the median of `time.process_time()` (this process's
CPU, user + system) per request over the rounds: alternating spreads the
machine's drift over every mode alike.

Redis is a `redis-server` on a free loopback port that this script starts
(no persistence, in a temp dir) and kills; SQLite a file in a temp dir.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent / "speed"))

import msgspec  # noqa: E402
from driver import chat_request  # noqa: E402

from gateway_cli.config import LimitsConfig  # noqa: E402
from gateway_cli.keys.principal import Principal  # noqa: E402
from gateway_cli.limits.model import Store  # noqa: E402
from gateway_cli.limits.stores import open_store  # noqa: E402
from gateway_cli.limits.tokens import Usage  # noqa: E402
from gateway_cli.providers.operations import Op  # noqa: E402
from gateway_cli.request.limits import Limiter  # noqa: E402
from gateway_cli.routing.table import Deployment, ModelRoute  # noqa: E402

MODES = ("off", "memory", "sqlite", "redis")
RAW = chat_request()
BODY = msgspec.json.decode(RAW)
# The limits stage reads only a deployment's id and model (and tpm etc., unset here); the
# proxy prices the audit record of a deployment with a provider, which `one` always does.
DEP = Deployment(id="openai/bench-model", provider=None, model="bench-model", weight=1.0,
                 priority=0, timeout=10.0)
ROUTE = ModelRoute("bench-model", "priority", (DEP,), "openai")
KEY = Principal(id="c_3f2a", name="ci", kind="client", rpm=10**8, budget=1e9)
CONFIG = msgspec.convert(
    {"per_key": {"tpm": 10**12, "concurrent": 10**6},
     "prices": [{"model": "bench-model", "input": 2.5, "output": 10.0}]}, LimitsConfig)
NO_LIMITS_KEY = Principal(id="c_3f2a", name="ci", kind="client")
OFF = msgspec.convert({"prices": [{"model": "bench-model", "input": 2.5, "output": 10.0}]},
                      LimitsConfig)
USAGE = Usage(380, 120)


def mark() -> None:
    """A callgrind dump point (--dump-before=getppid); free without callgrind."""
    os.getppid()


async def one(limiter: Limiter, key: Principal) -> int:
    """One request's limits calls, as gateway_cli/server/proxy.py makes them; what they
    produced, for the digest."""
    admission, _ = await limiter.admit(key, Op.CHAT, BODY, len(RAW), ROUTE)
    if admission is not None:
        await limiter.settle(admission, USAGE, DEP)
    cost = limiter.cost_of(USAGE, DEP)
    return (len(admission.headers) if admission is not None else -1) + int(cost or 0)


async def loop(limiter: Limiter, n: int) -> int:
    key = KEY if limiter.config is CONFIG else NO_LIMITS_KEY
    total = 0
    for _ in range(n):
        total += await one(limiter, key)
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                if s.recv(64):
                    return process, port
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("redis-server did not start")


def store_for(mode: str, tmp: Path, redis_port: int | None) -> Store:
    return open_store("memory" if mode == "off" else mode, path=tmp / "limits.sqlite",
                      url=f"redis://127.0.0.1:{redis_port}/0")


async def limiters(modes: list[str], tmp: Path,
                   redis_port: int | None) -> dict[str, Limiter]:
    out: dict[str, Limiter] = {}
    for mode in modes:
        out[mode] = Limiter(OFF if mode == "off" else CONFIG,
                            store_for(mode, tmp, redis_port))
        await loop(out[mode], 200)  # warm: connections, caches, statements
    return out


async def run_loops(n: int, modes: list[str], tmp: Path, redis_port: int | None) -> None:
    """Under callgrind: one dump per mode's N requests, `off` first."""
    by_mode = await limiters(modes, tmp, redis_port)
    digests = {}
    for mode in modes:
        mark()
        result = await loop(by_mode[mode], n)
        mark()
        digests[mode] = hashlib.sha256(str(result).encode()).hexdigest()[:12]
    for mode, digest in digests.items():
        print(mode, "=", digest)


async def run_timed(n: int, rounds: int, modes: list[str], tmp: Path,
                    redis_port: int | None) -> dict[str, list[float]]:
    by_mode = await limiters(modes, tmp, redis_port)
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode in modes:
            start = time.process_time()
            await loop(by_mode[mode], n)
            cpu[mode].append((time.process_time() - start) / n * 1e6)
    return cpu


def _total(path: Path) -> int:
    match = re.search(r"^totals: (\d+)", path.read_text(errors="replace"), re.M)
    if match is None:
        raise SystemExit(f"no totals line in {path}")
    return int(match.group(1))


def like_proxy() -> None:
    """The limits of bench/run's LIMITS= (bench/limits/proxy.sh): per key rpm, tpm and
    concurrent, no budget and no price (3 counters)."""
    global CONFIG, KEY, OFF
    CONFIG = msgspec.convert({"per_key": {"rpm": 10**8, "tpm": 10**9, "concurrent": 10**5}},
                             LimitsConfig)
    KEY = NO_LIMITS_KEY
    OFF = msgspec.convert({}, LimitsConfig)


def count(n: int, modes: list[str], proxy: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--dump-before=getppid",
             f"--callgrind-out-file={out}", sys.executable, __file__, "loops", *modes,
             *(["--like-proxy"] if proxy else []),
             "--n", str(n)], capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"driver failed:\n{done.stderr[-3000:]}")
        # cg.out.1: start-up to the first mark; then per mode a loop dump and a gap dump.
        loops = {m: _total(Path(f"{out}.{2 + 2 * i}")) for i, m in enumerate(modes)}
    base = loops[modes[0]]
    print(f"| store | instructions per request | added vs {modes[0]} |")
    print("|---|---:|---:|")
    for m in modes:
        print(f"| {m} | {loops[m] / n:,.0f} | {(loops[m] - base) / n:+,.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("count", "time", "loops"))
    parser.add_argument("modes", nargs="*", default=list(MODES))
    parser.add_argument("--n", type=int, default=0, help="requests per loop")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--like-proxy", action="store_true",
                        help="the proxy bench's limits (rpm, tpm, concurrent; no price)")
    args = parser.parse_intermixed_args()
    if args.like_proxy:
        like_proxy()
    modes = ["off", *[m for m in args.modes if m != "off"]]
    if args.what == "count":
        count(args.n or 200, modes, args.like_proxy)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        process, port = start_redis(Path(tmp)) if "redis" in modes else (None, None)
        try:
            if args.what == "loops":
                asyncio.run(run_loops(args.n or 200, modes, Path(tmp), port))
                return 0
            cpu = asyncio.run(run_timed(args.n or 2000, args.rounds, modes, Path(tmp), port))
        finally:
            if process is not None:
                process.kill()
                process.wait()
    base = statistics.median(cpu["off"])
    print(f"| store | CPU µs per request, median of {args.rounds} | added vs off | "
          "spread (min-max) |")
    print("|---|---:|---:|---|")
    for m in modes:
        med = statistics.median(cpu[m])
        print(f"| {m} | {med:.1f} | {med - base:+.1f} | {min(cpu[m]):.1f}-{max(cpu[m]):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
