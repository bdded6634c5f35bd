"""The anthropic-beta table for OpenAI-format providers (pure): names, and use found where a
request can hide it."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_cli.translate import anthropic_betas as b
from gateway_cli.translate.errors import TranslationError

BASE: dict[str, Any] = {"model": "m", "max_tokens": 8,
                        "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("value", "name"), [
    ("files-api-2025-04-14", "files-api"), (" Claude-Code-20250219 ", "claude-code"),
    ("context-1m-2025-08-07", "context-1m"), ("no-date", "no-date")])
def test_beta_names_lose_their_dates(value: str, name: str) -> None:
    assert b.beta_name(value) == name


def test_every_row_says_why_and_every_use_names_a_known_beta() -> None:
    assert all(row.why for row in b.BETAS.values())
    used = {beta for _, _, beta in (*b.TOOL_TYPES, *b.FIELDS)} | {
        beta for _, beta in b.BLOCK_TYPES.values()} | {"context-management"}
    assert used <= {name for name, row in b.BETAS.items() if row.effect == "provider"}


def test_named_splits_a_header() -> None:
    assert b.named("a-1, b-2,,") == ["a-1", "b-2"] and b.named(None) == []


def test_betas_named_but_unused_pass() -> None:
    b.check(",".join(f"{name}-2025-01-01" for name in b.BETAS), dict(BASE))


def test_a_file_source_inside_a_tool_result_is_found() -> None:
    body = {**BASE, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [
            {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}]}
    with pytest.raises(TranslationError, match=r"messages\.0\.content\.0\.content\.0\.source"):
        b.check(None, body)


@pytest.mark.parametrize("value", [None, [], {}])
def test_empty_platform_fields_are_no_use(value: Any) -> None:
    b.check("mcp-client-2025-04-04", {**BASE, "mcp_servers": value})


def test_unknown_fields_without_an_unknown_beta_keep_the_old_behaviour() -> None:
    b.check("claude-code-20250219", {**BASE, "vendor_extra": 1})
    with pytest.raises(TranslationError, match="vendor_extra"):
        b.check("new-thing-2030-01-01", {**BASE, "vendor_extra": 1})


def test_structured_output_other_than_a_json_schema_is_refused() -> None:
    from gateway_cli.translate.anthropic_to_openai import request

    schema = {"type": "object"}
    out = request({**BASE, "output_config": {"format": {"type": "json_schema",
                                                        "schema": schema}}},
                  upstream_model="up")
    assert out["response_format"]["json_schema"]["schema"] == schema
    with pytest.raises(TranslationError, match="output_format"):
        request({**BASE, "output_format": {"type": "regex", "pattern": "x"}},
                upstream_model="up")


def test_clearing_thinking_is_reproduced_other_context_edits_are_not() -> None:
    keep_all = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    b.check("context-management-2025-06-27", {**BASE, "context_management": keep_all})
    both = {"edits": [keep_all["edits"][0], {"type": "clear_tool_uses_20250919"}]}
    with pytest.raises(TranslationError, match=r"context_management\.edits\.1.*clear_tool_uses"):
        b.check(None, {**BASE, "context_management": both})
    with pytest.raises(TranslationError, match="context_management"):
        b.check(None, {**BASE, "context_management": {"edits": "all"}})
