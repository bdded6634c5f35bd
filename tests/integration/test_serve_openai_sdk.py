"""`gateway serve` on its defaults, driven by the official openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import Gateway


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused-by-mock", max_retries=0)


def test_health(gateway: Gateway) -> None:
    r = httpx.get(gateway.url + "/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_models_lists_mock(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock-echo", "mock/echo"]


def test_chat_completion_echoes_last_user_message(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock/echo",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hello gateway"},
        ],
    )
    assert completion.object == "chat.completion"
    assert completion.model == "mock/echo"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "hello gateway"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_chat_completion_multipart_content(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="mock/echo",
        messages=[{"role": "user", "content": [{"type": "text", "text": "part one, "},
                                                {"type": "text", "text": "part two"}]}],
    )
    assert completion.choices[0].message.content == "part one, part two"


def test_streaming(client: openai.OpenAI) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    stream = client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": text}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 9
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert len({c.id for c in chunks}) == 1


def test_streaming_without_usage(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(
        model="mock/echo", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_request_id_header(gateway: Gateway) -> None:
    r = httpx.post(gateway.url + "/v1/chat/completions",
                   json={"model": "mock/echo", "messages": [{"role": "user", "content": "x"}]})
    assert len(r.headers["x-request-id"]) == 24
    assert r.json()["id"] == "chatcmpl-" + r.headers["x-request-id"]


def test_unknown_model_is_404_in_openai_format(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-nope",
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "model_not_found"
    assert "gpt-nope" in info.value.message


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "'model' is required"),
        (b'{"model": 7, "messages": []}', "'model' is required"),
        (b'{"model": "mock/echo", "messages": []}', "'messages' is required"),
        (b'{"model": "mock/echo", "messages": "hi"}', "'messages' is required"),
        (b'{"model": "mock/echo", "messages": [{"role": "wizard"}]}', "role must be one of"),
        (b'{"model": "mock/echo", "messages": [{"role": "user", "content": 5}]}',
         "content must be"),
        (b'{"model": "mock/echo", "stream": "yes", "messages": [{"role": "user"}]}',
         "'stream' must be a boolean"),
    ],
)
def test_bad_requests_are_400_openai_errors(gateway: Gateway, body: bytes, fragment: str) -> None:
    r = httpx.post(gateway.url + "/v1/chat/completions", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    error = r.json()["error"]
    assert fragment in error["message"]
    assert error["type"] == "invalid_request_error"


def test_error_does_not_echo_request_content(gateway: Gateway) -> None:
    secret = "sk-proj-" + "Z" * 40
    r = httpx.post(gateway.url + "/v1/chat/completions",
                   json={"model": "unknown-" + "m", "messages": [{"role": "user",
                                                                  "content": secret}]})
    assert r.status_code == 404
    assert secret not in r.text


def test_wrong_method_and_unknown_path(gateway: Gateway) -> None:
    r = httpx.get(gateway.url + "/v1/chat/completions")
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = httpx.get(gateway.url + "/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found_error"
