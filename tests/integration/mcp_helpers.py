"""Helpers for the MCP gateway tests: a config for the SDK-written notes server, the
official `mcp` SDK client through the gateway, and `gateway mcp` commands."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

from tests.conftest import ROOT
from tests.integration.test_client_keys import Home

T = TypeVar("T")


def notes_stdio(name: str, notes: Path, *, extra: str = "", env: str = "") -> str:
    return f"""
[mcp.servers.{name}]
command = [{sys.executable!r}, "-m", "tests.mcp_servers.notes_server", "stdio"]
cwd = {str(ROOT)!r}
env = {{ NOTES_DIR = {str(notes)!r}{env} }}
{extra}
"""


def run_client(url: str, body: Callable[[ClientSession], Awaitable[T]],
               headers: dict[str, str] | None = None, **session_options: Any) -> T:
    async def main() -> T:
        async with streamablehttp_client(url, headers=headers, timeout=30) as (read, write, _), \
                ClientSession(read, write, read_timeout_seconds=timedelta(seconds=60),
                              **session_options) as session:
            await session.initialize()
            return await body(session)

    try:
        return asyncio.run(main())
    except BaseExceptionGroup as group:  # anyio's task group wraps the SDK's McpError
        errors = [e for e in _leaves(group) if isinstance(e, McpError)]
        if errors:
            raise errors[0] from None
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:  # type: ignore[type-arg]
    out: list[BaseException] = []
    for error in group.exceptions:
        out += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return out


def tool_names(url: str, headers: dict[str, str] | None = None) -> list[str]:
    async def body(session: ClientSession) -> list[str]:
        return sorted(t.name for t in (await session.list_tools()).tools)

    return run_client(url, body, headers)


def call(url: str, tool: str, arguments: dict[str, Any],
         headers: dict[str, str] | None = None) -> Any:
    async def body(session: ClientSession) -> Any:
        return await session.call_tool(tool, arguments)

    return run_client(url, body, headers)


def approve(home: Home, config: Path, server: str) -> str:
    result = home.run("mcp", "approve", server, "--yes", "--config", str(config), store=True,
                      timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


NPM_BIN = ROOT / "tests" / "npm" / "mcp-servers" / "node_modules" / ".bin"


def npm_server(name: str) -> str:
    """An MCP server from tests/npm/mcp-servers (`npm ci` there); skip without it, but fail
    under CI, like the suite's other programs."""
    import pytest

    from tests.conftest import IN_CI

    path = NPM_BIN / name
    if not path.exists():
        reason = f"{name} is not installed (npm ci --prefix tests/npm/mcp-servers)"
        if IN_CI:
            pytest.fail(f"{reason}; under CI a missing program is a failure")
        pytest.skip(reason)
    return str(path)
