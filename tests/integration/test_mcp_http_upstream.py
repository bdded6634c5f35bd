"""The MCP gateway in front of a Streamable HTTP MCP server (written with the `mcp` SDK):
the gateway presents its own credential from the secret store, never the client's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from pydantic import AnyUrl

from tests.conftest import ROOT, free_port, stop_gateway
from tests.integration.mcp_helpers import approve, call, run_client, tool_names
from tests.integration.test_client_keys import make_home
from tests.unit.guards.test_guard_secrets import with_crc

UPSTREAM_TOKEN = "notes-upstream-" + "t" * 24
LEAKED = with_crc("ghp_")


def test_http_upstream_with_the_gateways_own_credential(tmp_path: Path) -> None:
    port = free_port()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "plan.txt").write_text("the plan")
    env = {**os.environ, "NOTES_TOKEN": UPSTREAM_TOKEN, "NOTES_DIR": str(notes),
           "NOTES_LEAK": LEAKED}
    upstream = subprocess.Popen([sys.executable, "-m", "tests.mcp_servers.notes_server", "http",
                                 str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the notes server did not start")
                time.sleep(0.2)
        home = make_home(tmp_path)
        added = home.run("keys", "add", "notes-mcp", input=UPSTREAM_TOKEN + "\n", store=True)
        assert added.returncode == 0, added.stderr
        config = f"""
[mcp]
open_scopes = ["mcp:notes:read_*", "mcp:notes:echo", "mcp:notes:resource/*"]
[mcp.servers.notes]
url = "http://localhost:{port}/mcp"  # a name: cookie jars keep cookies for names
secret = "store:notes-mcp"
"""
        path = tmp_path / "gateway.toml"
        path.write_text(config)
        approve(home, path, "notes")
        gateway = home.serve(tmp_path, config=config)
        try:
            url = gateway.url + "/mcp/notes"
            assert tool_names(url) == ["echo", "read_note"]
            # A client's own bearer token is not passed on: the upstream would refuse it.
            headers = {"authorization": "Bearer client-token-that-upstream-must-not-see"}
            assert call(url, "read_note", {"name": "plan"}, headers).content[0].text \
                == "the plan"
            _upstream_errors_are_screened(url)
            assert UPSTREAM_TOKEN not in gateway.log() and LEAKED not in gateway.log()
        finally:
            stop_gateway(gateway)
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)


def _upstream_errors_are_screened(url: str) -> None:
    """The upstream's own JSON-RPC error text goes through the same screening as a result:
    its credential (any format: the gateway knows it) and a token-shaped secret redacted,
    an injection withheld per policy."""
    def reading(uri: str) -> Callable[[ClientSession], Awaitable[object]]:
        async def body(session: ClientSession) -> object:
            return await session.read_resource(AnyUrl(uri))

        return body

    with pytest.raises(McpError) as leaked:
        run_client(url, reading("notes://lookup/credential"))
    text = leaked.value.error.message
    assert "lookup failed: sent Authorization: Bearer " in text
    assert UPSTREAM_TOKEN not in text and "[redacted: the server's own credential]" in text
    assert LEAKED not in text and LEAKED[:4] in text  # the secret guard's mask keeps the kind
    with pytest.raises(McpError) as injected:
        run_client(url, reading("notes://lookup/anything"))
    text = injected.value.error.message
    assert "error the gateway's policy withheld (injection." in text
    assert "Ignore all previous" not in text and "evil.example" not in text


def test_wrong_credential_is_an_upstream_error_not_a_crash(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    port = free_port()  # nothing listens there
    config = f"""
[mcp]
open_scopes = ["mcp:down:*"]
[mcp.servers.down]
url = "http://127.0.0.1:{port}/mcp"
"""
    gateway = home.serve(tmp_path, config=config)
    try:
        with httpx.Client(timeout=30) as client:
            headers = {"content-type": "application/json",
                       "accept": "application/json, text/event-stream"}
            init = client.post(gateway.url + "/mcp/down", headers=headers, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-11-25", "capabilities": {},
                    "clientInfo": {"name": "t", "version": "1"}}})
            headers["mcp-session-id"] = init.headers["mcp-session-id"]
            client.post(gateway.url + "/mcp/down", headers=headers,
                        json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            listed = client.post(gateway.url + "/mcp/down", headers=headers,
                                 json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            assert listed.json()["error"]["code"] == -32002
            assert "cannot be reached" in listed.json()["error"]["message"]
        assert "Traceback" not in gateway.log()
    finally:
        stop_gateway(gateway)
