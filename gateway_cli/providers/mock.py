"""The built-in `mock` provider: deterministic OpenAI-format answers, no network.

It lets `gateway serve` answer with no config and no provider key, gives
tests and benchmarks an upstream that never varies, and shows a newcomer the
whole path working before any secret is involved. The answer is the text of
the last user message, echoed back; token counts are a fixed estimate
(one token per four characters, at least one), so usage is repeatable.
Chat lives here; the Responses API and embeddings in mock_responses.py;
Anthropic clients reach it through translation (translate/), like any
OpenAI-format provider.

Its advertised name is `mock-echo`: SDKs that read `provider/model` (openai-agents,
litellm) take `mock/echo`, the older name still served, for a provider prefix.

Pure functions: the caller passes the request id and the creation time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MODEL = "mock-echo"
LEGACY_MODEL = "mock/echo"  # the first name, still served for existing users
_WORDS = re.compile(r"\S+\s*|\s+")


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4)


def _content_text(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in messages)


def _usage(messages: list[dict[str, Any]], answer: str) -> dict[str, int]:
    prompt = estimate_tokens(prompt_text(messages))
    completion = estimate_tokens(answer)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def complete(body: dict[str, Any], *, request_id: str, created: int) -> dict[str, Any]:
    """A `chat.completion` object answering an OpenAI chat request."""
    messages = body["messages"]
    answer = last_user_text(messages)
    return {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "gateway-mock",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(messages, answer),
    }


def stream(body: dict[str, Any], *, request_id: str, created: int) -> Iterator[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a streamed answer, one word per chunk.

    Follows OpenAI's order: a role chunk, content chunks, a chunk carrying the
    finish reason, then (only if `stream_options.include_usage`) a usage chunk
    with empty choices.
    """
    messages = body["messages"]
    answer = last_user_text(messages)
    base = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "gateway-mock",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    yield chunk({"role": "assistant", "content": ""})
    for word in _WORDS.findall(answer):
        yield chunk({"content": word})
    yield chunk({}, "stop")
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        yield {**base, "choices": [], "usage": _usage(messages, answer)}
