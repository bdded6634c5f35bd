#!/usr/bin/env python3
"""What a metric update costs on the hot path, and what a scrape costs. See README.md.

    bench/metrics/registry.py            # about 20 s
    bench/metrics/registry.py --json

Each update is timed with timeit over N calls, best of R repeats (the least
disturbed run; the median is shown too). The loop's own cost is included, so
the numbers are an upper bound. Exit status: 0 targets met, 2 a target missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve() and VENV_PYTHON.exists():
    os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])
sys.path.insert(0, str(ROOT))

from gateway_cli.metrics import Registry, render  # noqa: E402

TARGETS_US = {"counter.inc": 0.5, "histogram.observe": 1.0}


def per_call_us(stmt: str, env: dict[str, Any], number: int, repeat: int) -> tuple[float, float]:
    runs = timeit.Timer(stmt, globals=env).repeat(repeat=repeat, number=number)
    per = [r / number * 1e6 for r in runs]
    return min(per), statistics.median(per)


def updates(number: int, repeat: int) -> dict[str, tuple[float, float]]:
    registry = Registry()
    requests = registry.counter("gateway_requests", "Requests.", ("route", "status", "who"))
    plain = registry.counter("gateway_plain", "Unlabelled.")
    inflight = registry.gauge("gateway_inflight", "In flight.", ("deployment",))
    latency = registry.histogram("gateway_latency_seconds", "Latency.", ("route", "status"))
    # Realistic occupancy: 500 label sets already there, so the dict is not tiny.
    for i in range(500):
        requests.inc((f"route-{i}", "200", "client"))
    labels = ("chat", "200", "client")
    requests.inc(labels)
    inflight.set(("openai/gpt",), 0)
    latency.observe(("chat", "200"), 0.1)
    env = {"inc": requests.inc, "labels": labels, "status": "200", "plain": plain.inc,
           "gset": inflight.set, "ginc": inflight.inc, "observe": latency.observe,
           "hl": ("chat", "200"), "v": 0.37}
    cases = {
        "counter.inc": "inc(labels)",
        "counter.inc, tuple built per call": 'inc(("chat", status, "client"))',
        "counter.inc, unlabelled": "plain()",
        "gauge.set": 'gset(("openai/gpt",), 3)',
        "gauge.inc": 'ginc(("openai/gpt",))',
        "histogram.observe": "observe(hl, v)",
        "(empty loop)": "pass",
    }
    return {name: per_call_us(stmt, env, number, repeat) for name, stmt in cases.items()}


def scrapes(repeat: int) -> dict[str, tuple[float, int]]:
    out = {}
    for label_sets in (100, 10_000):
        registry = Registry()
        counter = registry.counter("gateway_requests", "Requests.", ("route", "status", "who"))
        histogram = registry.histogram("gateway_latency_seconds", "Latency.", ("route",))
        for i in range(label_sets):
            counter.inc((f"route-{i}", "200", "client"))
            histogram.observe((f"route-{i}",), 0.2)
        seconds = min(timeit.Timer(lambda r=registry: render(r)).repeat(repeat=repeat, number=1))
        out[f"render: counter + histogram ({label_sets} label sets each)"] = (
            seconds * 1e3, len(render(registry)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    update = updates(args.number, args.repeat)
    scrape = scrapes(args.repeat)
    missed = [name for name, target in TARGETS_US.items() if update[name][0] > target]
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(),
               "machine": platform.machine(), "load": os.getloadavg()[0]}
    if args.json:
        print(json.dumps({"machine": machine, "updates_us": update, "scrapes_ms": scrape,
                          "targets_us": TARGETS_US, "missed": missed}, indent=2))
    else:
        print(f"Python {machine['python']}, {machine['cpus']} cpus, load {machine['load']:.2f}; "
              f"{args.number} calls x {args.repeat}")
        for name, (best, median) in update.items():
            target = TARGETS_US.get(name)
            goal = f"  (target <= {target} us)" if target else ""
            print(f"  {name:38} {best * 1000:6.0f} ns best, {median * 1000:6.0f} ns median{goal}")
        for name, (ms, size) in scrape.items():
            print(f"  {name:60} {ms:7.2f} ms, {size / 1024:.0f} KiB")
        print("targets: " + ("met" if not missed else "MISSED: " + ", ".join(missed)))
    return 2 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
