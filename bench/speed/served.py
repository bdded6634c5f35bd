"""Instructions per request of a real `gateway serve` process, all threads, by callgrind.

    .venv/bin/python bench/speed/served.py                  # 1,000 chat requests, 1 connection
    .venv/bin/python bench/speed/served.py --n 2000 --keep /tmp/cg   # keep the profile

The full path of the proxy bench (bench/run with OBSERVE=on LIMITS=memory, plus
a client key): nginx as the upstream (bench/nginx.conf, not traced), the
gateway under `valgrind --tool=callgrind` (every thread: the event loop, the
request log's writer, Granian's Rust threads), default inspection, a signed
request log in an encrypted file store, metrics, access lines at INFO, limits
in the memory store. bench/chat.lua's body is sent `--n` times on one
keep-alive connection after `--warm` unmeasured requests; the counters are
zeroed before and dumped after (`callgrind_control`), so start-up is not in
the count. Every answer is checked to be the upstream's body (200). The
count is instructions, which do not depend on what else the machine runs;
syscalls' kernel time is not counted. The start-up supply-chain check is off
(`--verify off`): it is start-up work, and slow under callgrind.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from driver import chat_request  # noqa: E402

from gateway_cli.keys.encrypted_file import LOG2_N_RANGE, EncryptedFileStore  # noqa: E402

# `gateway serve` leaves by os._exit (launch.py), so the profile is written just before.
_PROFILED = """\
import cProfile, os, runpy, sys
out = sys.argv[1]
sys.argv = ["gateway", *sys.argv[2:]]
profile = cProfile.Profile()
leave = os._exit
def _exit(code):
    profile.disable()
    profile.dump_stats(out)
    leave(code)
os._exit = _exit
profile.enable()
runpy.run_module("gateway_cli", run_name="__main__")
"""
PASSPHRASE = b"bench-passphrase-0123456789abcdef"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait(port: int, proc: subprocess.Popen[bytes], limit: float, path: str = "/") -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited during start-up ({proc.returncode})")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port} within {limit} s")


def _gateway(tmp: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "gateway_cli", *args], env=env, cwd=ROOT,
                          input="", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"gateway {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def _total(path: Path) -> int:
    text = path.read_text(errors="replace")
    match = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
    if match is None:
        raise SystemExit(f"no totals line in {path}")
    return int(match.group(1))


def run(n: int, warm: int, keep: Path | None, hold: bool = False) -> dict[str, int]:
    tmp = Path(tempfile.mkdtemp(prefix="gateway-served-"))
    tmp.chmod(0o755)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        nginx_port, gw_port = _free_ports(2)
        (tmp / "nginx").mkdir()
        conf = (BENCH / "nginx.conf").read_text().replace("@PORT@", str(nginx_port)) \
            .replace("@UPSTREAM@", str(BENCH / "upstream")).replace("@RUNDIR@", str(tmp / "nginx"))
        (tmp / "nginx" / "nginx.conf").write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        procs.append(subprocess.Popen(
            [nginx, "-p", str(tmp / "nginx"), "-c", str(tmp / "nginx" / "nginx.conf"),
             "-e", str(tmp / "nginx" / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait(nginx_port, procs[0], 10)

        home = tmp / "home"
        home.mkdir(mode=0o700)
        EncryptedFileStore(home / "secrets.enc", PASSPHRASE, log2_n=min(LOG2_N_RANGE)).create()
        (tmp / "passphrase").write_bytes(PASSPHRASE + b"\n")
        (tmp / "passphrase").chmod(0o600)
        store = ["--secrets", "file", "--passphrase-file", str(tmp / "passphrase")]
        env = {**os.environ, "GATEWAY_HOME": str(home), "PYTHONHASHSEED": "0"}
        _gateway(tmp, "rotate-keys", "--signing", *store, env=env)
        token = _gateway(tmp, "clients", "create", "bench", *store, env=env).strip()
        (tmp / "gateway.toml").write_text(f"""\
[server]
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
base_url = "http://127.0.0.1:{nginx_port}/v1"

[[models]]
name = "bench-model"
deployments = [{{ provider = "nginx", model = "bench-model" }}]

[limits]
store = "memory"

[limits.per_key]
rpm = 100000000
tpm = 1000000000
concurrent = 100000
""")
        out = tmp / "cg.out"
        log = (tmp / "gateway.log").open("wb")
        serve = ["-m", "gateway_cli", "serve", "--config", str(tmp / "gateway.toml"),
                 "--port", str(gw_port), "--verify", "off", *store]
        if not hold:
            argv = ["valgrind", "--tool=callgrind", "--separate-threads=yes",
                    f"--callgrind-out-file={out}",
                    sys.executable, *serve]
        elif os.environ.get("CPROFILE"):  # the event loop's thread under cProfile
            argv = [sys.executable, "-c", _PROFILED, os.environ["CPROFILE"], *serve[2:]]
        else:
            argv = [sys.executable, *serve]
        gateway = subprocess.Popen(
            argv,
            env=env, cwd=ROOT, stdout=log, stderr=log)
        procs.append(gateway)
        try:
            _wait(gw_port, gateway, 900, "/health")
        except SystemExit:
            log.close()
            sys.stderr.write((tmp / "gateway.log").read_text()[-3000:])
            raise

        if hold:  # for py-spy or wrk by hand: say where it is and wait
            print(f"gateway pid {gateway.pid} on http://127.0.0.1:{gw_port} token {token}",
                  flush=True)
            gateway.wait()
            return {}
        body = chat_request()
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        expected = (BENCH / "upstream" / "chat.json").read_bytes()
        conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=120)

        def send(count: int) -> None:
            for _ in range(count):
                conn.request("POST", "/v1/chat/completions", body, headers)
                answer = conn.getresponse()
                data = answer.read()
                if answer.status != 200 or data != expected:
                    raise SystemExit(f"answer {answer.status}: {data[:300]!r}")

        send(warm)
        time.sleep(0.5)  # the request log's batch of the warm-up is written
        subprocess.run(["callgrind_control", "-z", str(gateway.pid)], check=True,
                       capture_output=True)
        send(n)
        time.sleep(0.5)  # and the measured one's (a batch waits up to 50 ms)
        subprocess.run(["callgrind_control", "-d", str(gateway.pid)], check=True,
                       capture_output=True)
        # One file per thread per dump: cg.out.<dump>-<thread>; thread 01 is the event loop's.
        dumps = [p for p in tmp.glob("cg.out.*") if p.name.count("-") == 1]
        if not dumps:
            raise SystemExit("callgrind wrote no dump")
        last = max(int(p.name.split(".")[-1].split("-")[0]) for p in dumps)
        threads = {p.name.split("-")[-1]: _total(p) for p in dumps
                   if int(p.name.split(".")[-1].split("-")[0]) == last}
        if keep is not None:
            for p in dumps:
                if int(p.name.split(".")[-1].split("-")[0]) == last:
                    shutil.copy(p, f"{keep}-{p.name.split('-')[-1]}")
        return threads
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="measured requests (1,000)")
    parser.add_argument("--warm", type=int, default=200, help="unmeasured requests first (200)")
    parser.add_argument("--keep", type=Path, help="copy the measured callgrind dump here")
    parser.add_argument("--hold", action="store_true",
                        help="no callgrind: start the gateway, print its URL and key, wait")
    args = parser.parse_args()
    threads = run(args.n, args.warm, args.keep, args.hold)
    if threads:
        total = sum(threads.values())
        loop = threads.get("01", 0)
        print(f"{total:,} instructions for {args.n:,} requests: {total / args.n:,.0f} per "
              f"request; the event loop's thread {loop / args.n:,.0f}, the other "
              f"{len(threads) - 1} threads {(total - loop) / args.n:,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
