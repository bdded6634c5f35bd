"""The fakes speak the real wire formats: the official SDKs, used directly, accept them.

No gateway is involved: if these pass, a gateway test that fails against a fake is
failing on the gateway, not on a fake that drifted from the provider's format.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.fakes.upstream import (
    FakeUpstream,
    drop,
    drop_mid_stream,
    fake_embedding,
    ok,
    slow_stream,
    stall,
    status,
)

# Typed Any: plain dicts stand in for the SDKs' TypedDict params.
WEATHER_TOOL: Any = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
CLAUDE_TOOL: Any = {"name": "get_weather", "description": "Weather for a city",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.fixture
def oa() -> Iterator[FakeUpstream]:
    with FakeUpstream("oa") as fake:
        yield fake


@pytest.fixture
def an() -> Iterator[FakeUpstream]:
    with FakeUpstream("an", kind="anthropic") as fake:
        yield fake


def openai_client(fake: FakeUpstream, key: str = "test-key",
                  timeout: float = 5) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key=key, max_retries=0,
                         timeout=timeout)


def claude_client(fake: FakeUpstream, key: str = "test-key") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.url, api_key=key, max_retries=0, timeout=5)


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


# ------------------------------------------------------------------- OpenAI


def test_chat_completion(oa: FakeUpstream) -> None:
    done = openai_client(oa).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": [{"type": "text", "text": "hello there"}]}])
    assert done.object == "chat.completion" and done.model == "gpt-4o-mini"
    assert done.choices[0].message.content == "oa: hello there"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.prompt_tokens == len("Be brief.hello there") // 4 + 1
    assert done.usage.completion_tokens == len("oa: hello there") // 4 + 1
    [rec] = oa.requests
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["authorization"] == "Bearer test-key"
    assert rec.json["model"] == "gpt-4o-mini" and json.loads(rec.body) == rec.json


def test_chat_stream_with_usage(oa: FakeUpstream) -> None:
    chunks = list(openai_client(oa).chat.completions.create(
        model="m", messages=user("one two three"), stream=True,
        stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "oa: one two three"
    assert len(chunks) >= 6  # role, 4 words, finish, usage
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(text) // 4 + 1


def test_chat_tool_call_plain_and_streamed(oa: FakeUpstream) -> None:
    client = openai_client(oa)
    ask = user("please call a tool")
    done = client.chat.completions.create(model="m", messages=ask, tools=[WEATHER_TOOL])
    [call] = done.choices[0].message.tool_calls or []
    assert done.choices[0].finish_reason == "tool_calls"
    assert call.id == "call_1" and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    chunks = list(client.chat.completions.create(model="m", messages=ask,
                                                 tools=[WEATHER_TOOL], stream=True))
    calls = [t for c in chunks for t in c.choices[0].delta.tool_calls or []]
    assert calls[0].id == "call_1" and calls[0].function is not None
    assert calls[0].function.name == "get_weather" and calls[0].function.arguments == ""
    assert "".join(t.function.arguments or "" for t in calls if t.function) == \
        '{"city": "Paris"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    history: Any = [*ask, done.choices[0].message.model_dump(exclude_none=True),
                    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]
    answered = client.chat.completions.create(model="m", tools=[WEATHER_TOOL],
                                              messages=history)
    assert answered.choices[0].message.content == "oa: tool said sunny"


def test_embeddings(oa: FakeUpstream) -> None:
    client = openai_client(oa)
    as_base64 = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    as_float = client.embeddings.create(model="e", input="a", encoding_format="float")
    assert oa.requests[0].json["encoding_format"] == "base64"  # the SDK's default
    assert [d.embedding for d in as_base64.data] == [fake_embedding("a"), fake_embedding("b")]
    assert as_float.data[0].embedding == fake_embedding("a") and len(fake_embedding("a")) == 8
    assert as_float.usage.prompt_tokens == 1


def test_responses_and_models(oa: FakeUpstream) -> None:
    client = openai_client(oa)
    assert client.responses.create(model="gpt-4o", input="hi").output_text == "oa: hi"
    items = client.responses.create(model="gpt-4o", input=[
        {"role": "user", "content": [{"type": "input_text", "text": "items"}]}])
    assert items.output_text == "oa: items" and items.status == "completed"
    with pytest.raises(openai.BadRequestError, match="not supported by fake"):
        client.responses.create(model="gpt-4o", input="hi", stream=True)
    assert "gpt-4o-mini" in [m.id for m in client.models.list()]


def test_azure_deployment_path(oa: FakeUpstream) -> None:
    client = openai.AzureOpenAI(azure_endpoint=oa.url, api_key="test-key",
                                api_version="2024-10-21", max_retries=0)
    done = client.chat.completions.create(model="my-deploy", messages=user("hi"))
    assert done.model == "my-deploy" and done.choices[0].message.content == "oa: hi"
    rec = oa.requests[-1]
    assert rec.path == "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21"
    assert rec.headers["api-key"] == "test-key" and "authorization" not in rec.headers

    missing = httpx.post(oa.url + "/openai/deployments/my-deploy/chat/completions",
                         headers={"api-key": "test-key"}, json={"messages": user("hi")})
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "404", "message": "Resource not found"}}


def test_error_formats(oa: FakeUpstream, an: FakeUpstream) -> None:
    bad_json = httpx.post(oa.url + "/v1/chat/completions", content=b"[1]",
                          headers={"authorization": "Bearer test-key"})
    assert bad_json.status_code == 400
    assert set(bad_json.json()["error"]) == {"message", "type", "param", "code"}
    unknown = httpx.get(oa.url + "/v1/nope", headers={"authorization": "Bearer test-key"})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == \
        "Invalid URL (GET /v1/nope)"

    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    no_max = httpx.post(an.url + "/v1/messages", headers=headers,
                        json={"model": "claude", "messages": user("hi")})
    assert no_max.status_code == 400
    assert no_max.json()["error"] == {"type": "invalid_request_error",
                                      "message": "max_tokens: Field required"}
    assert no_max.json()["request_id"] == no_max.headers["request-id"]
    no_version = httpx.post(an.url + "/v1/messages", headers={"x-api-key": "test-key"},
                            json={"model": "c", "max_tokens": 5, "messages": user("hi")})
    assert no_version.status_code == 400
    unknown = httpx.post(an.url + "/v1/nope", headers=headers, json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


# ---------------------------------------------------------------- Anthropic


def test_messages_plain_and_count_tokens(an: FakeUpstream) -> None:
    client = claude_client(an)
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=100,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "hello"}]}])
    assert message.type == "message" and message.model == "claude-sonnet-4-5"
    assert message.content[0].type == "text" and message.content[0].text == "an: hello"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == len("Be brief.hello") // 4 + 1
    assert message.usage.output_tokens == len("an: hello") // 4 + 1
    assert an.requests[0].headers["x-api-key"] == "test-key"
    assert "anthropic-version" in an.requests[0].headers

    counted = client.messages.count_tokens(model="claude-sonnet-4-5", system="Be brief.",
                                           messages=user("hello"))
    assert counted.input_tokens == message.usage.input_tokens


def test_messages_stream(an: FakeUpstream) -> None:
    with claude_client(an).messages.stream(model="c", max_tokens=50,
                                           messages=user("one two three")) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "an: one two three"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 1
    raw = [e for e in events if e not in ("text",)]  # the SDK adds derived "text" events
    assert raw[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    body = an.requests[0].body
    assert json.loads(body)["stream"] is True


def test_messages_tool_use(an: FakeUpstream) -> None:
    client = claude_client(an)
    ask = user("call a tool please")
    message = client.messages.create(model="c", max_tokens=50, messages=ask,
                                     tools=[CLAUDE_TOOL])
    block = message.content[0]
    assert message.stop_reason == "tool_use" and block.type == "tool_use"
    assert (block.id, block.name, block.input) == ("toolu_1", "get_weather", {"city": "Paris"})

    with client.messages.stream(model="c", max_tokens=50, messages=ask,
                                tools=[CLAUDE_TOOL]) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].type == "tool_use"
    assert streamed.content[0].input == {"city": "Paris"}

    history: Any = [
        *ask, {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                      "content": [{"type": "text", "text": "sunny"}]}]}]
    answered = client.messages.create(model="c", max_tokens=50, tools=[CLAUDE_TOOL],
                                      messages=history)
    assert answered.content[0].type == "text"
    assert answered.content[0].text == "an: tool said sunny"


# ------------------------------------------------------------------- faults


def test_rate_limit_with_retry_after(oa: FakeUpstream, an: FakeUpstream) -> None:
    oa.script(status(429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(oa).chat.completions.create(model="m", messages=user("x"))
    assert caught.value.response.headers["retry-after"] == "2"
    assert (caught.value.type, caught.value.code) == ("requests", "rate_limit_exceeded")

    an.script(status(529))
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        claude_client(an).messages.create(model="c", max_tokens=5, messages=user("x"))
    body: Any = overloaded.value.body
    assert overloaded.value.status_code == 529
    assert body["error"]["type"] == "overloaded_error"


def test_wrong_key_is_authentication_error(oa: FakeUpstream, an: FakeUpstream) -> None:
    with pytest.raises(openai.AuthenticationError, match="Incorrect API key provided"):
        openai_client(oa, key="wrong").models.list()
    azure = openai.AzureOpenAI(azure_endpoint=oa.url, api_key="wrong",
                               api_version="2024-10-21", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        azure.chat.completions.create(model="d", messages=user("x"))
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        claude_client(an, key="wrong").messages.create(model="c", max_tokens=5,
                                                      messages=user("x"))


def test_script_is_fifo_then_normal_and_always_applies(oa: FakeUpstream) -> None:
    client = openai_client(oa)
    oa.script(status(500), status(503))
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    client.models.list()
    oa.always(status(502))
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.models.list()
    oa.always(None)
    client.models.list()
    assert len(oa.requests) == 6


def test_drop_and_stall(oa: FakeUpstream) -> None:
    oa.script(drop())
    with pytest.raises(openai.APIConnectionError):
        openai_client(oa).models.list()
    oa.script(stall(30))
    with pytest.raises(openai.APITimeoutError):
        openai_client(oa, timeout=0.5).models.list()
    started = time.monotonic()
    oa.stop()  # must wake the stalled handler rather than wait 30 s
    assert time.monotonic() - started < 2


def test_ok_delay(oa: FakeUpstream) -> None:
    oa.script(ok(delay=0.3))
    started = time.monotonic()
    openai_client(oa).models.list()
    assert time.monotonic() - started >= 0.3


def test_drop_mid_stream_raises_while_iterating(oa: FakeUpstream, an: FakeUpstream) -> None:
    oa.script(drop_mid_stream(2))
    stream = openai_client(oa).chat.completions.create(model="m", messages=user("a b c d"),
                                                       stream=True)
    received: list[Any] = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        received.extend(stream)
    assert len(received) == 2

    an.script(drop_mid_stream(3))
    with pytest.raises((httpx.HTTPError, anthropic.APIError)), claude_client(an).messages.stream(
            model="c", max_tokens=5, messages=user("a b c")) as claude_stream:
        claude_stream.get_final_message()


def test_slow_stream_is_not_buffered(oa: FakeUpstream) -> None:
    oa.script(slow_stream(0.15))
    started = time.monotonic()
    arrivals = [time.monotonic() - started for _ in openai_client(oa).chat.completions.create(
        model="m", messages=user("a b"), stream=True)]
    assert arrivals[0] < 0.12
    assert arrivals[-1] >= 0.15 * 3  # role, "oa: ", "a ", "b", finish -> 4 pauses


def test_keep_alive_and_clean_stop() -> None:
    fake = FakeUpstream("k", api_key=None).start()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    for _ in range(3):  # three answers on one connection: framing is exact
        conn.request("GET", "/v1/models")
        assert conn.getresponse().read().startswith(b'{"object": "list"')
    started = time.monotonic()
    fake.stop()  # an idle keep-alive connection is still open
    assert time.monotonic() - started < 2
    assert len(fake.requests) == 3
    conn.close()


# ------------------------------------------- strict validation of raw bodies


def sse_payloads(body: str) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in body.splitlines()
            if line.startswith("data: ") and line != "data: [DONE]"]


def test_raw_bodies_validate_against_sdk_models(oa: FakeUpstream, an: FakeUpstream) -> None:
    """The SDKs build objects without validation; pydantic validation checks every field."""
    from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
    from openai.types import CreateEmbeddingResponse, Model
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response
    from pydantic import TypeAdapter

    auth = {"authorization": "Bearer test-key"}
    for tools in ([], [WEATHER_TOOL]):
        chat = {"model": "m", "messages": user("call a tool"), "tools": tools}
        ChatCompletion.model_validate(
            httpx.post(oa.url + "/v1/chat/completions", headers=auth, json=chat).json())
        streamed = httpx.post(oa.url + "/v1/chat/completions", headers=auth, json={
            **chat, "stream": True, "stream_options": {"include_usage": True}})
        assert streamed.headers["content-type"].startswith("text/event-stream")
        assert streamed.text.endswith("data: [DONE]\n\n")
        for payload in sse_payloads(streamed.text):
            ChatCompletionChunk.model_validate(payload)
    CreateEmbeddingResponse.model_validate(httpx.post(
        oa.url + "/v1/embeddings", headers=auth, json={"model": "e", "input": "x"}).json())
    Response.model_validate(httpx.post(
        oa.url + "/v1/responses", headers=auth, json={"model": "m", "input": "x"}).json())
    for model in httpx.get(oa.url + "/v1/models", headers=auth).json()["data"]:
        Model.model_validate(model)

    headers = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}
    event = TypeAdapter(RawMessageStreamEvent)
    for tools in ([], [CLAUDE_TOOL]):
        req = {"model": "c", "max_tokens": 9, "messages": user("call a tool"), "tools": tools}
        Message.model_validate(httpx.post(an.url + "/v1/messages", headers=headers,
                                          json=req).json())
        streamed = httpx.post(an.url + "/v1/messages", headers=headers,
                              json={**req, "stream": True})
        names = [line[7:] for line in streamed.text.splitlines() if line.startswith("event: ")]
        payloads = sse_payloads(streamed.text)
        assert [p["type"] for p in payloads] == names
        for payload in payloads:
            if payload["type"] != "ping":  # real, but not in the SDK's union: it skips pings
                event.validate_python(payload)
    MessageTokensCount.model_validate(httpx.post(
        an.url + "/v1/messages/count_tokens", headers=headers,
        json={"model": "c", "messages": user("x")}).json())
