"""Render bench/run's results (JSON lines) as the markdown report. Stdlib only.

    python bench/report.py RESULTS.jsonl > bench/results/latest.md
"""

from __future__ import annotations

import json
import sys
from typing import Any

# The product's targets (bench/README.md).
TARGET_RPS_C64 = 2000.0
TARGET_ADDED_P50_MS = 0.7
TARGET_ADDED_TTFB_MS = 10.0  # "passed on at once": a Nagle/delayed-ACK stall (~40 ms) fails it
TARGET_RSS_MB = 120.0


def ms(us: float) -> str:
    return f"{us / 1000:.2f}"


def load(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> int:
    rows = load(sys.argv[1])
    meta = next((r for r in rows if r["kind"] == "meta"), {})
    wrk: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in rows:
        if r["kind"] == "wrk":
            res = dict(r["result"])
            ticks = r.get("cpu_ticks", 0)
            hz = meta.get("clk_tck", 100)
            res["cpu_us_per_req"] = (ticks / hz * 1e6 / res["requests"]
                                     if ticks and res["requests"] else None)
            res["cpu_pct"] = ticks / hz / (res["duration_us"] / 1e6) * 100 if ticks else None
            wrk[(r["target"], r["scenario"], r["conns"])] = res
    ttfb = {r["result"]["target"]: r["result"] for r in rows if r["kind"] == "ttfb"}
    rss = {r["target"]: r for r in rows if r["kind"] == "rss"}
    startup = {r["target"]: r for r in rows if r["kind"] == "startup_rss"}
    notes = [r["text"] for r in rows if r["kind"] == "note"]

    out: list[str] = []
    w = out.append
    w(f"# Gateway benchmark results ({meta.get('date', '?')})")
    w("")
    w(f"Commit {meta.get('commit', '?')}; {meta.get('duration_s', '?')} s per measurement "
      f"(after a {meta.get('warmup_s', '?')} s warm-up per target), `wrk -t1`, one gateway "
      "process (Granian embedded server), nginx `worker_processes 1`; wrk, nginx and the "
      "gateway share the same cores (no pinning).")
    w("")
    w(f"Machine: {meta.get('nproc', '?')} cores, {meta.get('cpu', '?')}, {meta.get('mem', '?')} "
      f"RAM, kernel {meta.get('kernel', '?')}, {meta.get('os', '?')}; Python "
      f"{meta.get('python', '?')} ({meta.get('packages', '?')}); nginx {meta.get('nginx', '?')}; "
      f"wrk {meta.get('wrk', '?')}. CPU busy before the run (other work on the machine): "
      f"{meta.get('busy_before_pct', '?')}%; load average at the end: {meta.get('loadavg', '?')}.")
    w("")
    fresh = meta.get("fresh", "")
    w({"turn": "Request bodies: a new last user turn in every request, the rest of the "
               "conversation the same (BENCH_FRESH=turn).",
       "all": "Request bodies: a counter in every message, so no text was seen before "
              "(BENCH_FRESH=all)."}.get(fresh, "Request bodies: the same body every time."))
    w("")

    def table(scenario: str, conns: list[int], title: str) -> None:
        w(f"## {title}")
        w("")
        w("| conns | direct req/s | gateway req/s | ratio gw/direct | direct p50 ms | "
          "gateway p50 ms | direct p99 ms | gateway p99 ms | gateway CPU µs/req |")
        w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for c in conns:
            d = wrk.get(("direct", scenario, c))
            g = wrk.get(("gateway", scenario, c))
            if not d or not g:
                w(f"| {c} | (missing) | | | | | | | |")
                continue
            cpu = g.get("cpu_us_per_req")
            cpu_text = f"{cpu:,.0f}" if cpu else "n/a"
            w(f"| {c} | {d['rps']:,.0f} | {g['rps']:,.0f} | {g['rps'] / d['rps']:.3f} | "
              f"{ms(d['p50_us'])} | {ms(g['p50_us'])} | {ms(d['p99_us'])} | {ms(g['p99_us'])} | "
              f"{cpu_text} |")
        w("")

    size = next((r["body_bytes"] for k, r in wrk.items() if k[1] == "chat"), 0)
    table("chat", [1, 8, 64], f"Non-streaming chat completions ({size:,} B request, "
          "1,120 B answer)")
    table("stream", [1, 64], "Streaming chat completions (20 events + [DONE], 5.7 KB; "
          "latency = to the last byte)")

    if ttfb:
        w("## Time to first event through a slow upstream")
        w("")
        w("The upstream sends one event, pauses 1 s, then sends the rest. A buffering proxy "
          "would show a time to first event of about 1,000 ms.")
        w("")
        w("| path | runs | first event p50 ms | min ms | max ms | whole stream p50 ms | events |")
        w("|---|---:|---:|---:|---:|---:|---:|")
        for name in ("direct", "gateway", "litellm"):
            t = ttfb.get(name)
            if t:
                w(f"| {name} | {t['runs']} | {t['ttfb_ms_p50']:.2f} | {t['ttfb_ms_min']:.2f} | "
                  f"{t['ttfb_ms_max']:.2f} | {t['total_ms_p50']:.1f} | {t['events']} |")
        w("")

    if any(k[0] == "litellm" for k in wrk):
        version = rss.get("litellm", {}).get("version", "?")
        w(f"## LiteLLM proxy {version} for comparison (1 worker, same nginx upstream)")
        w("")
        w("| scenario | conns | gateway req/s | litellm req/s | gateway p50 ms | litellm p50 ms | "
          "gateway p99 ms | litellm p99 ms | litellm CPU µs/req |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for scenario, conns in (("chat", [1, 8, 64]), ("stream", [1, 64])):
            for c in conns:
                g = wrk.get(("gateway", scenario, c))
                lite = wrk.get(("litellm", scenario, c))
                if not g or not lite:
                    continue
                cpu = lite.get("cpu_us_per_req")
                w(f"| {scenario} | {c} | {g['rps']:,.0f} | {lite['rps']:,.0f} | "
                  f"{ms(g['p50_us'])} | {ms(lite['p50_us'])} | {ms(g['p99_us'])} | "
                  f"{ms(lite['p99_us'])} | " + (f"{cpu:,.0f} |" if cpu else "n/a |"))
        if "litellm" in rss:
            w("")
            w(f"LiteLLM peak RSS: {rss['litellm']['hwm_kb'] / 1024:.1f} MB.")
        w("")
    peers_table(w, wrk, rss, meta, startup)
    for note in notes:
        w(f"Note: {note}")
        w("")

    w("## Targets")
    w("")
    w("| target | measured | met |")
    w("|---|---|---|")

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("yes" if ok else "**no**")

    g64 = wrk.get(("gateway", "chat", 64))
    w(f"| ≥ {TARGET_RPS_C64:,.0f} req/s at 64 connections, 1 worker | "
      + (f"{g64['rps']:,.0f} req/s | {verdict(g64['rps'] >= TARGET_RPS_C64)} |" if g64
         else "missing | n/a |"))
    d1, g1 = wrk.get(("direct", "chat", 1)), wrk.get(("gateway", "chat", 1))
    if d1 and g1:
        added = (g1["p50_us"] - d1["p50_us"]) / 1000
        ok = added <= TARGET_ADDED_P50_MS
        w(f"| added p50 latency at 1 connection ≤ {TARGET_ADDED_P50_MS} ms | {added:.3f} ms "
          f"(gateway {ms(g1['p50_us'])} - direct {ms(d1['p50_us'])}) | {verdict(ok)} |")
    else:
        w("| added p50 latency at 1 connection | missing | n/a |")
    td, tg = ttfb.get("direct"), ttfb.get("gateway")
    if td and tg:
        added_ttfb = tg["ttfb_ms_p50"] - td["ttfb_ms_p50"]
        ok = added_ttfb <= TARGET_ADDED_TTFB_MS and tg["ttfb_ms_max"] < 500
        w(f"| streaming adds no buffering (first event passed on at once; added time to first "
          f"event ≤ {TARGET_ADDED_TTFB_MS:.0f} ms, vs a 1,000 ms upstream pause) | "
          f"first event after {tg['ttfb_ms_p50']:.2f} ms through the gateway vs "
          f"{td['ttfb_ms_p50']:.2f} ms direct (max {tg['ttfb_ms_max']:.2f} ms) | {verdict(ok)} |")
    else:
        w("| streaming adds no buffering | missing | n/a |")
    if "gateway" in rss:
        mb = rss["gateway"]["hwm_kb"] / 1024
        begun = startup.get("gateway")
        if begun is not None and begun.get("reset"):
            how = (f"VmHWM over all runs above, reset after start-up; the start-up peak was "
                   f"{begun['hwm_kb'] / 1024:.1f} MB")
        else:
            how = "VmHWM after all runs above, start-up included"
        w(f"| peak RSS while serving < {TARGET_RSS_MB:.0f} MB | {mb:.1f} MB ({how}) | "
          f"{verdict(mb < TARGET_RSS_MB)} |")
    else:
        w("| peak RSS | missing | n/a |")
    w("")
    print("\n".join(out))
    return 0


# The peers table's rows, in the order of issue 22's table; the main gateway run is
# "gateway", with inspection on unless bench/run had --no-inspection.
PEERS = (("portkey", "Portkey (Node), 1 process"),
         ("bare", "bare Litestar + Granian + aiohttp proxy (no checks)"),
         ("gateway-inspection", "gateway, default inspection"),
         ("gateway-no-inspection", "gateway, inspection off"),
         ("gateway-2-workers", "gateway, 2 workers"))


def peers_table(w: Any, wrk: dict[tuple[str, str, int], dict[str, Any]],
                rss: dict[str, dict[str, Any]], meta: dict[str, Any],
                startup: dict[str, dict[str, Any]] | None = None) -> None:
    if not any(k[0] in dict(PEERS) for k in wrk):
        return
    inspected = meta.get("inspection", True)
    names = {"gateway": "gateway-inspection" if inspected else "gateway-no-inspection"}
    d1 = wrk.get(("direct", "chat", 1))
    w("## Peers (bench/run --peers)")
    w("")
    w("Same run, same nginx upstream and wrk. CPU per request: all of the target's "
      "processes at 64 connections. Streams: 20-event SSE answers. Peak RSS: while "
      "serving (VmHWM reset once the target answered), the largest process (and the sum "
      "over processes when there are several); in brackets the start-up peak before the "
      "reset (the gateway's is its secret store's scrypt key derivation).")
    w("")
    w("| | req/s, 64 conn | added p50, 1 conn | CPU per request | SSE streams/s, 64 conn "
      "| peak RSS |")
    w("|---|---:|---:|---:|---:|---:|")
    by_row = {names.get(k[0], k[0]): k[0] for k in wrk}
    for row, title in PEERS:
        target = by_row.get(row)
        if target is None:
            continue
        c64, c1 = wrk.get((target, "chat", 64)), wrk.get((target, "chat", 1))
        s64 = wrk.get((target, "stream", 64))
        cpu = c64.get("cpu_us_per_req") if c64 else None
        added = (f"+{(c1['p50_us'] - d1['p50_us']) / 1000:.2f} ms" if c1 and d1 else "n/a")
        memory = rss.get(target)
        if memory is None:
            mem_text = "n/a"
        elif memory.get("processes", 1) > 1:
            mem_text = (f"{memory['hwm_kb'] / 1024:.0f} MB per process, "
                        f"{memory['hwm_total_kb'] / 1024:.0f} MB in all")
            if memory.get("pss_total_kb"):
                mem_text += (f" ({memory['pss_total_kb'] / 1024:.0f} MB proportional set "
                             "size at the end: shared pages counted once)")
        else:
            mem_text = f"{memory['hwm_kb'] / 1024:.0f} MB"
        begun = (startup or {}).get(target)
        if memory is not None and begun is not None and begun.get("reset"):
            mem_text += f" (start-up {begun['hwm_kb'] / 1024:.0f} MB)"
        streams = f"{s64['rps']:,.0f}" if s64 else "not measured (see note)"
        w(f"| {title} | {c64['rps']:,.0f} | {added} | "
          + (f"{cpu / 1000:.2f} ms" if cpu else "n/a")
          + f" | {streams} | {mem_text} |" if c64 else f"| {title} | (incomplete) | | | | |")
    w("")


if __name__ == "__main__":
    sys.exit(main())
