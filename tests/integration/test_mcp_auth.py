"""The MCP endpoint behind client keys: no key is a 401 that points at the
protected-resource metadata; a key with no MCP scope reaches nothing (deny by default);
a session belongs to the key that opened it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import stop_gateway
from tests.integration.mcp_helpers import approve, notes_stdio
from tests.integration.test_client_keys import create_client, make_home

HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t",
                                                                        "version": "1"}}}


def test_keys_scopes_and_sessions(tmp_path: Path) -> None:
    home = make_home(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    config = '[mcp]\nopen_scopes = ["mcp:*:*"]\n' + notes_stdio("notes", notes)
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    alice, bob = create_client(home, "alice"), create_client(home, "bob")
    gateway = home.serve(tmp_path, config=config)
    url = gateway.url + "/mcp/notes"
    try:
        with httpx.Client(timeout=30) as client:
            anonymous = client.post(url, headers=HEADERS, json=INIT)
            assert anonymous.status_code == 401
            challenge = anonymous.headers["www-authenticate"]
            assert f'resource_metadata="{gateway.url}/.well-known/oauth-protected-resource"' \
                in challenge

            as_alice = {**HEADERS, "authorization": f"Bearer {alice}"}
            init = client.post(url, headers=as_alice, json=INIT)
            assert init.status_code == 200
            as_alice["mcp-session-id"] = init.headers["mcp-session-id"]
            client.post(url, headers=as_alice,
                        json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            # open_scopes are the open principal's only: a key without scopes gets nothing.
            listed = client.post(url, headers=as_alice,
                                 json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            assert listed.json()["result"]["tools"] == []
            called = client.post(url, headers=as_alice, json={
                "jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "x"}}})
            assert called.json()["error"]["code"] == -32001

            as_bob = {**as_alice, "authorization": f"Bearer {bob}"}
            stolen = client.post(url, headers=as_bob,
                                 json={"jsonrpc": "2.0", "id": 4, "method": "ping"})
            assert stolen.status_code == 404  # alice's session is not bob's
            assert client.delete(url, headers=as_bob).status_code == 404
            assert client.post(url, headers=as_alice, json={
                "jsonrpc": "2.0", "id": 5, "method": "ping"}).status_code == 200
    finally:
        stop_gateway(gateway)
