"""Instructions per request that limits add to a real, served gateway, counted by callgrind.

    .venv/bin/python bench/limits/served.py                      # off memory sqlite, N=1000
    .venv/bin/python bench/limits/served.py --n 2000 off memory --stream
    .venv/bin/python bench/limits/served.py --strace off sqlite  # syscalls per request instead

The in-process bench (cpu.py) times the limits calls alone; the proxy bench
(proxy.sh) times the whole served process but cannot resolve 30 µs on this
machine. This sits between them: `gateway serve` (Granian, the real config of
bench/run: inspection on, signed request log, metrics, access log) runs under
`valgrind --tool=callgrind --instr-atstart=no` in front of nginx (bench/nginx.conf).
After a warm-up, `callgrind_control -i on` starts counting, N requests are sent
(bench/chat.lua's body, one keep-alive connection per client thread, `--conns`),
and `callgrind_control -d` dumps the count: every thread of the process
(Granian's Rust threads, the event loop, the request log's writer), user-space
instructions only. Instructions per request minus `off`'s is what limits add.
Each mode is a fresh process with a fresh state directory (PYTHONHASHSEED=0).

With `--strace`, the gateway runs without callgrind and
`strace -c -f -p` is attached to the gateway after the warm-up and the syscalls of
the N requests (all threads) are printed per request, per mode.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH / "speed"))
from driver import chat_request  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
MODES = ("off", "memory", "sqlite", "redis")
LIMITS = ('\n[limits]\nstore = "{store}"\nredis_url = "redis://127.0.0.1:{redis}/0"\n\n'
          "[limits.per_key]\nrpm = 100000000\ntpm = 1000000000\nconcurrent = 100000\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, path: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"nothing answered on port {port} within {seconds:g} s")


def config(tmp: Path, nginx: int, mode: str, redis: int) -> str:
    text = f"""[server]
log_level = "info"
access_log = true
metrics = true

[audit]
enabled = true

[inspection]
enabled = true
mode = "enforce"

[[providers]]
name = "nginx"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{nginx}/v1"

[[providers]]
name = "nginx-stream"
kind = "openai-compatible"
base_url = "http://127.0.0.1:{nginx}/stream/v1"

[[models]]
name = "bench-model"
deployments = [{{ provider = "nginx", model = "bench-model" }}]

[[models]]
name = "bench-stream"
deployments = [{{ provider = "nginx-stream", model = "bench-stream" }}]
"""
    if mode != "off":
        text += LIMITS.format(store=mode, redis=redis)
    return text


def send(port: int, body: bytes, n: int, conns: int) -> None:
    """`n` POSTs over `conns` keep-alive connections; every answer must be a 200."""
    def one(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for _ in range(count):
            conn.request("POST", "/v1/chat/completions", body,
                         {"content-type": "application/json"})
            answer = conn.getresponse()
            data = answer.read()
            if answer.status != 200:
                raise SystemExit(f"answer {answer.status}: {data[:300]!r}")
        conn.close()
    threads = [threading.Thread(target=one, args=(n // conns + (i < n % conns),))
               for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def gateway_env(home: Path, code: Path, seed: str = "0") -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "GATEWAY_HOME": str(home)}
    if seed == "random":  # as bench/run starts it: Python's own random hash seed
        env.pop("PYTHONHASHSEED", None)
    else:
        env["PYTHONHASHSEED"] = seed
    return env


def wrk(port: int, seconds: float, conns: int, threads: int) -> dict[str, object]:
    """wrk with bench/chat.lua for `seconds` at `conns` connections: its BENCH_RESULT."""
    done = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s",
                           "--timeout", "10s", "-s", str(BENCH / "chat.lua"),
                           f"http://127.0.0.1:{port}/v1/chat/completions"],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "BENCH_MODEL": "bench-model", "BENCH_STREAM": "0"})
    result: dict[str, object] = json.loads(
        done.stdout.split("BENCH_RESULT", 1)[1].strip().splitlines()[0])
    if sum(result["errors"].values()):  # type: ignore[attr-defined]
        raise SystemExit(f"wrk saw errors: {result['errors']}")
    return result


def like_run(port: int, seconds: int) -> None:
    """What bench/run sends the gateway before its measured 64-connection chat run: one
    small request (its sanity check), 2 s of wrk at 64 connections (its `warm`), then
    `seconds` at 1 and at 8 connections (its c1 and c8 runs), wrk -t1 each time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/v1/chat/completions",
                 b'{"model":"bench-model","messages":[{"role":"user","content":"hi"}]}',
                 {"content-type": "application/json"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status != 200:
        raise SystemExit(f"the sanity request answered {answer.status}")
    wrk(port, 2, 64, 1)
    wrk(port, seconds, 1, 1)
    wrk(port, seconds, 8, 1)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads


def wrk_cpu(pid: int, port: int, seconds: int, conns: int, threads: int) -> float:
    """Gateway CPU µs per request over `seconds` of wrk at `conns` connections."""
    before = cpu_ticks(pid)
    result = wrk(port, seconds, conns, threads)
    ticks = cpu_ticks(pid) - before
    return ticks / os.sysconf("SC_CLK_TCK") * 1e6 / int(result["requests"])  # type: ignore[call-overload]


def run_mode(tmp: Path, nginx: int, mode: str, body: bytes, args: argparse.Namespace,
             code: Path = ROOT, tag: str = "") -> str:
    work = tmp / f"{mode}{tag}"
    home = work / "home"
    home.mkdir(parents=True, mode=0o700)
    secrets = ["--secrets", "file", "--passphrase-file", str(tmp / "passphrase")]
    env = gateway_env(home, code, args.seed)
    gw = [str(PY), "-m", "gateway_cli"]
    subprocess.run([*gw, "keys", "add", "openai", "--name", "unused", *secrets],
                   input=b"sk-bench-unused-0000000000000000\n", env=env, cwd=code,
                   check=True, capture_output=True)
    subprocess.run([*gw, "rotate-keys", "--signing", *secrets], env=env, cwd=code,
                   check=True, capture_output=True)
    redis_port = free_port()
    redis = None
    if mode == "redis":
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind",
                                  "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                  str(work)], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
    (work / "gateway.toml").write_text(config(tmp, nginx, mode, redis_port))
    port = free_port()
    serve = [*gw, "serve", "--config", str(work / "gateway.toml"), "--port", str(port),
             *secrets]
    out = work / "cg.out"
    wrapper = [] if args.strace or args.wrk else [
        "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    log = (work / "gateway.log").open("wb")
    proc = subprocess.Popen([*wrapper, *serve], env=env, cwd=code, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(port, "/health", 600)
        if args.like_run:
            like_run(port, args.like_run)
        send(port, body, args.warmup, args.conns)
        if args.wrk:
            return str(wrk_cpu(proc.pid, port, args.wrk, args.conns, args.wrk_threads))
        if args.strace:  # every thread of the process, from here to the last answer
            tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(proc.pid), "-o",
                                       str(work / "strace.txt")], stderr=subprocess.DEVNULL)
            time.sleep(2)
            send(port, body, args.n, args.conns)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(60)
            return ""
        # `valgrind` is a script; the counted process is its child (valgrind.bin).
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                              text=True, check=False).stdout.split()
        target = kids[0] if kids else str(proc.pid)
        if not target.isdigit():
            raise SystemExit("no callgrind process found")
        subprocess.run(["callgrind_control", "-i", "on", target], check=True,
                       capture_output=True)
        subprocess.run(["callgrind_control", "-z", target], check=True, capture_output=True)
        send(port, body, args.n, args.conns)
        subprocess.run(["callgrind_control", "-d", target], check=True, capture_output=True)
        dumps = sorted(work.glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        if args.keep:
            Path(args.keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(dumps[-1], Path(args.keep) / f"{mode}.cg")
        return dumps[-1].read_text(errors="replace")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        if redis is not None:
            redis.terminate()
            redis.wait()


def strace_table(path: Path, n: int) -> str:
    lines = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1].isidentifier() and parts[3].isdigit():
            lines.append(f"{parts[-1]} {int(parts[3]) / n:.2f}")
    return ", ".join(lines)


def timed(tmp: Path, nginx: int, body: bytes, args: argparse.Namespace) -> int:
    """CPU per request at --conns connections, each (code, mode) in turn, --rounds times;
    the median of the rounds, and the median of each round's difference from `off`.

    Each round starts one mode later than the one before (off, memory, sqlite; then
    memory, sqlite, off; ...), so that a mode is not always measured first, or always
    right after the same one: over a multiple of len(modes) rounds every mode holds every
    place equally often, and drift within a round weighs on none of them more."""
    codes = [("after", ROOT)] + ([("before", Path(args.before))] if args.before else [])
    cpu: dict[tuple[str, str], list[float]] = {}
    for r in range(args.rounds):
        shift = r % len(args.modes)
        for mode in [*args.modes[shift:], *args.modes[:shift]]:
            for name, code in codes:
                value = float(run_mode(tmp, nginx, mode, body, args, code, f"-{name}-{r}"))
                cpu.setdefault((name, mode), []).append(value)
                print(f"[served] round {r + 1} {name} {mode}: {value:.0f} µs", file=sys.stderr,
                      flush=True)
    print("| code | limits store | CPU µs per request, rounds | median | added | "
          "added, median of the rounds' own differences |")
    print("|---|---|---|---:|---:|---:|")
    for name, _ in codes:
        off = cpu.get((name, "off"))
        base = statistics.median(off) if off is not None else None
        for mode in args.modes:
            values = cpu[(name, mode)]
            med = statistics.median(values)
            added = f"{med - base:+.0f}" if base is not None else "-"
            paired = f"{statistics.median(v - o for v, o in zip(values, off, strict=True)):+.0f}" \
                if off is not None else "-"
            print(f"| {name} | {mode} | {' / '.join(f'{v:.0f}' for v in values)} | "
                  f"{med:.0f} | {added} | {paired} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modes", nargs="*", default=["off", "memory", "sqlite"],
                        help=f"some of {', '.join(MODES)}")
    parser.add_argument("--n", type=int, default=1000, help="counted requests per mode")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--conns", type=int, default=1, help="client connections (1)")
    parser.add_argument("--stream", action="store_true", help="the streamed model")
    parser.add_argument("--strace", action="store_true",
                        help="syscalls per request (strace -c -f) instead of instructions")
    parser.add_argument("--wrk", type=int, metavar="SECONDS",
                        help="instead: gateway CPU µs per request over SECONDS of wrk at "
                        "--conns connections (no callgrind), --rounds times, alternating")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk-threads", type=int, default=2,
                        help="wrk's threads with --wrk (bench/run uses 1)")
    parser.add_argument("--like-run", type=int, metavar="SECONDS", default=0,
                        help="before the warm-up, send what bench/run sends before its "
                        "measured run: a sanity request, 2 s at 64 connections, SECONDS at "
                        "1 and at 8 (wrk -t1)")
    parser.add_argument("--seed", default="0",
                        help="PYTHONHASHSEED of the gateway (0), or 'random' as bench/run")
    parser.add_argument("--before", metavar="DIR",
                        help="with --wrk: also run the gateway code in DIR (a snapshot of "
                        "another commit: git archive), alternating with this one")
    parser.add_argument("--code", metavar="DIR",
                        help="count the gateway code in DIR (a snapshot of another commit)")
    parser.add_argument("--keep", metavar="DIR",
                        help="keep each mode's dump as DIR/MODE.cg (for callgrind_annotate)")
    args = parser.parse_args()
    if not args.modes or any(m not in MODES for m in args.modes):
        parser.error(f"modes are some of {', '.join(MODES)}")
    if args.n < 1 or args.conns < 1 or args.warmup < 0 or args.wrk_threads < 1 \
            or args.like_run < 0:
        parser.error("--n, --conns and --wrk-threads must be at least 1, --warmup and "
                     "--like-run at least 0")
    if args.seed != "random" and not args.seed.isdigit():
        parser.error("--seed is a number or 'random'")
    per: dict[str, float] = {}
    for tool in ("nginx", "strace" if args.strace else "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    body = chat_request()
    if args.stream:
        body = body.replace(b'"model":"bench-model"', b'"model":"bench-stream","stream":true')
    with tempfile.TemporaryDirectory(prefix="gateway-served-") as name:
        tmp = Path(name)
        os.chmod(tmp, 0o755)  # nginx's worker runs as nobody
        (tmp / "passphrase").write_text("bench-passphrase-0123456789abcdef\n")
        os.chmod(tmp / "passphrase", 0o600)
        nginx_port = free_port()
        rundir = tmp / "nginx"
        rundir.mkdir()
        conf = (BENCH / "nginx.conf").read_text().replace("@PORT@", str(nginx_port)) \
            .replace("@UPSTREAM@", str(BENCH / "upstream")).replace("@RUNDIR@", str(rundir))
        (rundir / "nginx.conf").write_text(conf)
        nginx = subprocess.Popen(["nginx", "-p", str(rundir), "-c", str(rundir / "nginx.conf"),
                                  "-e", str(rundir / "error.log")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(nginx_port, "/", 10)
            if args.wrk:
                return timed(tmp, nginx_port, body, args)
            for mode in args.modes:
                print(f"[served] {mode}...", file=sys.stderr, flush=True)
                dump = run_mode(tmp, nginx_port, mode, body, args,
                                Path(args.code) if args.code else ROOT)
                if args.strace:
                    print(f"{mode}: {strace_table(tmp / mode / 'strace.txt', args.n)}")
                    continue
                found = re.search(r"^totals: (\d+)", dump, re.M)
                if found is None:
                    raise SystemExit(f"no totals in the {mode} dump")
                per[mode] = int(found.group(1)) / args.n
                print(f"[served] {mode}: {per[mode]:,.0f} instructions per request",
                      file=sys.stderr, flush=True)
        finally:
            nginx.terminate()
            nginx.wait()
    if per:
        base = per.get("off")
        print("| limits store | instructions per request | added |")
        print("|---|---:|---:|")
        for mode, value in per.items():
            added = f"{value - base:+,.0f}" if base is not None else "-"
            print(f"| {mode} | {value:,.0f} | {added} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
