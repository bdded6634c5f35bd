"""Anthropic beta features with an OpenAI-format provider, through the real gateway process,
with the official anthropic SDK: the betas Claude Code names on every call are accepted (the
provider never sees the header), a beta feature the translation reproduces reaches the
provider translated, and a feature only Anthropic's platform runs is a 400 in Anthropic's
format naming it, only when the request uses it, with nothing sent upstream."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream

KEY = "sk-test-openai-" + "b" * 24
# What Claude Code names on a call (names and dates as its releases send them).
CLAUDE_CODE_BETAS = ["claude-code-20250219", "oauth-2025-04-20",
                     "interleaved-thinking-2025-05-14", "fine-grained-tool-streaming-2025-05-14",
                     "context-management-2025-06-27", "mid-conversation-system-2026-04-07",
                     "context-1m-2025-08-07", "per-turn-control-2026-07-01",
                     "mid-conversation-tool-changes-2026-07-01",
                     "thinking-token-count-2026-05-13", "advanced-tool-use-2025-11-20",
                     "effort-2025-11-24"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("oa", api_key=KEY, kind="openai") as up:
        yield up


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("betas-openai")
    config = (GatewayConfig()
              .provider("oa", "openai", base_url=f"{fake.url}/v1", secret="env:TEST_BETA_KEY")
              .model("gpt", deployment("oa", "gpt-4o")))
    gateway = start_gateway(tmp, config=config.toml(), env={**os.environ,
                                                            "TEST_BETA_KEY": KEY})
    yield gateway
    stop_gateway(gateway)
    assert KEY not in gateway.log()


@pytest.fixture
def ant(gw: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def test_claude_code_betas_are_accepted_and_not_forwarded(ant: anthropic.Anthropic,
                                                          fake: FakeUpstream) -> None:
    message = ant.beta.messages.create(
        model="gpt", max_tokens=32, betas=CLAUDE_CODE_BETAS,
        thinking={"type": "enabled", "budget_tokens": 1024},
        # The context edit Claude Code sends on every call: thinking is never sent to an
        # OpenAI-format provider, so there is none to clear or keep.
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        extra_body={"output_config": {"effort": "medium"}},
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "first"},
                  {"role": "assistant", "content": "ok"},
                  {"role": "system", "content": "one word"},  # type: ignore[list-item]
                  {"role": "user", "content": "second"}])
    assert message.content[0].type == "text" and message.content[0].text == "oa: second"
    assert message.model == "gpt"
    upstream = fake.requests[-1]
    assert "anthropic-beta" not in upstream.headers
    assert upstream.json == {
        "model": "gpt-4o", "max_tokens": 32,
        "messages": [{"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                     {"role": "user", "content": "first"},
                     {"role": "assistant", "content": "ok"},
                     {"role": "system", "content": "one word"},
                     {"role": "user", "content": "second"}]}


def test_claude_code_betas_on_a_streamed_tool_call(ant: anthropic.Anthropic,
                                                   fake: FakeUpstream) -> None:
    tool = {"name": "get_weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}
    with ant.beta.messages.stream(model="gpt", max_tokens=64, betas=CLAUDE_CODE_BETAS,
                                  tools=[tool],  # type: ignore[list-item]
                                  messages=[{"role": "user", "content": "call a tool"}]) as s:
        final = s.get_final_message()
    assert fake.requests[-1].json["stream"] is True
    call = final.content[0]
    assert call.type == "tool_use" and call.input == {"city": "Paris"}


def test_structured_output_becomes_a_strict_response_format(ant: anthropic.Anthropic,
                                                            fake: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}},
              "required": ["answer"], "additionalProperties": False}
    ant.post("/v1/messages", cast_to=object, options={"headers": {
        "anthropic-beta": "structured-outputs-2025-11-13"}}, body={
        "model": "gpt", "max_tokens": 32, "messages": [{"role": "user", "content": "json"}],
        "output_format": {"type": "json_schema", "schema": schema}})
    assert fake.requests[-1].json["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "output", "schema": schema,
                                               "strict": True}}


def test_an_unknown_beta_with_nothing_new_in_the_body_is_accepted(
        ant: anthropic.Anthropic, fake: FakeUpstream) -> None:
    message = ant.messages.create(
        model="gpt", max_tokens=16, messages=[{"role": "user", "content": "new beta"}],
        extra_headers={"anthropic-beta": "some-future-beta-2027-01-01"})
    assert message.content[0].type == "text" and message.content[0].text == "oa: new beta"


FILE_DOC = {"role": "user", "content": [
    {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
    {"type": "text", "text": "summarise"}]}

# (beta header or None, change to the body, words the refusal must contain)
REFUSED: list[tuple[str | None, dict[str, Any], tuple[str, ...]]] = [
    ("mcp-client-2025-04-04", {"mcp_servers": [
        {"type": "url", "url": "https://mcp.example.com/sse", "name": "ex"}]},
     ("mcp_servers", "MCP connector", "mcp-client")),
    (None, {"mcp_servers": [{"type": "url", "url": "https://mcp.example.com", "name": "ex"}]},
     ("mcp_servers", "MCP connector")),
    ("computer-use-2025-01-24", {"tools": [
        {"type": "computer_20250124", "name": "computer", "display_width_px": 1024,
         "display_height_px": 768}]}, ("tools.0", "computer use (computer_20250124)")),
    ("code-execution-2025-08-25", {"tools": [
        {"type": "code_execution_20250825", "name": "code_execution"}]},
     ("tools.0", "code execution")),
    ("code-execution-2025-08-25", {"container": "container_011"},
     ("container", "code execution containers")),
    ("context-management-2025-06-27", {"context_management": {
        "edits": [{"type": "clear_tool_uses_20250919"}]}},
     ("context_management", "context management")),
    ("context-management-2025-06-27", {"tools": [
        {"type": "memory_20250818", "name": "memory"}]}, ("tools.0", "memory tool")),
    ("files-api-2025-04-14", {"messages": [FILE_DOC]},
     ("messages.0.content.0.source", "Files API")),
    ("advanced-tool-use-2025-11-20", {"tools": [
        {"name": "t", "input_schema": {"type": "object"}, "defer_loading": True}]},
     ("tools.0.defer_loading",)),
    ("some-future-beta-2027-01-01", {"future_setting": {"on": True}},
     ("future_setting", "some-future-beta-2027-01-01")),
]


@pytest.mark.parametrize(("beta", "change", "named"), REFUSED,
                         ids=[f"{b}:{n[0]}" for b, _, n in REFUSED])
def test_platform_features_are_refused_by_name_when_used(
        ant: anthropic.Anthropic, fake: FakeUpstream, beta: str | None,
        change: dict[str, Any], named: tuple[str, ...]) -> None:
    before = len(fake.requests)
    body = {"model": "gpt", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}], **change}
    headers = {"anthropic-beta": f"claude-code-20250219,{beta}"} if beta else {}
    with pytest.raises(anthropic.BadRequestError) as info:
        ant.post("/v1/messages", cast_to=object, body=body, options={"headers": headers})
    error = info.value.body
    assert isinstance(error, dict) and error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    for words in named:
        assert words in error["error"]["message"]
    assert "OpenAI" in error["error"]["message"]
    assert len(fake.requests) == before  # nothing went upstream
