"""Where the served gateway's CPU per MCP request goes, thread by thread and by what the
request does.

    .venv/bin/python -m bench.mcp.threads [--calls N] [--rounds R]

bench.mcp.run gives one number, the gateway process's CPU per tools/call; front_cost.py
gives the Python path in process, without Granian. This runs the real served process
(`gateway serve`, Granian's embedded server) and splits its CPU (Linux
/proc/PID/task/TID/schedstat, per thread, in nanoseconds) between the main thread (the
event loop: every line of the gateway's Python) and the other threads (Granian's Rust
I/O threads and the request log's writer), for requests that do more and more of the
MCP path, over one keep-alive connection:

- `health`: GET /health, the floor of a request (Granian, the front door, the request
  log), no authentication, no body;
- `ping`: an MCP `ping` on /mcp/http: authentication, the body, the JSON-RPC parse,
  the session, the endpoint's answer, no upstream;
- `list`: `tools/list`, which asks the upstream every time (pins compared anew);
- `call`: `tools/call echo`, as bench.mcp.run times it.

Each configuration (default; request log off; inspection off) is its own gateway;
every kind is run in R rounds of N/R requests taking turns, and the median of the rounds
is printed, so a load spike on a shared machine hits every kind alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.mcp.run import _session  # noqa: E402
from tests.conftest import free_port, stop_gateway  # noqa: E402
from tests.integration.test_client_keys import make_home  # noqa: E402

CONFIGS = {"default": "", "request log off": "[audit]\nenabled = false",
           "inspection off": "[inspection]\nenabled = false"}
KINDS = ("health", "ping", "list", "call")


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of each thread of `pid`, by thread id: the scheduler's own count in
    nanoseconds (schedstat), not /proc's stat in clock ticks, which steps by 10 ms."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            ran = (task / "schedstat").read_text().split()[0]
        except OSError:  # a thread that ended meanwhile
            continue
        out[int(task.name)] = int(ran) / 1e9
    return out


def requests(client: httpx.Client, url: str, headers: dict[str, str]
             ) -> dict[str, Callable[[int], None]]:
    def health(_: int) -> None:
        assert client.get(url + "/health").status_code == 200

    def rpc(method: str, params: dict[str, object] | None, expect: str) -> Callable[[int], None]:
        def one(i: int) -> None:
            body: dict[str, object] = {"jsonrpc": "2.0", "id": i, "method": method}
            if params is not None:
                body["params"] = params
            answer = client.post(url + "/mcp/http", headers=headers, json=body)
            assert answer.status_code == 200 and expect in answer.text, answer.text[:300]
        return one

    return {"health": health, "ping": rpc("ping", None, '"result"'),
            "list": rpc("tools/list", None, '"echo"'),
            "call": rpc("tools/call", {"name": "echo",
                                       "arguments": {"text": "hello from the bench"}},
                        "hello from the bench")}


def measure(gateway_url: str, pid: int, calls: int, rounds: int
            ) -> dict[str, tuple[float, float]]:
    """Per kind, the median over rounds of (main thread, other threads) CPU us/request."""
    per_round = max(1, calls // rounds)
    seen: dict[str, list[tuple[float, float]]] = {k: [] for k in KINDS}
    with httpx.Client(timeout=30) as client:
        headers = _session(client, gateway_url + "/mcp/http")
        kinds = requests(client, gateway_url, headers)
        for kind in KINDS:  # warm-up
            for i in range(20):
                kinds[kind](i + 1)
        for _ in range(rounds):
            for kind in KINDS:
                before = thread_cpu(pid)
                for i in range(per_round):
                    kinds[kind](i + 1)
                after = thread_cpu(pid)
                main = (after.get(pid, 0.0) - before.get(pid, 0.0)) / per_round * 1e6
                rest = sum(v - before.get(t, 0.0) for t, v in after.items() if t != pid)
                seen[kind].append((main, rest / per_round * 1e6))
    return {k: (statistics.median(m for m, _ in v), statistics.median(o for _, o in v))
            for k, v in seen.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000, help="requests per kind")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        port = free_port()
        upstream = subprocess.Popen([sys.executable, "-m", "tests.mcp_servers.notes_server",
                                     "http", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    env={**os.environ, "NOTES_DIR": str(tmp)})
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
            home = make_home(tmp)
            for name, extra in CONFIGS.items():
                config = f"""
[server]
log_level = "warning"
access_log = false
{extra}
[mcp]
open_scopes = ["mcp:http:echo"]
[mcp.servers.http]
url = "{url}"
"""
                (tmp / "gateway.toml").write_text(config)
                done = home.run("mcp", "approve", "http", "--yes", "--config",
                                str(tmp / "gateway.toml"), store=True, timeout=120)
                assert done.returncode == 0, done.stderr
                gateway = home.serve(tmp, config=config)
                try:
                    results[name] = measure(gateway.url, gateway.process.pid, args.calls,
                                            args.rounds)
                finally:
                    stop_gateway(gateway)
        finally:
            upstream.terminate()
            upstream.wait(timeout=10)
    print(f"| gateway CPU us per request (median of {args.rounds} rounds, "
          f"{args.calls} per kind) | " + " | ".join(KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for name, kinds in results.items():
        for part, pick in (("main thread", 0), ("other threads", 1)):
            print(f"| {name}: {part} | "
                  + " | ".join(f"{kinds[k][pick]:.0f}" for k in KINDS) + " |")
        print(f"| {name}: whole process | "
              + " | ".join(f"{sum(kinds[k]):.0f}" for k in KINDS) + " |")


if __name__ == "__main__":
    main()
