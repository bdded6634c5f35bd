"""MCP gateway overhead: one tool call straight to a Streamable HTTP MCP server versus the
same call through the gateway, and the same call to a stdio server through the gateway.

    .venv/bin/python -m bench.mcp.run [--calls N] [--no-audit] [--profile FILE [--py-spy PATH]]

Starts (and stops) the SDK-written notes server (tests/mcp_servers/notes_server.py) on
loopback, a gateway in front of it (open scope for `echo`, pins approved in a throwaway
state directory with an encrypted-file store), then times N sequential `tools/call echo`
requests over one keep-alive connection each way (raw JSON-RPC with httpx), direct and
through the gateway taking turns call by call, after a warm-up. CPU per call is the
gateway process's user+system time over the run (/proc, Linux), divided by N. Prints one
markdown table.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, stop_gateway  # noqa: E402
from tests.integration.test_client_keys import make_home  # noqa: E402

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _session(client: httpx.Client, url: str) -> dict[str, str]:
    init = client.post(url, headers=HEADERS, json={
        "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "bench", "version": "1"}}})
    init.raise_for_status()
    headers = {**HEADERS, "mcp-session-id": init.headers["mcp-session-id"],
               "mcp-protocol-version": "2025-11-25"}
    client.post(url, headers=headers, json={"jsonrpc": "2.0",
                                            "method": "notifications/initialized"})
    return headers


def _times(urls: list[str], calls: int) -> list[list[float]]:
    """Per URL, the latency of each call; the URLs take turns call by call, so a load
    spike on this shared machine hits every path alike."""
    out: list[list[float]] = [[] for _ in urls]
    with httpx.Client(timeout=30) as client:
        sessions = [_session(client, url) for url in urls]
        body = {"jsonrpc": "2.0", "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hello from the bench"}}}
        for i in range(calls + 20):
            for n, (url, headers) in enumerate(zip(urls, sessions, strict=True)):
                start = time.perf_counter()
                answer = client.post(url, headers=headers, json={**body, "id": i + 1})
                elapsed = time.perf_counter() - start
                assert "hello from the bench" in answer.text, answer.text[:300]
                if i >= 20:
                    out[n].append(elapsed)
    return out


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE",
                        help="also record the gateway's stacks (HTTP path) with py-spy into "
                             "FILE (collapsed stacks); py-spy from --py-spy or PATH")
    parser.add_argument("--py-spy", default="py-spy", metavar="PATH")
    parser.add_argument("--event-loop", choices=("auto", "uvloop", "asyncio"), default="auto",
                        help="the gateway's [server] event_loop (default: its own choice)")
    parser.add_argument("--no-audit", action="store_true",
                        help="run the gateway with [audit] enabled = false, to see the "
                             "request log's share of the CPU per call")
    args = parser.parse_args()
    calls = args.calls
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        upstream = subprocess.Popen([sys.executable, "-m", "tests.mcp_servers.notes_server",
                                     "http", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    env={**os.environ, "NOTES_DIR": str(tmp)})
        gateway = None
        try:
            direct_url = f"http://127.0.0.1:{port}/mcp"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(direct_url, timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the notes server did not start") from None
                    time.sleep(0.2)
            home = make_home(tmp)
            config = f"""
[server]
log_level = "warning"
access_log = false
event_loop = "{args.event_loop}"
{"[audit]" + chr(10) + "enabled = false" if args.no_audit else ""}
[mcp]
open_scopes = ["mcp:http:echo", "mcp:stdio:echo"]
[mcp.servers.http]
url = "{direct_url}"
[mcp.servers.stdio]
command = [{sys.executable!r}, "-m", "tests.mcp_servers.notes_server", "stdio"]
cwd = {str(ROOT)!r}
"""
            (tmp / "gateway.toml").write_text(config)
            for name in ("http", "stdio"):
                done = home.run("mcp", "approve", name, "--yes", "--config",
                                str(tmp / "gateway.toml"), store=True, timeout=120)
                assert done.returncode == 0, done.stderr
            gateway = home.serve(tmp, config=config)
            spy = None
            if args.profile is not None:
                spy = subprocess.Popen([args.py_spy, "record", "--subprocesses", "--format",
                                        "raw", "--rate", "500", "-o", str(args.profile),
                                        "-p", str(gateway.process.pid)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1)
            cpu0 = _cpu(gateway.process.pid)
            direct, through = _times([direct_url, gateway.url + "/mcp/http"], calls)
            cpu_http = (_cpu(gateway.process.pid) - cpu0) / (calls + 20) * 1000
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            cpu0 = _cpu(gateway.process.pid)
            [stdio] = _times([gateway.url + "/mcp/stdio"], calls)
            cpu_stdio = (_cpu(gateway.process.pid) - cpu0) / (calls + 20) * 1000
        finally:
            if gateway is not None:
                stop_gateway(gateway)
            upstream.terminate()
            upstream.wait(timeout=10)
    print(f"| path ({calls} sequential tools/call, 1 connection) | p50 ms | p90 ms | "
          "gateway CPU ms/call |")
    print("|---|---|---|---|")
    print(f"| direct to the Streamable HTTP server | {_p(direct, 50):.2f} | "
          f"{_p(direct, 90):.2f} | - |")
    print(f"| through the gateway to it | {_p(through, 50):.2f} | {_p(through, 90):.2f} | "
          f"{cpu_http:.2f} |")
    print(f"| through the gateway to a stdio server | {_p(stdio, 50):.2f} | "
          f"{_p(stdio, 90):.2f} | {cpu_stdio:.2f} |")
    paired = [t - d for t, d in zip(through, direct, strict=True)]
    print(f"\nadded at p50 (HTTP upstream): {_p(through, 50) - _p(direct, 50):+.2f} ms; "
          f"median of the paired differences: {statistics.median(paired) * 1000:+.2f} ms")


if __name__ == "__main__":
    main()
