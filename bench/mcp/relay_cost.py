"""The MCP relay's own Python work for one tools/call, in process: no HTTP, no Granian,
no upstream (its answer is given at once), so what is timed is parsing, scopes, the pin
check, argument and result screening and the answer.

    .venv/bin/python -m bench.mcp.relay_cost [--calls N] [--profile]

The result is the small `echo` answer FastMCP sends (its text both as content and as
structuredContent). `--profile` prints cProfile's top functions instead of timing alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_cli.config import InspectionConfig, McpConfig, McpServerConfig
from gateway_cli.keys.principal import OPEN
from gateway_cli.mcp import jsonrpc, pins
from gateway_cli.mcp.relay import Relay
from gateway_cli.mcp.sessions import Sessions
from gateway_cli.request.trace import Trace

TOOL = {"name": "echo", "description": "Echo the text back.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}
RESULT = {"content": [{"type": "text", "text": "hello from the bench"}],
          "structuredContent": {"result": "hello from the bench"}, "isError": False}
BODY = (b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"text":"hello from the bench"}}}')


async def _run(calls: int, profile: bool) -> None:
    home = Path(tempfile.mkdtemp())
    config = McpConfig(open_scopes=["mcp:http:echo"],
                       servers={"http": McpServerConfig(url="http://127.0.0.1:9/mcp")})
    inspection = InspectionConfig()
    relay = Relay(config, config.servers, home=home, store=None,
                  inspection=lambda: inspection)
    key = ("pbench", b"k" * 32)
    pins.save(home, pins.make("http", [TOOL], "now"), key)
    relay.pins.key = key
    server = relay.servers["http"]
    relay.pins.read(server)

    async def answer(method: str, params: Any = None, **_: Any) -> dict[str, Any]:
        if method == "tools/list":
            return {"result": {"tools": [TOOL]}}
        return {"jsonrpc": "2.0", "id": 1, "result": RESULT}

    server.connection.call = answer  # type: ignore[method-assign]
    session = Sessions(10, 3600).open(OPEN.id, "http", "2025-11-25")
    assert session is not None
    session.initialized = True

    async def emit(_: dict[str, Any]) -> None:
        return None

    async def one() -> dict[str, Any]:
        message = jsonrpc.parse(BODY)
        assert isinstance(message, jsonrpc.Message)
        return await relay.handle(session, message, OPEN,
                                  Trace("r", "POST", "/mcp/http", "-"), emit)

    assert (await one())["result"] == RESULT
    for _ in range(200):
        await one()
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    for _ in range(calls):
        await one()
    elapsed = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    print(f"relay work per tools/call: {elapsed / calls * 1e6:.0f} us ({calls} calls)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    asyncio.run(_run(args.calls, args.profile))


if __name__ == "__main__":
    main()
