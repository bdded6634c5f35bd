"""The MCP gateway end to end: the official `mcp` SDK client -> the gateway process -> an
MCP server written with the SDK (stdio child and Streamable HTTP), with scopes, pins,
screening and the audit log checked from outside."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import TextContent
from pydantic import AnyUrl

from tests.conftest import ROOT, Gateway, stop_gateway
from tests.integration.mcp_helpers import approve, call, run_client, tool_names
from tests.integration.test_client_keys import Home, make_home
from tests.unit.guards.test_guard_secrets import with_crc

SCOPES = '["mcp:notes:read_*", "mcp:notes:echo", "mcp:notes:fetch_page", "mcp:notes:big", ' \
    '"mcp:notes:env_report", "mcp:notes:count", "mcp:notes:crash", ' \
    '"mcp:notes:add_tool", "mcp:notes:surprise", "mcp:notes:prompt/*", "mcp:notes:resource/*"]'


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Home, Path]]:
    tmp = tmp_path_factory.mktemp("mcp")
    home = make_home(tmp)
    home.env["GATEWAY_TEST_SECRET"] = "sk-gateway-own-environment-value"
    notes = tmp / "notes"
    notes.mkdir()
    (notes / "plan.txt").write_text("the plan")
    config = f"""
[mcp]
open_scopes = {SCOPES}
[mcp.servers.notes]
command = [{sys.executable!r}, "-m", "tests.mcp_servers.notes_server", "stdio"]
cwd = {str(ROOT)!r}
env = {{ NOTES_DIR = {str(notes)!r} }}
max_result_bytes = 4096
"""
    path = tmp / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    gateway = home.serve(tmp, config=config)
    yield gateway, home, notes
    stop_gateway(gateway)


def test_list_shows_only_granted_and_approved_tools(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    names = tool_names(gateway.url + "/mcp/notes")
    assert "read_note" in names and "echo" in names
    assert "write_note" not in names  # not granted: invisible
    aggregated = tool_names(gateway.url + "/mcp")
    assert "notes__read_note" in aggregated and "notes__write_note" not in aggregated


def test_granted_call_reaches_the_server(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    result = call(gateway.url + "/mcp/notes", "read_note", {"name": "plan"})
    assert not result.isError and result.content[0].text == "the plan"
    result = call(gateway.url + "/mcp", "notes__echo", {"text": "hi"})
    assert result.content[0].text == "hi"


def test_ungranted_call_is_refused_and_changes_nothing(
        setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, notes = setup
    with pytest.raises(McpError) as denied:
        call(gateway.url + "/mcp/notes", "write_note", {"name": "plan", "text": "owned"})
    assert "not available" in str(denied.value)
    with pytest.raises(McpError) as unknown:
        call(gateway.url + "/mcp/notes", "no_such_tool", {})
    assert str(unknown.value) == str(denied.value)  # the same answer: nothing is revealed
    assert (notes / "plan.txt").read_text() == "the plan"


def test_child_sees_only_its_configured_environment(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    seen = call(gateway.url + "/mcp/notes", "env_report", {}).content[0].text.split(",")
    assert set(seen) <= {"PATH", "HOME", "NOTES_DIR", "LC_CTYPE"}, seen
    assert "GATEWAY_TEST_SECRET" not in seen and "GATEWAY_HOME" not in seen


def test_secret_in_arguments_is_redacted_before_the_server(
        setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    secret = with_crc("ghp_")
    result = call(gateway.url + "/mcp/notes", "echo", {"text": f"token {secret} here"})
    echoed = result.content[0].text
    assert secret not in echoed and echoed.startswith("token ")


def test_indirect_injection_in_a_result_is_blocked(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    with pytest.raises(McpError) as blocked:
        call(gateway.url + "/mcp/notes", "fetch_page", {})
    assert "policy blocked this result (injection." in str(blocked.value)


def test_oversized_result_is_truncated_with_a_marker(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    result = call(gateway.url + "/mcp/notes", "big", {"size": 20000})
    texts = [c.text for c in result.content]
    assert "result truncated from" in texts[-1]
    assert sum(len(t) for t in texts) < 4096


def test_progress_is_relayed(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    seen: list[float] = []

    async def body(session: object) -> object:
        async def progress(done: float, total: float | None, message: str | None) -> None:
            seen.append(done)

        return await session.call_tool("count", {"n": 3},  # type: ignore[attr-defined]
                                       progress_callback=progress)

    result = run_client(gateway.url + "/mcp/notes", body)
    assert result.content[0].text == "counted to 3"  # type: ignore[attr-defined]
    assert seen == [1, 2, 3]


def test_prompts_and_resources_are_served(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup

    async def body(session: object) -> tuple[list[str], list[str], str]:
        prompts = [p.name for p in (await session.list_prompts()).prompts]  # type: ignore[attr-defined]
        resources = [str(r.uri) for r in (await session.list_resources()).resources]  # type: ignore[attr-defined]
        text = (await session.get_prompt("notes__summarise", {"name": "plan"})  # type: ignore[attr-defined]
                ).messages[0].content.text
        return prompts, resources, text

    prompts, resources, text = run_client(gateway.url + "/mcp", body)
    assert prompts == ["notes__summarise"]
    assert resources == ["mcp-gateway:notes/notes://readme"]
    assert text == "Summarise the note plan."


def test_prompt_messages_and_resource_contents_are_screened(
        setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    secret = with_crc("ghp_")

    async def prompt(session: ClientSession) -> str:
        got = await session.get_prompt("summarise", {"name": secret})
        content = got.messages[0].content
        return content.text if isinstance(content, TextContent) else ""

    text = run_client(gateway.url + "/mcp/notes", prompt)
    assert text.startswith("Summarise the note ") and secret not in text

    async def read(session: ClientSession) -> object:
        return await session.read_resource(AnyUrl("notes://page/evil"))

    with pytest.raises(McpError) as blocked:
        run_client(gateway.url + "/mcp/notes", read)
    assert "policy blocked this result (injection." in str(blocked.value)


def test_dying_server_is_an_error_then_restarted(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    with pytest.raises(McpError):
        call(gateway.url + "/mcp/notes", "crash", {})
    deadline = time.monotonic() + 20
    while True:
        try:
            assert call(gateway.url + "/mcp/notes", "echo", {"text": "back"}).content[0].text \
                == "back"
            break
        except McpError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_every_call_is_in_the_audit_log(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, home, _ = setup
    call(gateway.url + "/mcp/notes", "echo", {"text": "audited-text-never-logged"})
    log_file = home.path / "requests.jsonl"
    deadline = time.monotonic() + 10
    records: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        if log_file.exists():
            text = log_file.read_text()
            assert "audited-text-never-logged" not in text
            records = [json.loads(line) for line in text.splitlines()]
            if any(r["event"] == "mcp.call" and r["data"]["op"] == "tools/call"  # type: ignore[index]
                   and r["data"]["model"] == "echo" for r in records):  # type: ignore[index]
                break
        time.sleep(0.2)
    calls = [r["data"] for r in records if r["event"] == "mcp.call"
             and r["data"]["op"] == "tools/call"]  # type: ignore[index]
    echo = [c for c in calls if c["model"] == "echo"][-1]  # type: ignore[index]
    assert echo["deployment"] == "notes" and len(echo["arguments_sha256"]) == 64  # type: ignore[index]
    assert echo["principal_kind"] == "open" and echo["result_bytes"] > 0  # type: ignore[index]
    denied = [c for c in calls if c["error"] == "mcp_denied"]  # type: ignore[index]
    assert denied, "the refused write is recorded too"


def test_bad_inputs_get_jsonrpc_errors(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    url = gateway.url + "/mcp/notes"
    json_headers = {"content-type": "application/json",
                    "accept": "application/json, text/event-stream"}
    with httpx.Client(timeout=30) as client:
        def post(body: bytes, sid: str | None = None) -> httpx.Response:
            headers = dict(json_headers)
            if sid:
                headers["mcp-session-id"] = sid
            return client.post(url, content=body, headers=headers)

        bad = post(b'{"jsonrpc": "2.0", "id": 1, "method": ')
        assert bad.status_code == 400 and bad.json()["error"]["code"] == -32700
        batch = post(b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]')
        assert batch.json()["error"]["code"] == -32600
        assert "batch" in batch.json()["error"]["message"]
        dup = post(b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "method": "tools/list"}')
        assert dup.json()["error"]["code"] == -32700
        before = post(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}')
        assert before.status_code == 400 and "initialize" in before.json()["error"]["message"]
        unknown = post(b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', "nope")
        assert unknown.status_code == 404
        huge = post(b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "'
                    + b"a" * (5 * 1024 * 1024) + b'"}}')
        assert huge.status_code == 413 and huge.json()["error"]["code"] == -32600
        init = post(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "1999-01-01", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}).encode())
        assert init.json()["result"]["protocolVersion"] == "2025-11-25"
        sid = init.headers["mcp-session-id"]
        early = post(b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}', sid)
        assert early.json()["error"]["code"] == -32600
        assert post(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}',
                    sid).status_code == 202
        nomethod = post(b'{"jsonrpc": "2.0", "id": 3, "method": "tools/frobnicate"}', sid)
        assert nomethod.json()["error"]["code"] == -32601
        null_id = post(b'{"jsonrpc": "2.0", "id": null, "method": "ping"}', sid)
        assert null_id.json()["error"]["code"] == -32600
        ping = post(b'{"jsonrpc": "2.0", "id": 4, "method": "ping"}', sid)
        assert ping.json() == {"jsonrpc": "2.0", "id": 4, "result": {}}
        assert client.delete(url, headers={"mcp-session-id": sid}).status_code == 200
        gone = post(b'{"jsonrpc": "2.0", "id": 5, "method": "ping"}', sid)
        assert gone.status_code == 404
        for response in (bad, batch, before, unknown, huge, nomethod):
            assert "Traceback" not in response.text
    assert "Traceback" not in gateway.log()


def test_protected_resource_metadata(setup: tuple[Gateway, Home, Path]) -> None:
    gateway, _, _ = setup
    for path in ("/.well-known/oauth-protected-resource",
                 "/.well-known/oauth-protected-resource/mcp"):
        meta = httpx.get(gateway.url + path, timeout=10)
        assert meta.status_code == 200
        assert meta.json()["resource"] == gateway.url + "/mcp"
        assert meta.json()["bearer_methods_supported"] == ["header"]
    assert httpx.get(gateway.url + "/.well-known/other", timeout=10).status_code == 404


def test_list_changed_is_checked_and_passed_on(setup: tuple[Gateway, Home, Path]) -> None:
    """Runs last: it adds a tool to the shared server. The new tool is drift (not approved):
    recorded as an alert, not served, and the client's GET stream hears list_changed."""
    gateway, home, _ = setup
    heard: list[str] = []

    async def on_message(message: object) -> None:
        root = getattr(message, "root", None)
        if root is not None:
            heard.append(type(root).__name__)

    async def body(session: ClientSession) -> list[str]:
        await session.call_tool("add_tool", {})
        for _ in range(100):
            if "ToolListChangedNotification" in heard:
                break
            await asyncio.sleep(0.1)
        return sorted(t.name for t in (await session.list_tools()).tools)

    names = run_client(gateway.url + "/mcp/notes", body, message_handler=on_message)
    assert "ToolListChangedNotification" in heard
    assert "surprise" not in names and "echo" in names
    deadline = time.monotonic() + 10
    alerts: list[dict[str, object]] = []
    while time.monotonic() < deadline and not alerts:
        alerts = [json.loads(line)["data"] for line in
                  (home.path / "requests.jsonl").read_text().splitlines()
                  if '"mcp.alert"' in line]
        time.sleep(0.2)
    assert any(a["added"] == ["surprise"] for a in alerts), alerts
