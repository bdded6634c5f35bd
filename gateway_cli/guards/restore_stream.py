"""Put redacted values back into a streamed answer, in the client's SSE format.

The text deltas of each choice (OpenAI) or content block (Anthropic) go
through their own `StreamRestorer`, which holds back only a possible
placeholder prefix (so `[EMA` + `IL_1]` across two events is restored). Held
text is flushed as one extra delta just before the event that closes that
choice or block, so nothing is lost and nothing is delayed longer than the
placeholder itself.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.formats.stream_index import check_room, index_of
from gateway_cli.formats.strict_json import decode_unique
from gateway_cli.guards.redact import Redactions, StreamRestorer
from gateway_cli.providers.operations import Family

_encode = msgspec.json.Encoder().encode


def restore_json(value: Any, redactions: Redactions) -> Any:
    """Every string in a decoded JSON answer with its placeholders restored."""
    from gateway_cli.guards.redact import restore

    if isinstance(value, str):
        return restore(value, redactions)
    if isinstance(value, list):
        return [restore_json(v, redactions) for v in value]
    if isinstance(value, dict):
        return {k: restore_json(v, redactions) for k, v in value.items()}
    return value


class RestoringStream:
    def __init__(self, family: Family, redactions: Redactions) -> None:
        self._family = family
        self._redactions = redactions
        self._parser = SSEParser()
        self._restorers: dict[Any, StreamRestorer] = {}

    def _restorer(self, key: Any) -> StreamRestorer:
        if key not in self._restorers:
            check_room(len(self._restorers))
            self._restorers[key] = StreamRestorer(self._redactions)
        return self._restorers[key]

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if self._family == "anthropic":
                out += self._anthropic(event.event, event.data)
            else:
                out += self._openai(event.data)
        return out

    def _openai(self, data: str) -> list[bytes]:
        if data.strip() == "[DONE]" or not data.startswith("{"):
            return [b"data: " + data.encode() + b"\n\n"]
        chunk = decode_unique(data)
        before: list[bytes] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = index_of(choice.get("index"))
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                delta["content"] = self._restorer(index).feed(delta["content"])
            if choice.get("finish_reason") is not None and index in self._restorers:
                held = self._restorers.pop(index).finish()
                if held:
                    flush = {**chunk, "choices": [{"index": index, "delta": {"content": held},
                                                   "finish_reason": None}]}
                    before.append(b"data: " + _encode(flush) + b"\n\n")
        return [*before, b"data: " + _encode(chunk) + b"\n\n"]

    def _anthropic(self, name: str | None, data: str) -> list[bytes]:
        payload = decode_unique(data) if data.startswith("{") else None
        if not isinstance(payload, dict):
            return [encode_event(data.encode(), event=name)]
        kind = payload.get("type")
        index = index_of(payload.get("index"), None)
        before: list[bytes] = []
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("text"), str):
                delta["text"] = self._restorer(index).feed(delta["text"])
        elif kind == "content_block_stop" and index in self._restorers:
            held = self._restorers.pop(index).finish()
            if held:
                flush = {"type": "content_block_delta", "index": index,
                         "delta": {"type": "text_delta", "text": held}}
                before.append(encode_event(_encode(flush), event="content_block_delta"))
        return [*before, encode_event(_encode(payload), event=name)]

    def finish(self) -> list[bytes]:
        return []
