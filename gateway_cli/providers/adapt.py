"""How one request crosses from the client's API format to a provider's and back.

For each (operation, client family, provider family) an `Adapter` says how to
build the upstream body, how to turn the upstream's JSON answer, error or
stream into the client's format, or that there is nothing to turn: same
family in and out is a pass-through, and the body goes upstream as received
(byte for byte when the public model name equals the upstream one; otherwise
only `model` is changed and every other field, known or not, survives).

Pure: ids and timestamps are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from gateway_cli.formats.errors import anthropic_error, openai_error
from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.formats.strict_json import JsonProblem, decode_unique
from gateway_cli.providers.operations import CLIENT_FAMILY, Family, Op
from gateway_cli.providers.wire import Unsupported
from gateway_cli.translate import (
    anthropic_betas,
    anthropic_to_openai,
    openai_to_anthropic,
    responses_to_anthropic,
)

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class Ids:
    """Identifiers the gateway stamps on translated answers."""

    request_id: str
    created: int


class StreamConverter(Protocol):
    def feed(self, data: bytes) -> list[bytes]: ...
    def finish(self) -> list[bytes]: ...


def client_error(family: Family, status: int, message: str, code: str | None = None,
                 param: str | None = None) -> bytes:
    if family == "anthropic":
        return anthropic_error(status, message)
    return openai_error(status, message, code, param)


def upstream_error_message(body: bytes) -> str | None:
    """The human message inside an OpenAI- or Anthropic-format error body, if any."""
    try:
        value = decode_unique(body)
    except JsonProblem:
        return None
    if isinstance(value, dict):
        error = value.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return None


@dataclass(frozen=True)
class Adapter:
    op: Op
    client: Family
    upstream: Family

    @property
    def passthrough(self) -> bool:
        return self.client == self.upstream

    def body(self, parsed: dict[str, Any], raw: bytes, upstream_model: str,
             betas: str | None = None) -> bytes:
        """The upstream body; `betas` is the client's `anthropic-beta` header, which an
        OpenAI-format upstream never sees (anthropic_betas says which ones may cross)."""
        if self.passthrough:
            if parsed.get("model") == upstream_model:
                return raw
            return _encode({**parsed, "model": upstream_model})
        if self.op is Op.CHAT:
            return _encode(openai_to_anthropic.request(parsed, upstream_model=upstream_model))
        if self.op is Op.RESPONSES:
            return _encode(responses_to_anthropic.request(parsed,
                                                          upstream_model=upstream_model))
        if self.op is Op.MESSAGES:
            anthropic_betas.check(betas, parsed)
            return _encode(anthropic_to_openai.request(parsed, upstream_model=upstream_model))
        raise Unsupported(f"its provider speaks the {self.upstream} API, which has no "
                          f"{self.op.value} endpoint")

    def answer(self, upstream_body: bytes, ids: Ids, model: str,
               request: dict[str, Any] | None = None) -> bytes:
        """The client's answer; `request` is the client's body (a Responses answer echoes
        its settings)."""
        if self.passthrough:
            return upstream_body
        value = decode_unique(upstream_body)
        if self.op is Op.CHAT:
            return _encode(openai_to_anthropic.response(
                value, request_id=ids.request_id, created=ids.created, model=model))
        if self.op is Op.RESPONSES:
            return _encode(responses_to_anthropic.response(
                value, request or {}, request_id=ids.request_id, created=ids.created,
                model=model))
        return _encode(anthropic_to_openai.response(value, message_id=f"msg_{ids.request_id}",
                                                    model=model))

    def error(self, status: int, upstream_body: bytes) -> bytes:
        if self.passthrough and upstream_error_message(upstream_body) is not None:
            return upstream_body
        message = upstream_error_message(upstream_body) or f"upstream answered HTTP {status}"
        return client_error(self.client, status, message)

    def stream(self, ids: Ids, model: str, include_usage: bool,
               request: dict[str, Any] | None = None) -> StreamConverter | None:
        if self.passthrough:
            return None
        if self.op is Op.CHAT:
            return _AnthropicToOpenAIStream(ids, model, include_usage)
        if self.op is Op.RESPONSES:
            return _AnthropicToResponsesStream(ids, model, request or {})
        return _OpenAIToAnthropicStream(ids, model)


class _AnthropicToOpenAIStream:
    """Anthropic SSE events in, OpenAI `data:` chunks out."""

    def __init__(self, ids: Ids, model: str, include_usage: bool) -> None:
        self._parser = SSEParser()
        self._translator = openai_to_anthropic.StreamTranslator(
            request_id=ids.request_id, created=ids.created, model=model,
            include_usage=include_usage)
        self._done = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if not event.data:
                continue
            name = event.event or "message"
            payload = decode_unique(event.data)
            for chunk in self._translator.feed(name, payload):
                out.append(b"data: " + _encode(chunk) + b"\n\n")
            if name == "message_stop":
                self._done = True
                out.append(b"data: [DONE]\n\n")
        return out

    def finish(self) -> list[bytes]:
        return [] if self._done else [b"data: [DONE]\n\n"]


class _AnthropicToResponsesStream:
    """Anthropic SSE events in, Responses API events (named, numbered) out."""

    def __init__(self, ids: Ids, model: str, request: dict[str, Any]) -> None:
        self._parser = SSEParser()
        self._translator = responses_to_anthropic.StreamTranslator(
            request, request_id=ids.request_id, created=ids.created, model=model)

    def _events(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
        return [encode_event(_encode(data), event=name) for name, data in pairs]

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if event.data:
                out += self._events(self._translator.feed(event.event or "message",
                                                          decode_unique(event.data)))
        return out

    def finish(self) -> list[bytes]:
        return self._events(self._translator.finish())


class _OpenAIToAnthropicStream:
    """OpenAI `data:` chunks in, Anthropic SSE events out."""

    def __init__(self, ids: Ids, model: str) -> None:
        self._parser = SSEParser()
        self._translator = anthropic_to_openai.StreamTranslator(
            message_id=f"msg_{ids.request_id}", model=model)
        self._finished = False

    def _events(self, pairs: list[tuple[str, dict[str, Any]]]) -> list[bytes]:
        return [encode_event(_encode(data), event=name) for name, data in pairs]

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if not event.data:
                continue
            if event.data.strip() == "[DONE]":
                out += self.finish()
                continue
            out += self._events(self._translator.feed(decode_unique(event.data)))
        return out

    def finish(self) -> list[bytes]:
        if self._finished:
            return []
        self._finished = True
        return self._events(self._translator.finish())


def adapter_for(op: Op, upstream: Family) -> Adapter:
    return Adapter(op=op, client=CLIENT_FAMILY[op], upstream=upstream)


def stream_error(family: Family, message: str, code: str = "upstream_stream_error") -> bytes:
    """The event that ends a stream early (the upstream broke, or the policy cut it), in
    the client's format; `code` tells a client which (OpenAI's format carries it)."""
    if family == "anthropic":
        return encode_event(anthropic_error(502, message), event="error")
    return b"data: " + openai_error(502, message, code) + b"\n\n"

