"""The built-in mock's Responses API and embeddings answers (see mock.py).

The streamed Responses answer follows the event sequence the OpenAI SDK's
`responses.stream()` accumulates and that Codex reads: created, in_progress,
output_item.added, content_part.added, output_text.delta..., output_text.done,
content_part.done, output_item.done, completed, each with a rising
`sequence_number`. Embeddings are unit vectors derived from a SHA-256 of the
input, so the same text always gets the same vector and different texts
different ones; base64 encoding (what the Python SDK asks for by default) is
little-endian float32, as OpenAI sends it.

Pure functions: the caller passes the request id and the creation time.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Iterator
from typing import Any

from gateway_cli.providers.mock import _WORDS, _content_text, estimate_tokens

DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 4096


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return ""
    content = item.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and part.get("type") in ("input_text", "text")
                       and isinstance(part.get("text"), str))
    return _content_text(content)


def responses_input_text(body: dict[str, Any]) -> str:
    """The text of the last user input: the string, or the last user item's text parts."""
    value = body.get("input")
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for item in reversed(value):
            if isinstance(item, dict) and item.get("role") == "user":
                return _item_text(item)
    return ""


def _all_input_text(body: dict[str, Any]) -> str:
    value = body.get("input")
    items = value if isinstance(value, list) else [value]
    instructions = body.get("instructions")
    return "\n".join([instructions if isinstance(instructions, str) else "",
                      *(_item_text(i) for i in items)])


def _usage(body: dict[str, Any], answer: str) -> dict[str, Any]:
    given = estimate_tokens(_all_input_text(body))
    made = estimate_tokens(answer)
    return {"input_tokens": given, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": made, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": given + made}


def _message(request_id: str, text: str, status: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}] \
        if status == "completed" else []
    return {"id": f"msg_{request_id}", "type": "message", "status": status,
            "role": "assistant", "content": content}


def _response(body: dict[str, Any], request_id: str, created: int, status: str,
              output: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
    instructions = body.get("instructions")
    return {
        "id": f"resp_{request_id}", "object": "response", "created_at": created,
        "status": status, "background": False, "error": None, "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": body.get("max_output_tokens"), "model": body["model"],
        "output": output, "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": False,
        "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "truncation": "disabled", "usage": usage,
        "user": None, "metadata": {},
    }


def respond(body: dict[str, Any], *, request_id: str, created: int) -> dict[str, Any]:
    """A completed `response` object echoing the last user input."""
    answer = responses_input_text(body)
    return _response(body, request_id, created, "completed",
                     [_message(request_id, answer, "completed")], _usage(body, answer))


def respond_stream(body: dict[str, Any], *, request_id: str,
                   created: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of a streamed Responses answer, in the API's order."""
    answer = responses_input_text(body)
    item_id = f"msg_{request_id}"
    counter = iter(range(1 << 30))
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}

    def event(kind: str, **data: Any) -> tuple[str, dict[str, Any]]:
        return kind, {"type": kind, "sequence_number": next(counter), **data}

    at = {"item_id": item_id, "output_index": 0, "content_index": 0}
    yield event("response.created", response=_response(body, request_id, created,
                                                       "in_progress", [], None))
    yield event("response.in_progress", response=_response(body, request_id, created,
                                                           "in_progress", [], None))
    yield event("response.output_item.added", output_index=0,
                item=_message(request_id, "", "in_progress"))
    yield event("response.content_part.added", **at, part=part)
    for word in _WORDS.findall(answer):
        yield event("response.output_text.delta", **at, delta=word, logprobs=[])
    yield event("response.output_text.done", **at, text=answer, logprobs=[])
    yield event("response.content_part.done", **at, part={**part, "text": answer})
    done = _message(request_id, answer, "completed")
    yield event("response.output_item.done", output_index=0, item=done)
    yield event("response.completed", response=_response(body, request_id, created,
                                                         "completed", [done],
                                                         _usage(body, answer)))


def vector(text: str, dimensions: int) -> list[float]:
    """A unit vector that depends only on `text` and `dimensions`."""
    seed = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    raw: list[float] = []
    block = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(seed + block.to_bytes(4, "big")).digest()
        raw += [(b - 127.5) / 127.5 for b in digest]
        block += 1
    values = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(x, int) for x in value):
        return [" ".join(map(str, value))]  # one input given as token ids
    return [x if isinstance(x, str) else " ".join(map(str, x)) for x in value]


def embed(body: dict[str, Any]) -> dict[str, Any]:
    """An embeddings `list`; the request was checked (formats/schema) before it got here."""
    texts = _inputs(body["input"])
    dimensions = body.get("dimensions")
    size = min(dimensions, MAX_DIMENSIONS) if isinstance(dimensions, int) else DEFAULT_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for i, text in enumerate(texts):
        values = vector(text, size)
        embedding: Any = base64.b64encode(struct.pack(f"<{size}f", *values)).decode() \
            if as_base64 else values
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(estimate_tokens(t) for t in texts)
    return {"object": "list", "data": data, "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
