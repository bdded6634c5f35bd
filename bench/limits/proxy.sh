#!/usr/bin/env bash
# CPU per request that limits add on the proxy bench, per store, in one run.
#
#   ROUNDS=2 DURATION=4 bench/limits/proxy.sh
#
# Runs bench/run (see bench/README.md) with limits off, then with rate, token and
# in-flight limits counted in each store (memory, sqlite, redis on loopback),
# ROUNDS times in turn so that drift on the machine hits every mode alike, and
# prints the gateway's CPU µs per request (chat at 64 connections, streams at 64)
# for each mode: the median of its rounds, and the difference from "off".
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$(dirname "$HERE")")"
ROUNDS="${ROUNDS:-2}"
export DURATION="${DURATION:-4}"
OUT="$(mktemp -d /tmp/gateway-limits-bench.XXXXXX)"
for round in $(seq "$ROUNDS"); do
    for mode in off memory sqlite redis; do
        echo "[limits bench] round $round: $mode" >&2
        if [ "$mode" = off ]; then LIMITS="" "$ROOT/bench/run" >/dev/null
        else LIMITS="$mode" "$ROOT/bench/run" >/dev/null; fi
        cp "$ROOT/bench/results/latest.jsonl" "$OUT/$mode-$round.jsonl"
    done
done
"$ROOT/.venv/bin/python" - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
def cpu(path: Path, scenario: str) -> float:
    rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    hz = next((r.get("clk_tck", 100) for r in rows if r["kind"] == "meta"), 100)
    for r in rows:
        if r["kind"] == "wrk" and r["target"] == "gateway" and r["scenario"] == scenario \
                and r["conns"] == 64:
            return r["cpu_ticks"] / hz * 1e6 / r["result"]["requests"]
    raise SystemExit(f"no {scenario} result in {path}")
modes = ["off", "memory", "sqlite", "redis"]
med = {(m, s): statistics.median(cpu(p, s) for p in sorted(out.glob(f"{m}-*.jsonl")))
       for m in modes for s in ("chat", "stream")}
print("| limits store | chat CPU µs/req | added | stream CPU µs/req | added |")
print("|---|---:|---:|---:|---:|")
for m in modes:
    c, st = med[(m, "chat")], med[(m, "stream")]
    print(f"| {m} | {c:,.0f} | {c - med[('off', 'chat')]:+,.0f} | {st:,.0f} | "
          f"{st - med[('off', 'stream')]:+,.0f} |")
PY
