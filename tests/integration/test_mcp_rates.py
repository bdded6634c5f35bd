"""Per-tool call rates through the real gateway, the official `mcp` SDK client and the
SDK-written notes server: counted per caller per tool in the limits store, so a restarted
gateway (SQLite) and two gateways (a real redis-server) go on with one count; a refusal
is a JSON-RPC error that names the limit and when it resets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import McpError

from tests.conftest import Gateway, clear_of_minute_edge, stop_gateway
from tests.fakes.redis_server import RedisServer, redis_running
from tests.integration.mcp_helpers import approve, call, notes_stdio, tool_names
from tests.integration.test_client_keys import Home, make_home

OPEN = '[mcp]\nopen_scopes = ["mcp:notes:*"]\n'
RATE_LIMITED = -32004


def _refused(url: str, tool: str, arguments: dict[str, object]) -> McpError:
    with pytest.raises(McpError) as refused:
        call(url, tool, arguments)
    return refused.value


def _setup(tmp: Path, limits: str, rate: str) -> tuple[Gateway, Home, str]:
    tmp.mkdir(exist_ok=True)
    home = make_home(tmp)
    notes = tmp / "notes"
    notes.mkdir()
    (notes / "plan.txt").write_text("the plan")
    config = OPEN + limits + notes_stdio("notes", notes, extra=rate)
    path = tmp / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    return home.serve(tmp, config=config), home, config


def test_rates_per_tool_counted_in_the_sqlite_store(tmp_path: Path) -> None:
    """Counted in the store, not the process: a restarted gateway goes on with the count
    (MCP sessions live in one worker, so `--workers` cannot be shown with one client)."""
    gateway, home, config = _setup(tmp_path, '[limits]\nstore = "sqlite"\n',
                                   'rate = { "echo" = 3, "read_*" = 2, "*note" = 50 }')
    url = gateway.url + "/mcp/notes"
    clear_of_minute_edge()
    try:
        for i in range(2):
            assert call(url, "echo", {"text": f"n{i}"}).content[0].text == f"n{i}"
    finally:
        stop_gateway(gateway)
    gateway = home.serve(tmp_path, config=config)
    try:
        _check_rates(gateway)
    finally:
        stop_gateway(gateway)


def _check_rates(gateway: Gateway) -> None:
    url = gateway.url + "/mcp/notes"
    assert call(url, "echo", {"text": "n2"}).content[0].text == "n2"
    refused = _refused(url, "echo", {"text": "one too many"})
    assert refused.error.code == RATE_LIMITED
    assert "calls per minute to tool 'echo' of MCP server 'notes' (rate 'echo') is 3" \
        in refused.error.message
    assert "resets in" in refused.error.message
    data = refused.error.data
    assert isinstance(data, dict) and data["perMinute"] == 3
    assert 1 <= data["retryAfterSeconds"] <= 60 and data["resetsAt"].endswith("Z")
    # read_note: "read_*" is more specific than "*note"; its own count, not echo's.
    for _ in range(2):
        assert call(url, "read_note", {"name": "plan"}).content[0].text == "the plan"
    assert "(rate 'read_*') is 2" in _refused(url, "read_note", {"name": "plan"}).error.message
    # A tool no rate names is not limited.
    for _ in range(5):
        call(url, "env_report", {})
    assert "Traceback" not in gateway.log()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    yield from redis_running(workdir)


def test_two_workers_share_sessions_and_rates(tmp_path: Path) -> None:
    """`serve --workers 2`: a client's requests reach either worker (each SDK client opens
    more than one connection), its session goes on, and the rate counted in the store the
    workers share (SQLite, in place of the per-process memory store) holds exactly."""
    home = make_home(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    config = OPEN + notes_stdio("notes", notes, extra='rate = { "echo" = 4 }')
    path = tmp_path / "gateway.toml"
    path.write_text(config)
    approve(home, path, "notes")
    gateway = home.serve(tmp_path, "--workers", "2", config=config)
    try:
        url = gateway.url + "/mcp/notes"
        clear_of_minute_edge()
        for _ in range(3):
            assert "echo" in tool_names(url)
        answers = []
        for i in range(6):
            try:
                answers.append(call(url, "echo", {"text": f"n{i}"}).content[0].text)
            except McpError as err:
                assert err.error.code == RATE_LIMITED, err
                answers.append("refused")
        assert answers == ["n0", "n1", "n2", "n3", "refused", "refused"]
        assert "Traceback" not in gateway.log()
    finally:
        stop_gateway(gateway)


def test_two_gateways_share_a_rate_through_redis(redis: RedisServer, tmp_path: Path) -> None:
    limits = f'[limits]\nstore = "redis"\nredis_url = "redis://127.0.0.1:{redis.port}/0"\n'
    rate = "rate_default = 2"
    one, _, _ = _setup(tmp_path / "one", limits, rate)
    try:
        two, _, _ = _setup(tmp_path / "two", limits, rate)
    except BaseException:
        stop_gateway(one)
        raise
    try:
        clear_of_minute_edge()
        assert call(one.url + "/mcp/notes", "echo", {"text": "a"}).content[0].text == "a"
        assert call(two.url + "/mcp/notes", "echo", {"text": "b"}).content[0].text == "b"
        for gateway in (one, two):
            refused = _refused(gateway.url + "/mcp", "notes__echo", {"text": "c"})
            assert refused.error.code == RATE_LIMITED
            assert "(rate 'default') is 2" in refused.error.message
        # Another tool has its own count under the default.
        assert call(two.url + "/mcp/notes", "read_note", {"name": "plan"}).content[0].text \
            == "the plan"
    finally:
        stop_gateway(one)
        stop_gateway(two)
