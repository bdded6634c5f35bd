"""What Granian's interface costs per request, apart from anything the gateway does: a
minimal app (read the body, answer 800 bytes) served three ways by Granian's embedded
server, as the gateway serves itself (one worker, HTTP/1.1, loopback).

    .venv/bin/python bench/speed/interface.py [--requests N] [--rounds R] [--wrk SECONDS]

- `asgi`: the app as ASGI (what the gateway used before server/rsgi_bridge.py);
- `bridge`: the same ASGI app through the gateway's RsgiBridge (what it uses now);
- `rsgi`: a native RSGI app (the floor for this server).

For each: the round-trip time of N sequential requests on one keep-alive connection
(p50 and p90, raw socket, TCP_NODELAY), and, with --wrk, the server process's CPU per
request under wrk at 64 connections. The modes take turns, round by round.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BODY = b"x" * 800

SERVER = r'''
import asyncio, sys
sys.path.insert(0, {root!r})
from granian.constants import Interfaces
from granian.server.embed import Server

BODY = b"x" * 800

async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({{"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"800")]}})
    await send({{"type": "http.response.body", "body": BODY, "more_body": False}})

class RsgiApp:
    async def __call__(self, scope, proto):
        await proto()
        proto.response_bytes(200, [("content-type", "application/json"),
                                   ("content-length", "800")], BODY)

mode = sys.argv[2]
if mode == "asgi":
    target, interface = asgi_app, Interfaces.ASGINL
elif mode == "bridge":
    from gateway_cli.server.rsgi_bridge import RsgiBridge
    target, interface = RsgiBridge(asgi_app), Interfaces.RSGI
else:
    target, interface = RsgiApp(), Interfaces.RSGI
server = Server(target, address="127.0.0.1", port=int(sys.argv[1]), interface=interface,
                websockets=False)
asyncio.run(server.serve())
'''

REQUEST = (b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 300\r\n\r\n" + b"y" * 300)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(mode: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER.format(root=str(ROOT)),
                                str(port), mode], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"{mode}: the server did not start") from None
            time.sleep(0.1)


def _round_trips(port: int, count: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(REQUEST)
            data = b""
            while not data.endswith(BODY):
                data += sock.recv(65536)
            times.append(time.perf_counter() - start)
    return times[count // 10:]  # the first tenth warms up


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk(process: subprocess.Popen[bytes], port: int, seconds: float) -> float:
    script = Path("/tmp/gateway-interface-bench.lua")
    script.write_text('wrk.method = "POST"\nwrk.body = string.rep("y", 300)\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    before = _cpu(process.pid)
    done = subprocess.run(["wrk", "-t", "1", "-c", "64", "-d", f"{seconds:g}s", "-s",
                           str(script), f"http://127.0.0.1:{port}/x"],
                          capture_output=True, text=True, check=True)
    used = _cpu(process.pid) - before
    requests = int(next(line.split()[0] for line in done.stdout.splitlines()
                        if "requests in" in line))
    return used / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wrk", type=int, default=0, metavar="SECONDS")
    args = parser.parse_args()
    modes = ("asgi", "bridge", "rsgi")
    p50: dict[str, list[float]] = {m: [] for m in modes}
    p90: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for mode in modes:
            process, port = _start(mode)
            try:
                times = sorted(_round_trips(port, args.requests))
                p50[mode].append(times[len(times) // 2] * 1e6)
                p90[mode].append(times[int(len(times) * 0.9)] * 1e6)
                if args.wrk:
                    cpu[mode].append(_wrk(process, port, args.wrk))
            finally:
                process.kill()
                process.wait()
    print(f"| interface ({args.rounds} rounds, {args.requests} requests each) | round trip "
          "p50 us | p90 us | CPU us/request at 64 connections |")
    print("|---|---:|---:|---:|")
    for mode in modes:
        load = f"{statistics.median(cpu[mode]):.1f}" if cpu[mode] else "-"
        print(f"| {mode} | {statistics.median(p50[mode]):.0f} | "
              f"{statistics.median(p90[mode]):.0f} | {load} |")


if __name__ == "__main__":
    main()
