#!/usr/bin/env bash
# CPU per request that the request log, the metrics and the access log add on the
# proxy bench, in one run.
#
#   ROUNDS=3 DURATION=5 bench/observe/proxy.sh
#
# Runs bench/run (see bench/README.md) with OBSERVE=off and OBSERVE=on in turn,
# ROUNDS times, so that drift on the machine hits both alike, and prints the
# gateway's CPU µs per request (chat and streams at 64 connections): the median
# of each mode's rounds and the difference; then what the request log wrote,
# dropped and refused in the "on" rounds (the writer must keep up: zero of both).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$(dirname "$HERE")")"
ROUNDS="${ROUNDS:-3}"
export DURATION="${DURATION:-5}"
OUT="$(mktemp -d /tmp/gateway-observe-bench.XXXXXX)"
for round in $(seq "$ROUNDS"); do
    for mode in off on; do
        echo "[observe bench] round $round: $mode" >&2
        OBSERVE="$mode" "$ROOT/bench/run" >/dev/null
        cp "$ROOT/bench/results/latest.jsonl" "$OUT/$mode-$round.jsonl"
    done
done
"$ROOT/.venv/bin/python" - "$OUT" <<'PY'
import json, statistics, sys
from pathlib import Path

out = Path(sys.argv[1])
def rows(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
def cpu(path: Path, scenario: str) -> float:
    found = rows(path)
    hz = next((r.get("clk_tck", 100) for r in found if r["kind"] == "meta"), 100)
    for r in found:
        if r["kind"] == "wrk" and r["target"] == "gateway" and r["scenario"] == scenario \
                and r["conns"] == 64:
            return r["cpu_ticks"] / hz * 1e6 / r["result"]["requests"]
    raise SystemExit(f"no {scenario} result in {path}")
med = {(m, s): statistics.median(cpu(p, s) for p in sorted(out.glob(f"{m}-*.jsonl")))
       for m in ("off", "on") for s in ("chat", "stream")}
print("| observe | chat CPU µs/req | added | stream CPU µs/req | added |")
print("|---|---:|---:|---:|---:|")
for m in ("off", "on"):
    c, st = med[(m, "chat")], med[(m, "stream")]
    print(f"| {m} | {c:,.0f} | {c - med[('off', 'chat')]:+,.0f} | {st:,.0f} | "
          f"{st - med[('off', 'stream')]:+,.0f} |")
for p in sorted(out.glob("on-*.jsonl")):
    for r in rows(p):
        if r["kind"] == "audit":
            print(f"{p.name}: records written {r['written']:.0f} of {r['requests']:.0f} "
                  f"requests, dropped {r['dropped']:.0f}, refused (503) {r['refused_503']:.0f}")
PY
echo "raw results: $OUT" >&2
