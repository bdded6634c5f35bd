"""The mock provider's pure answer builders."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.providers import mock


def _body(text: str, **extra: object) -> dict[str, object]:
    return {"model": "mock/echo", "messages": [{"role": "user", "content": text}], **extra}


def test_complete_is_deterministic() -> None:
    a = mock.complete(_body("hi"), request_id="r1", created=5)
    b = mock.complete(_body("hi"), request_id="r1", created=5)
    assert a == b
    assert a["id"] == "chatcmpl-r1" and a["created"] == 5


def test_echoes_last_user_message_only() -> None:
    body = {"model": "m", "messages": [
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "text", "text": "new"},
                                     {"type": "image_url", "image_url": {"url": "x"}}]},
        {"role": "tool", "content": "tool output", "tool_call_id": "t"},
    ]}
    assert mock.complete(body, request_id="r", created=0)["choices"][0]["message"]["content"] \
        == "new"


def test_no_user_message_gives_empty_answer() -> None:
    body = {"model": "m", "messages": [{"role": "system", "content": "only system"}]}
    assert mock.complete(body, request_id="r", created=0)["choices"][0]["message"]["content"] == ""


def test_usage_estimate() -> None:
    usage = mock.complete(_body("abcdefgh"), request_id="r", created=0)["usage"]
    assert usage == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert mock.estimate_tokens("") == 1


@given(st.text())
def test_stream_content_reassembles_to_the_answer(text: str) -> None:
    chunks = list(mock.stream(_body(text), request_id="r", created=0))
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert streamed == mock.complete(_body(text), request_id="r", created=0)[
        "choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_stream_usage_only_when_asked() -> None:
    plain = list(mock.stream(_body("a b"), request_id="r", created=0))
    assert all("usage" not in c for c in plain)
    with_usage = list(mock.stream(_body("a b", stream_options={"include_usage": True}),
                                  request_id="r", created=0))
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["total_tokens"] > 0
    assert len(with_usage) == len(plain) + 1
