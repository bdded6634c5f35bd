"""MCP series in /metrics, read from a real gateway process after calls made with the
official `mcp` SDK client to an SDK-written stdio server: calls by server, tool and
outcome, their latency, and the child's health and restarts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp.shared.exceptions import McpError

from tests.conftest import Gateway, stop_gateway
from tests.integration.mcp_helpers import approve, call, notes_stdio
from tests.integration.test_client_keys import make_home

SCOPES = '["mcp:notes:echo", "mcp:notes:fetch_page", "mcp:notes:big", "mcp:notes:crash", ' \
    '"mcp:notes:prompt/*"]'
_SAMPLE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\S+)$')


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("mcp-metrics")
    home = make_home(tmp)
    notes = tmp / "notes"
    notes.mkdir()
    config = f"[mcp]\nopen_scopes = {SCOPES}\n" + notes_stdio(
        "notes", notes, extra='max_result_bytes = 2048\noversize = "block"')
    path = Path(tmp / "gateway.toml")
    path.write_text(config)
    approve(home, path, "notes")
    served = home.serve(tmp, config=config)
    yield served
    stop_gateway(served)


def scrape(gateway: Gateway) -> dict[str, float]:
    """Every sample on the page, keyed by name and labels as written."""
    page = httpx.get(gateway.url + "/metrics", timeout=10)
    assert page.status_code == 200, page.text
    out: dict[str, float] = {}
    for line in page.text.splitlines():
        if line.startswith("#") or not line:
            continue
        matched = _SAMPLE.match(line)
        assert matched is not None, line
        out[matched[1] + (matched[2] or "")] = float(matched[3])
    return out


def calls(tool: str, outcome: str, method: str = "tools/call", server: str = "notes") -> str:
    return (f'gateway_mcp_calls_total{{server="{server}",tool="{tool}",method="{method}",'
            f'outcome="{outcome}"}}')


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_calls_are_counted_by_tool_and_outcome(gateway: Gateway) -> None:
    url = gateway.url + "/mcp/notes"
    before = scrape(gateway)
    for text in ("a", "b"):
        assert call(url, "echo", {"text": text}).content[0].text == text
    assert call(gateway.url + "/mcp", "notes__echo", {"text": "c"}).content[0].text == "c"
    with pytest.raises(McpError):
        call(url, "write_note", {"name": "x", "text": "y"})  # pinned, not granted
    with pytest.raises(McpError):
        call(url, "no_such_tool_" + "z" * 40, {})  # the client's own name: never a label
    with pytest.raises(McpError):
        call(gateway.url + "/mcp", "elsewhere__echo", {})  # no such server
    with pytest.raises(McpError):
        call(url, "fetch_page", {})  # an injection in the result
    with pytest.raises(McpError):
        call(url, "big", {"size": 5000})  # over max_result_bytes, oversize = "block"
    after = scrape(gateway)
    assert moved(before, after, calls("notes__echo", "ok")) == 3
    assert moved(before, after, calls("notes__write_note", "denied")) == 1
    assert moved(before, after, calls("other", "denied")) == 1
    assert moved(before, after, calls("", "denied", server="other")) == 0
    assert moved(before, after, calls("other", "denied", server="other")) == 1
    assert moved(before, after, calls("notes__fetch_page", "blocked")) == 1
    assert moved(before, after, calls("notes__big", "too_large")) == 1
    assert not any("no_such_tool" in key or "elsewhere" in key for key in after)
    count = 'gateway_mcp_call_duration_seconds_count{server="notes"}'
    assert moved(before, after, count) == 7
    assert moved(before, after, 'gateway_mcp_call_duration_seconds_count{server="other"}') \
        == 1
    assert after['gateway_mcp_call_duration_seconds_sum{server="notes"}'] \
        > before.get('gateway_mcp_call_duration_seconds_sum{server="notes"}', 0.0)


def test_prompts_are_counted_without_a_tool_label(gateway: Gateway) -> None:
    from tests.integration.mcp_helpers import run_client

    async def body(session: object) -> object:
        return await session.get_prompt("summarise", {"name": "plan"})  # type: ignore[attr-defined]

    before = scrape(gateway)
    run_client(gateway.url + "/mcp/notes", body)
    after = scrape(gateway)
    assert moved(before, after, calls("", "ok", method="prompts/get")) == 1


def test_a_dying_child_shows_as_down_then_restarted(gateway: Gateway) -> None:
    url = gateway.url + "/mcp/notes"
    call(url, "echo", {"text": "up"})
    up = 'gateway_mcp_server_up{server="notes",transport="stdio"}'
    restarts = 'gateway_mcp_server_restarts_total{server="notes"}'
    before = scrape(gateway)
    assert before[up] == 1
    with pytest.raises(McpError):
        call(url, "crash", {})
    deadline = time.monotonic() + 10
    while scrape(gateway)[up] != 0:
        assert time.monotonic() < deadline, "the dead child still shows as up"
        time.sleep(0.1)
    middle = scrape(gateway)
    assert moved(before, middle, calls("notes__crash", "unavailable")) == 1
    deadline = time.monotonic() + 20
    while True:
        try:
            call(url, "echo", {"text": "back"})
            break
        except McpError:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    after = scrape(gateway)
    assert after[up] == 1
    assert moved(before, after, restarts) == 1
    assert after['gateway_mcp_server_failures{server="notes"}'] == 0
    assert after["gateway_mcp_calls_held"] == 0
