#!/usr/bin/env bash
# CPU per request that limits add on the proxy bench, per store, in one run.
#
#   ROUNDS=4 DURATION=4 bench/limits/proxy.sh
#   MODES="off memory" ROUNDS=8 bench/limits/proxy.sh    # some stores only (off first)
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
# Each round starts one mode later than the one before (off memory sqlite redis, then
# memory sqlite redis off, ...): over a multiple of four rounds every mode holds every
# place equally often, so drift within a round (each mode takes about a minute) weighs on
# none of them more.
read -r -a MODES <<<"${MODES:-off memory sqlite redis}"
for mode in "${MODES[@]}"; do
    case "$mode" in off|memory|sqlite|redis) ;; *) echo "MODES: off, memory, sqlite, redis" >&2; exit 2 ;; esac
done
[ "${MODES[0]}" = off ] || { echo "MODES must start with off (the others are told against it)" >&2; exit 2; }
for round in $(seq "$ROUNDS"); do
    shift_by=$(( (round - 1) % ${#MODES[@]} ))
    for mode in "${MODES[@]:$shift_by}" "${MODES[@]:0:$shift_by}"; do
        echo "[limits bench] round $round: $mode" >&2
        if [ "$mode" = off ]; then LIMITS="" "$ROOT/bench/run" >/dev/null
        else LIMITS="$mode" "$ROOT/bench/run" >/dev/null; fi
        cp "$ROOT/bench/results/latest.jsonl" "$OUT/$mode-$round.jsonl"
    done
done
"$ROOT/.venv/bin/python" - "$OUT" "${MODES[@]}" <<'PY'
import json, math, statistics, sys
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
modes = sys.argv[2:]
rounds = sorted(int(p.stem.split("-")[1]) for p in out.glob("off-*.jsonl"))
each = {(m, s): [cpu(out / f"{m}-{r}.jsonl", s) for r in rounds]
        for m in modes for s in ("chat", "stream")}
med = {k: statistics.median(v) for k, v in each.items()}
def paired(m: str, s: str) -> float:
    """The median of each round's own difference from off."""
    return statistics.median(a - b for a, b in zip(each[(m, s)], each[("off", s)]))
def spread(m: str, s: str) -> str:
    """The mean of the rounds' own differences and its standard error: how far apart two
    harnesses' or two runs' figures may be by chance alone."""
    d = [a - b for a, b in zip(each[(m, s)], each[("off", s)])]
    if len(d) < 2:
        return "-"
    return f"{statistics.mean(d):+,.0f} ± {statistics.stdev(d) / math.sqrt(len(d)):,.0f}"
print("| limits store | chat CPU µs/req | added | added, rounds' own differences | "
      "mean ± s.e. | stream CPU µs/req | added | added, rounds' own differences | "
      "mean ± s.e. |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in modes:
    c, st = med[(m, "chat")], med[(m, "stream")]
    print(f"| {m} | {c:,.0f} | {c - med[('off', 'chat')]:+,.0f} | {paired(m, 'chat'):+,.0f} | "
          f"{spread(m, 'chat')} | {st:,.0f} | {st - med[('off', 'stream')]:+,.0f} | "
          f"{paired(m, 'stream'):+,.0f} | {spread(m, 'stream')} |")
print()
print("per round (chat CPU µs/req): " + "; ".join(
    f"{m} " + " / ".join(f"{v:,.0f}" for v in each[(m, "chat")]) for m in modes))
PY
