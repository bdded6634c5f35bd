"""Tool calls held for a person: `approval = [...]` tools wait for `gateway mcp approve-call`
over the control socket, and are denied on `--deny` or at the timeout."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import McpError

from tests.conftest import stop_gateway
from tests.integration.mcp_helpers import approve, call, notes_stdio
from tests.integration.test_client_keys import make_home

HELD = re.compile(r"MCP call ([0-9a-f]{16}) \((\w+) on notes")


def test_held_calls(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    config = '[mcp]\nopen_scopes = ["mcp:notes:*"]\n' + notes_stdio(
        "notes", notes, extra='approval = ["write_note", "echo"]\napproval_timeout = 3')
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    gateway = home.serve(tmp_path, config=config)
    url = gateway.url + "/mcp/notes"
    try:
        outcome: dict[str, Any] = {}

        def write() -> None:
            try:
                outcome["result"] = call(url, "write_note", {"name": "n", "text": "ok"})
            except McpError as err:
                outcome["error"] = err

        worker = threading.Thread(target=write)
        worker.start()
        deadline = time.monotonic() + 20
        while not HELD.search(gateway.log()) and time.monotonic() < deadline:
            time.sleep(0.1)
        call_id = HELD.search(gateway.log()).group(1)  # type: ignore[union-attr]
        assert not (notes / "n.txt").exists()  # nothing happens while it is held
        decided = home.run("mcp", "approve-call", call_id, store=False)
        assert decided.returncode == 0, decided.stderr
        worker.join(30)
        assert "result" in outcome and (notes / "n.txt").read_text() == "ok"
        again = home.run("mcp", "approve-call", call_id)
        assert again.returncode == 1 and "no running gateway holds" in again.stderr

        with pytest.raises(McpError, match="denied or not approved in time"):
            call(url, "echo", {"text": "waits and times out"})  # 3 s, nobody answers
        assert home.run("mcp", "approve-call", "not-an-id").returncode == 1
        _collision_and_cancel(url)
    finally:
        stop_gateway(gateway)


def _collision_and_cancel(url: str) -> None:
    """While a call is held: a second request with its id is refused, and a cancellation
    ends the held call with -32800."""
    headers = {"content-type": "application/json",
               "accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=30) as client:
        init = client.post(url, headers=headers, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
        headers["mcp-session-id"] = init.headers["mcp-session-id"]
        client.post(url, headers=headers,
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        held: dict[str, Any] = {}

        def hold() -> None:
            with httpx.Client(timeout=30) as other:
                held["answer"] = other.post(url, headers=headers, json={
                    "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "held"}}}).json()

        worker = threading.Thread(target=hold)
        worker.start()
        time.sleep(1.0)
        twin = client.post(url, headers=headers,
                           json={"jsonrpc": "2.0", "id": 7, "method": "ping"})
        assert twin.json()["error"]["code"] == -32600
        assert "already in flight" in twin.json()["error"]["message"]
        cancelled = client.post(url, headers=headers, json={
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 7, "reason": "changed my mind"}})
        assert cancelled.status_code == 202
        worker.join(10)
        assert held["answer"]["error"]["code"] == -32800
