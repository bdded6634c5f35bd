"""The gateway's whole Python path for one tools/call, in process: the front door, the
MCP endpoint, the relay and the HTTP client to a real upstream, without Granian.

    .venv/bin/python -m bench.mcp.front_cost [--calls N] [--rounds R] [--profile]
                                             [--no-inspection]

Starts the SDK-written notes server (Streamable HTTP, loopback) in a child process,
builds the gateway's ASGI app (`create_app`) for it with its pins approved, and calls the
app directly with ASGI scopes, as Granian would. What is timed is this process's CPU per
call (`time.process_time`: the upstream's own work is in the child and not counted), so
a loaded machine slows it less than wall-clock time. The same call made with the
gateway's upstream client alone (Connection.call) takes turns with it, round by round,
and the difference is the gateway's own work. `--profile` first prints cProfile's top
functions of the gateway's own code.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gateway_cli.config import parse_config  # noqa: E402
from gateway_cli.mcp import pins  # noqa: E402
from gateway_cli.mcp.pinned import live_tools  # noqa: E402
from gateway_cli.server.app import create_app  # noqa: E402
from tests.conftest import free_port  # noqa: E402

HEADERS = [(b"content-type", b"application/json"),
           (b"accept", b"application/json, text/event-stream"), (b"host", b"127.0.0.1")]


class Collect:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


async def asgi(app: Any, body: dict[str, Any], headers: list[tuple[bytes, bytes]],
               port: int) -> Collect:
    raw = msgspec.json.encode(body)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/mcp/http",
             "raw_path": b"/mcp/http", "query_string": b"", "root_path": "",
             "headers": [*headers, (b"content-length", str(len(raw)).encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", port)}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    out = Collect()
    await app(scope, receive, out)
    return out


def by_package(stats: pstats.Stats, calls: int) -> str:
    """Own time (cProfile's tottime, so inflated by the profiler) per call, by where the
    code lives: the gateway's modules by package, the rest by library."""
    totals: dict[str, float] = {}
    for (path, _, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if "gateway_cli/" in path:
            where = "gateway_cli/" + path.split("gateway_cli/", 1)[1].split("/")[0]
        elif "site-packages/" in path:
            where = path.split("site-packages/", 1)[1].split("/")[0]
        elif path == "~":
            where = "builtin " + name.split(" of ")[0][:40]
        else:
            where = "stdlib " + Path(path).name
        totals[where] = totals.get(where, 0.0) + row[2]
    rows = sorted(totals.items(), key=lambda kv: -kv[1])[:25]
    return "\n".join(f"{us:8.1f} us  {where}" for where, us in
                     ((w, t / calls * 1e6) for w, t in rows))


async def _run(calls: int, profile: bool, rounds: int, upstream: str, home: Path,
               inspection: bool = True, marks: int = 0) -> None:
    config = parse_config(tomllib.loads(f"""
[server]
log_level = "warning"
access_log = false
[inspection]
enabled = {"true" if inspection else "false"}
[mcp]
open_scopes = ["mcp:http:echo"]
[mcp.servers.http]
url = "{upstream}"
"""))
    os.environ["GATEWAY_HOME"] = str(home)
    app = create_app(config)
    relay = app.mcp_relay
    assert relay is not None and app.start is not None and app.stop is not None
    await app.start()
    server = relay.servers["http"]
    key = ("pbench", b"k" * 32)
    pins.save(home, pins.make("http", await live_tools(server.connection), "now"), key)
    relay.pins.key = key
    server.read = False
    relay.pins.read(server)
    port = 8080
    init = await asgi(app, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}}, HEADERS, port)
    assert init.status == 200, init.body
    sid = dict(init.headers)[b"mcp-session-id"]
    headers = [*HEADERS, (b"mcp-session-id", sid), (b"mcp-protocol-version", b"2025-11-25")]
    await asgi(app, {"jsonrpc": "2.0", "method": "notifications/initialized"}, headers, port)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hello from the bench"}}}

    async def through() -> None:
        out = await asgi(app, body, headers, port)
        assert b"hello from the bench" in out.body, out.body[:300]

    async def straight() -> None:
        answer = await server.connection.call("tools/call", body["params"])
        assert "result" in answer

    for _ in range(100):
        await through()
        await straight()
    if marks:  # count.py: callgrind dumps at each getppid, around each loop
        for one in (through, straight):
            os.getppid()
            for _ in range(marks):
                await one()
        os.getppid()
        await app.stop()
        return
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            await through()
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(r"gateway_cli", 30)
        print(by_package(stats, calls))
    # Both ways take turns in rounds, in this one process, so load hits them alike.
    per_round = max(1, calls // rounds)
    cpu: dict[str, list[float]] = {"through": [], "straight": []}
    for _ in range(rounds):
        for name, one in (("through", through), ("straight", straight)):
            start = time.process_time()
            for _ in range(per_round):
                await one()
            cpu[name].append((time.process_time() - start) / per_round * 1e6)
    through_us, straight_us = (statistics.median(cpu[k]) for k in ("through", "straight"))
    print(f"| {calls} calls in {rounds} alternating rounds | CPU us per tools/call (median "
          "of rounds) |\n|---|---|")
    print(f"| through the gateway's ASGI app (front door, endpoint, relay, client) | "
          f"{through_us:.0f} |")
    print(f"| the gateway's upstream client alone (Connection.call) | {straight_us:.0f} |")
    print(f"| the gateway's own work (difference) | {through_us - straight_us:.0f} |")
    await app.stop()


def _child_env() -> dict[str, str]:
    """The notes server runs outside valgrind even when this process runs under it."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-inspection", action="store_true",
                        help="[inspection] enabled = false: the screening's share")
    parser.add_argument("--marks", type=int, default=0,
                        help="N calls of each kind between getppid marks, then exit "
                             "(run by bench.mcp.count under callgrind)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        child = subprocess.Popen([sys.executable, "-m", "tests.mcp_servers.notes_server",
                                  "http", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL,
                                 env={**_child_env(), "NOTES_DIR": str(tmp)})
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url, timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the notes server did not start") from None
                    time.sleep(0.2)
            home = tmp / "home"
            home.mkdir(mode=0o700)
            asyncio.run(_run(args.calls, args.profile, args.rounds, url, home,
                             not args.no_inspection, args.marks))
        finally:
            child.terminate()
            child.wait(timeout=10)


if __name__ == "__main__":
    main()
