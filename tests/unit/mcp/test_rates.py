"""Which `[mcp.servers.NAME] rate` entry applies to a tool, the counter it takes, the
refusal's text, and config errors for a bad entry."""

from __future__ import annotations

import tomllib

import pytest

from gateway_cli.config import McpServerConfig, parse_config
from gateway_cli.errors import GatewayError
from gateway_cli.limits.model import Refused
from gateway_cli.mcp import rates


def _server(**fields: object) -> McpServerConfig:
    return McpServerConfig(command=["x"], **fields)  # type: ignore[arg-type]


def test_exact_name_then_most_specific_pattern_then_default() -> None:
    config = _server(rate={"*": 100, "write_*": 10, "write_file": 2, "*_file": 5},
                     rate_default=1000)
    assert rates.rate_for(config, "write_file") == rates.Rate("write_file", 2)
    assert rates.rate_for(config, "write_note") == rates.Rate("write_*", 10)
    assert rates.rate_for(config, "read_file") == rates.Rate("*_file", 5)
    assert rates.rate_for(config, "list") == rates.Rate("*", 100)
    assert rates.rate_for(_server(rate_default=7), "x") == rates.Rate("default", 7)
    assert rates.rate_for(_server(), "anything") is None


def test_counter_is_per_caller_per_tool_and_holds_no_content() -> None:
    counter = rates.counter("fs", "write_file", "c_1234", rates.Rate("write_*", 10))
    assert counter.key == "mcp:fs:write_file:c_1234:calls"
    assert counter.period == "minute" and counter.amount == 1 and counter.limit == 10
    assert "write_*" in counter.label and "'fs'" in counter.label


def test_refusal_names_the_limit_and_the_reset() -> None:
    counter = rates.counter("fs", "write_file", "open", rates.Rate("write_*", 10))
    text, data = rates.refusal(Refused(counter, 10, resets_at=1_800_000_060.0), 1_800_000_017.5)
    assert text.startswith("rate limit reached: calls per minute to tool 'write_file'")
    assert "resets in 43 s (at 2027-01-15T08:01:00Z)" in text
    assert data == {"limit": counter.label, "perMinute": 10, "retryAfterSeconds": 43,
                    "resetsAt": "2027-01-15T08:01:00Z"}


@pytest.mark.parametrize("entry, problem", [
    ('rate = { "bad name!" = 3 }', "is not a tool name or a pattern"),
    ('rate = { "echo" = 0 }', ">= 1"),
    ("rate_default = -1", ">= 1"),
])
def test_bad_rate_entries_are_config_errors(entry: str, problem: str) -> None:
    with pytest.raises(GatewayError) as err:
        parse_config(tomllib.loads(f"[mcp.servers.fs]\ncommand = [\"x\"]\n{entry}\n"))
    assert problem in str(err.value)
