"""Answers and upstream errors are screened in every field, against hostile upstreams.

A RawUpstream answers with exactly the bytes a test gives it, so each answer
field the review found unscreened can carry a leaked token; and a
FakeUpstream that echoes the gateway's own credential in its errors shows
that the key never reaches the client, with or without inspection.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.raw_upstream import RawUpstream
from tests.fakes.upstream import FakeUpstream, status
from tests.unit.guards.test_guard_secrets import with_crc

KEY = "sk-screening-" + "k" * 32
CHAT = {"model": "gpt", "messages": [{"role": "user", "content": "hello"}]}


def _config(url: str) -> GatewayConfig:
    return (GatewayConfig()
            .provider("up", "openai", base_url=f"{url}/v1", secret="env:SCREEN_KEY")
            .model("gpt", deployment("up", "m"))
            .section("routing", retries=0))


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, RawUpstream]]:
    with RawUpstream() as upstream:
        gateway = start_gateway(tmp_path_factory.mktemp("screen-raw"),
                                config=_config(upstream.url).toml(),
                                env={**os.environ, "SCREEN_KEY": KEY})
        yield gateway, upstream
        stop_gateway(gateway)
    assert "Traceback" not in gateway.log()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    """One chat.completion.chunk SSE event of choice 0."""
    return "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                                  "model": "m", "choices": [{"index": 0, "delta": delta,
                                                             "finish_reason": finish}]}) + "\n\n"


def _chat_answer(message: dict[str, Any], **top: Any) -> bytes:
    return json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                       "model": "m", "choices": [{"index": 0, "message": {
                           "role": "assistant", **message}, "finish_reason": "stop"}],
                       **top}).encode()


@pytest.mark.parametrize("shape", [
    lambda t: _chat_answer({"content": None, "refusal": f"I cannot share {t}"}),
    lambda t: _chat_answer({"content": "ok", "reasoning_content": f"the key is {t}"}),
    lambda t: _chat_answer({"content": None, "audio": {"id": "audio_1", "transcript": t}}),
    lambda t: _chat_answer({"content": None, "tool_calls": [{"id": "call_abcd1", "type":
                            "function", "function": {"name": t, "arguments": "{}"}}]}),
    lambda t: _chat_answer({"content": "ok"}, x_debug={"note": t}),
])
def test_every_field_of_an_answer_is_screened(raw: tuple[Gateway, RawUpstream],
                                              shape: Any) -> None:
    gateway, upstream = raw
    token = with_crc("ghp_")
    upstream.answer(200, shape(token))
    r = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=10)
    assert token not in r.text
    assert r.status_code == 502 and r.json()["error"]["code"] == "output_blocked_by_policy"


def test_a_streamed_refusal_or_reasoning_leak_ends_the_stream(
        raw: tuple[Gateway, RawUpstream]) -> None:
    gateway, upstream = raw
    token = with_crc("ghp_")
    for field in ("refusal", "reasoning_content"):
        pieces = [token[i:i + 10] for i in range(0, len(token), 10)]
        events = "".join(
            "data: " + json.dumps({"id": "c", "object": "chat.completion.chunk", "created": 1,
                                   "model": "m", "choices": [{"index": 0, "delta": {
                                       field: piece}, "finish_reason": None}]}) + "\n\n"
            for piece in pieces) + "data: [DONE]\n\n"
        upstream.answer(200, events.encode(), b"text/event-stream")
        r = httpx.post(gateway.url + "/v1/chat/completions", json={**CHAT, "stream": True},
                       timeout=10)
        assert "output_blocked_by_policy" in r.text, field


@pytest.fixture(scope="module")
def echoing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    with FakeUpstream("echo", api_key=None) as upstream:
        yield upstream


def _echo_error(code: int, token: str) -> Any:
    return status(code, body={"error": {
        "message": f"bad request header 'Authorization: Bearer {KEY}' for {token}; "
                   "contact jane.doe@example.com",
        "type": "invalid_request_error", "code": None}})


@pytest.mark.parametrize("inspection", [True, False])
def test_an_error_body_never_carries_the_gateways_credential(
        echoing: FakeUpstream, tmp_path: Path, inspection: bool) -> None:
    config = _config(echoing.url)
    if not inspection:
        config.section("inspection", enabled=False)
    gateway = start_gateway(tmp_path, config=config.toml(),
                            env={**os.environ, "SCREEN_KEY": KEY})
    try:
        for code, client_status in ((400, 400), (429, 429), (500, 502)):
            token = with_crc("ghp_")
            echoing.script(_echo_error(code, token))
            r = httpx.post(gateway.url + "/v1/chat/completions", json=CHAT, timeout=10)
            assert r.status_code == client_status
            assert KEY not in r.text and "[REDACTED]" in r.text
            message = r.json()["error"]["message"]
            assert "bad request header" in message  # the provider's reason still arrives
            if inspection:
                assert token not in r.text and "jane.doe@example.com" not in r.text
        # Across translation too: an Anthropic client of an OpenAI-format provider.
        echoing.script(_echo_error(400, with_crc("ghp_")))
        r = httpx.post(gateway.url + "/v1/messages", timeout=10, json={
            "model": "gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]})
        assert r.status_code == 400 and KEY not in r.text
    finally:
        echoing.clear()
        stop_gateway(gateway)
    assert KEY not in gateway.log()


def test_streamed_tool_call_arguments_are_held_until_judged(
        raw: tuple[Gateway, RawUpstream]) -> None:
    """The review saw arguments leave in full, 10 characters at a time, before the cut."""
    gateway, upstream = raw
    token = with_crc("ghp_")
    arguments = json.dumps({"note": f"use {token} now"})

    events = _chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_abcdef", "type": "function",
         "function": {"name": "send", "arguments": ""}}]})
    events += "".join(_chunk({"tool_calls": [{"index": 0, "function": {
        "arguments": arguments[i:i + 10]}}]}) for i in range(0, len(arguments), 10))
    events += _chunk({}, "tool_calls") + "data: [DONE]\n\n"
    upstream.answer(200, events.encode(), b"text/event-stream")
    for path, body in (("/v1/chat/completions", {**CHAT, "stream": True}),
                       ("/v1/messages", {**CHAT, "stream": True, "max_tokens": 5})):
        r = httpx.post(gateway.url + path, json=body, timeout=10)
        assert "policy withheld" in r.text, path
        if path == "/v1/chat/completions":  # as relayed: no piece holding part of the token
            start = arguments.index(token)
            pieces = [arguments[i:i + 10] for i in range(0, len(arguments), 10)
                      if i + 10 > start and i < start + len(token)]
            assert pieces and not [p for p in pieces if json.dumps(p)[1:-1] in r.text]
        assert token[:10] not in r.text, path


def test_clean_streamed_tool_calls_still_arrive_whole(raw: tuple[Gateway, RawUpstream]) -> None:
    import openai

    gateway, upstream = raw
    arguments = json.dumps({"city": "Paris", "days": 3})

    events = _chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": 0, "id": "call_abcdef", "type": "function",
         "function": {"name": "weather", "arguments": ""}}]})
    events += "".join(_chunk({"tool_calls": [{"index": 0, "function": {
        "arguments": arguments[i:i + 7]}}]}) for i in range(0, len(arguments), 7))
    events += _chunk({}, "tool_calls") + "data: [DONE]\n\n"
    upstream.answer(200, events.encode(), b"text/event-stream")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    with client.chat.completions.stream(model="gpt", messages=[
            {"role": "user", "content": "weather?"}]) as stream:
        final = stream.get_final_completion()
    [call] = final.choices[0].message.tool_calls or []
    assert call.function.name == "weather" and json.loads(call.function.arguments) == {
        "city": "Paris", "days": 3}
    assert final.choices[0].finish_reason == "tool_calls"
