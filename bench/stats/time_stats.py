"""Time `gateway stats` on a log written by make_log.py: cold (no cache) and warm.

    .venv/bin/python bench/stats/time_stats.py --home /tmp/stats-bench [--repeat 5]

Each case runs the real command in a fresh process (start-up and imports
included), output to /dev/null. Cold removes <home>/stats-cache first, so
every rotated file is read and summarised; warm runs after a run that left
the cache in place. Prints best and median wall seconds per case.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

GATEWAY = [sys.executable, "-m", "gateway_cli"]


def once(home: Path, *args: str) -> float:
    began = time.perf_counter()
    subprocess.run([*GATEWAY, "stats", "--home", str(home), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cold-repeat", type=int, default=2)
    args = parser.parse_args()
    cache = args.home / "stats-cache"
    results: list[tuple[str, list[float]]] = []
    cold = []
    for _ in range(args.cold_repeat):
        shutil.rmtree(cache, ignore_errors=True)
        cold.append(once(args.home))
    results.append(("cold: no cache, every file read (writes the cache)", cold))
    results.append(("--no-cache: every file read, no cache written",
                    [once(args.home, "--no-cache") for _ in range(args.cold_repeat)]))
    once(args.home)
    cases = [
        ("warm: caches + active file scanned", ()),
        ("warm --format json", ("--format", "json")),
        ("warm --by model", ("--by", "model")),
        ("warm --since 7d (a file cut: its hours read)", ("--since", "7d")),
        ("warm --since 36h --until 12h", ("--since", "36h", "--until", "12h")),
    ]
    for name, extra in cases:
        results.append((name, [once(args.home, *extra) for _ in range(args.repeat)]))
    results.append(("gateway --version (start-up alone)", [
        _version() for _ in range(args.repeat)]))
    size = sum(p.stat().st_size for p in args.home.glob("requests*.jsonl"))
    cached = sum(p.stat().st_size for p in cache.glob("*.json"))
    print(f"log {size / 1e6:,.0f} MB in {len(list(args.home.glob('requests*.jsonl')))} files, "
          f"cache {cached / 1e6:,.1f} MB")
    print(f"{'case':50} {'best s':>8} {'median s':>9}")
    for name, times in results:
        print(f"{name:50} {min(times):8.2f} {statistics.median(times):9.2f}")


def _version() -> float:
    began = time.perf_counter()
    subprocess.run([*GATEWAY, "--version"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
