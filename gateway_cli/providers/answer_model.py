"""The model an answer names is the one the client asked for.

A client that asked for an alias (`claude-sonnet-4-5` pointing at a
deployment called something else) or for a public model whose deployment
has another upstream name must see its own name back: SDKs and agents
compare it, log it, and pick behaviour by it (Claude Code does). Answers
that already name it, because the upstream model is the public name, are
relayed untouched, byte for byte.

Where the name sits, per answer kind (the APIs' references):
- a whole answer (chat.completion, Anthropic message, response, embeddings
  list): top-level `model`;
- a chat chunk: top-level `model`; Anthropic `message_start`: `message.model`;
  Responses events: `response.model` (created, in_progress, completed...).

Pure: bytes in, bytes out.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.formats.strict_json import decode_unique

_encode = msgspec.json.Encoder().encode
_NESTED = ("message", "response")


def renamed(value: Any, model: str) -> bool:
    """Set the model `value` names (in place); whether it named one."""
    if not isinstance(value, dict):
        return False
    if isinstance(value.get("model"), str):
        value["model"] = model
        return True
    for key in _NESTED:
        inner = value.get(key)
        if isinstance(inner, dict) and isinstance(inner.get("model"), str):
            inner["model"] = model
            return True
    return False


def with_model(answer: bytes, model: str) -> bytes:
    """A whole JSON answer naming `model`; unchanged when it names none."""
    value = decode_unique(answer)
    return _encode(value) if renamed(value, model) else answer


class RenamingStream:
    """A pass-through stream whose events name the model the client asked for."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._parser = SSEParser()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if not event.data.startswith("{"):
                out.append(encode_event(event.data.encode(), event=event.event))
                continue
            value = decode_unique(event.data)
            renamed(value, self._model)
            out.append(encode_event(_encode(value), event=event.event))
        return out

    def finish(self) -> list[bytes]:
        return []
