"""Fake OpenAI / Azure OpenAI / Anthropic servers on 127.0.0.1 for integration tests.

Why this exists: the gateway's failover, retry and timeout logic must be exercised
against real sockets, with providers that answer in their exact wire formats and that
fail in the ways real providers fail (error statuses, stalls, dropped connections,
truncated or slow streams). The server uses only the standard library so that it
shares no HTTP code, and therefore no bugs, with the gateway's own client.
test_fake_upstream.py proves the formats by pointing the official SDKs at it.

Usage::

    with FakeUpstream("a") as up:              # kind="openai" (also Azure paths)
        up.script(status(429, retry_after=1), ok())
        ... point the gateway at up.url ...
        assert up.requests[0].json["model"] == "gpt-4o-mini"
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer

JSON: TypeAlias = dict[str, Any]
# A normal answer: a JSON object, or the list of already-framed SSE events of a stream.
Reply: TypeAlias = JSON | list[bytes]

# ------------------------------------------------------------------ behaviours


@dataclass(frozen=True)
class Ok:
    """Answer normally, after ``delay`` seconds of silence before the headers."""

    delay: float = 0.0


@dataclass(frozen=True)
class Status:
    """Answer ``code`` in the provider's error format; ``body`` replaces that JSON verbatim."""

    code: int
    retry_after: float | None = None
    body: JSON | None = None


@dataclass(frozen=True)
class Stall:
    """Read the request, send nothing for ``seconds``, then close: a hung upstream."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Read the request, then close the connection without a byte of response."""


@dataclass(frozen=True)
class DropMidStream:
    """Send the headers and ``after_events`` SSE events, then close the socket.

    The chunked framing is left unterminated, so a client sees a truncated body rather
    than a clean end of stream. A non-streaming answer is cut after half its body.
    """

    after_events: int


@dataclass(frozen=True)
class SlowStream:
    """Pause ``interval`` seconds between SSE events (non-streaming answers are unaffected)."""

    interval: float


Behaviour: TypeAlias = Ok | Status | Stall | Drop | DropMidStream | SlowStream


def ok(delay: float = 0.0) -> Ok:
    return Ok(delay)


def status(code: int, *, retry_after: float | None = None, body: JSON | None = None) -> Status:
    return Status(code, retry_after, body)


def stall(seconds: float) -> Stall:
    return Stall(seconds)


def drop() -> Drop:
    return Drop()


def drop_mid_stream(after_events: int) -> DropMidStream:
    return DropMidStream(after_events)


def slow_stream(interval: float) -> SlowStream:
    return SlowStream(interval)


@dataclass(frozen=True)
class Recorded:
    """One request as received: header names lower-cased, ``json`` None unless it parsed."""

    method: str
    path: str  # including the query string
    headers: dict[str, str]
    body: bytes
    json: Any


# ---------------------------------------------------------------------- errors

_OPENAI_KEY_HELP = "You can find your API key at https://platform.openai.com/account/api-keys."
# status -> (type, code, message), as the real API sends them.
_OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key",
          f"Incorrect API key provided: sk-***. {_OPENAI_KEY_HELP}"),
    403: ("invalid_request_error", "unsupported_country_region_territory",
          "Country, region, or territory not supported"),
    404: ("invalid_request_error", "model_not_found",
          "The model does not exist or you do not have access to it."),
    429: ("requests", "rate_limit_exceeded",
          "Rate limit reached for requests per min (RPM). Please try again later."),
    500: ("server_error", None,
          "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
# Errors produced by Azure's own front end use {"error": {"code", "message"}}.
_AZURE_ERRORS: dict[int, str] = {
    401: "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
         "provide a valid key for an active subscription and use a correct regional API "
         "endpoint for your resource.",
    404: "Resource not found",
    429: "Requests to the ChatCompletions_Create Operation have exceeded call rate limit of "
         "your current OpenAI S0 pricing tier. Please retry after 1 second.",
}
_ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use this resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timeout"),
    529: ("overloaded_error", "Overloaded"),
}


class _ApiError(Exception):
    """An error answer; rendered later in the dialect of the endpoint that was called."""

    def __init__(self, status: int, message: str, *, type_: str | None = None,
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.type, self.code, self.param = type_, code, param


def _error_body(dialect: str, status: int, request_id: str, err: _ApiError | None = None) -> JSON:
    """The provider's error JSON for ``status``; ``err`` overrides the stock wording."""
    if dialect == "anthropic":
        type_, message = _ANTHROPIC_ERRORS.get(
            status, ("api_error", "Internal server error") if status >= 500
            else ("invalid_request_error", "Invalid request."))
        if err is not None:
            type_, message = err.type or type_, err.message
        return {"type": "error", "error": {"type": type_, "message": message},
                "request_id": request_id}
    if dialect == "azure" and status in _AZURE_ERRORS and (err is None or err.type is None):
        return {"error": {"code": str(status),
                          "message": err.message if err else _AZURE_ERRORS[status]}}
    type_, code, message = _OPENAI_ERRORS.get(
        status, ("server_error", None, "Internal error.") if status >= 500
        else ("invalid_request_error", None, "Invalid request."))
    if err is not None:
        type_, code, message = err.type or type_, err.code, err.message
    return {"error": {"message": message, "type": type_,
                      "param": err.param if err else None, "code": code}}


# ------------------------------------------------------------- shared helpers

_TOOL_ARGS = '{"city": "Paris"}'
_TOOL_ARG_FRAGMENTS = ['{"city', '": "', "Paris", '"}']  # joined: _TOOL_ARGS


def _uid() -> str:
    return uuid.uuid4().hex[:24]


def _text(content: Any) -> str:
    """Plain text of message content: a string, or the text of its parts/blocks.

    Covers OpenAI parts ({"type": "text"|"input_text", "text"}) and Anthropic blocks,
    including the nested ``content`` of a tool_result block; other parts add nothing.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_text(b.get("text", b.get("content"))) for b in content if isinstance(b, dict)]
        return " ".join(p for p in parts if p)
    return ""


def _last_user(messages: list[Any]) -> JSON:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message
    return {}


def _words(text: str) -> list[str]:
    """Word-sized stream deltas that join back to ``text`` exactly."""
    return re.findall(r"\S+\s*|\s+", text) or [""]


def _tokens(chars: int) -> int:
    return chars // 4 + 1


def fake_embedding(text: str) -> list[float]:
    """The deterministic 8-dimensional vector the fake returns for ``text``.

    Values are multiples of 1/128, exact in float32, so "float" and "base64" agree.
    """
    return [(b - 128) / 128 for b in hashlib.sha256(text.encode()).digest()[:8]]


def _sse_data(obj: JSON) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _sse_event(name: str, obj: JSON) -> bytes:
    return f"event: {name}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _object(rec: Recorded) -> JSON:
    if not isinstance(rec.json, dict):
        raise _ApiError(400, "We could not parse the JSON body of your request. "
                             "The API expects a JSON object.")
    return rec.json


def _required(req: JSON, field: str) -> Any:
    if req.get(field) in (None, "", []):
        raise _ApiError(400, f"Missing required parameter: '{field}'.",
                        type_="invalid_request_error", param=field,
                        code="missing_required_parameter")
    return req[field]


# ------------------------------------------------------ OpenAI and Azure OpenAI


def _answer_openai(name: str, api_key: str | None, rec: Recorded,
                   said: tuple[str, ...] | None = None) -> Reply:
    url = urlsplit(rec.path)
    if url.path.startswith("/openai/"):
        return _answer_azure(name, api_key, rec)
    if api_key is not None and rec.headers.get("authorization") != f"Bearer {api_key}":
        raise _ApiError(401, f"Incorrect API key provided. {_OPENAI_KEY_HELP}",
                        type_="invalid_request_error", code="invalid_api_key")
    if (rec.method, url.path) == ("GET", "/v1/models"):
        return _models()
    handlers = {"/v1/chat/completions": _chat, "/v1/embeddings": _embeddings,
                "/v1/responses": _responses}
    handler = handlers.get(url.path)
    if rec.method != "POST" or handler is None:
        raise _ApiError(404, f"Invalid URL ({rec.method} {url.path})",
                        type_="invalid_request_error")
    req = _object(rec)
    if said is not None and handler is _chat:
        return _chat(name, req, _required(req, "model"), said)
    return handler(name, req, _required(req, "model"))


def _answer_azure(name: str, api_key: str | None, rec: Recorded) -> Reply:
    """Azure routes by deployment (which becomes ``model``) and needs ?api-version=."""
    url = urlsplit(rec.path)
    if api_key is not None and rec.headers.get("api-key") != api_key:
        raise _ApiError(401, _AZURE_ERRORS[401])
    route = re.fullmatch(r"/openai/deployments/([^/]+)/(chat/completions|embeddings)", url.path)
    if rec.method != "POST" or route is None or not parse_qs(url.query).get("api-version"):
        raise _ApiError(404, _AZURE_ERRORS[404])
    handler = _chat if route.group(2) == "chat/completions" else _embeddings
    return handler(name, _object(rec), route.group(1))


def _chat(name: str, req: JSON, model: str, said: tuple[str, ...] | None = None) -> Reply:
    messages = _required(req, "messages")
    if not isinstance(messages, list):
        raise _ApiError(400, "'messages' must be an array.", param="messages")
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    user_text = _text(_last_user(messages).get("content"))
    tools = req.get("tools") or []
    tool_name: str | None = None
    if last.get("role") == "tool":
        text = f"{name}: tool said {_text(last.get('content'))}"
    elif tools and "call a tool" in user_text:
        tool_name = str(tools[0].get("function", {}).get("name", ""))
        text = _TOOL_ARGS
    else:
        text = f"{name}: {user_text}"
    if said is not None:  # scripted with FakeUpstream.say
        text, tool_name = "".join(said), None
    prompt = _tokens(sum(len(_text(m.get("content"))) for m in messages if isinstance(m, dict)))
    completion = _tokens(len(text))
    usage = {"prompt_tokens": prompt, "completion_tokens": completion,
             "total_tokens": prompt + completion,
             "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
             "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                           "accepted_prediction_tokens": 0,
                                           "rejected_prediction_tokens": 0}}
    finish = "tool_calls" if tool_name is not None else "stop"
    base = {"id": f"chatcmpl-{_uid()}", "created": int(time.time()), "model": model,
            "service_tier": "default", "system_fingerprint": "fp_fake"}
    if not req.get("stream"):
        message: JSON = {"role": "assistant", "content": text, "refusal": None,
                         "annotations": []}
        if tool_name is not None:
            message["content"] = None
            message["tool_calls"] = [{"id": "call_1", "type": "function",
                                      "function": {"name": tool_name, "arguments": text}}]
        return {**base, "object": "chat.completion", "usage": usage,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": finish}]}

    include_usage = bool((req.get("stream_options") or {}).get("include_usage"))

    def chunk(delta: JSON, finish_reason: str | None = None) -> bytes:
        obj: JSON = {**base, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                  "finish_reason": finish_reason}]}
        if include_usage:
            obj["usage"] = None
        return _sse_data(obj)

    deltas: list[JSON] = [{"role": "assistant",
                           "content": None if tool_name is not None else "",
                           "refusal": None}]
    if tool_name is not None:
        deltas.append({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                       "function": {"name": tool_name, "arguments": ""}}]})
        deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}
                   for fragment in _TOOL_ARG_FRAGMENTS]
    else:
        deltas += [{"content": word} for word in (said or _words(text))]
    events = [chunk(delta) for delta in deltas] + [chunk({}, finish)]
    if include_usage:
        events.append(_sse_data({**base, "object": "chat.completion.chunk", "choices": [],
                                 "usage": usage}))
    return [*events, b"data: [DONE]\n\n"]


def _embeddings(name: str, req: JSON, model: str) -> Reply:
    inputs = _required(req, "input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
        raise _ApiError(400, "'input' must be a string or an array of strings.", param="input")
    encoding = req.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise _ApiError(400, f"Invalid value for 'encoding_format': {encoding!r}.",
                        param="encoding_format")
    data = []
    for index, text in enumerate(inputs):
        vector = fake_embedding(text)
        packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index,
                     "embedding": vector if encoding == "float" else packed})
    tokens = _tokens(sum(len(t) for t in inputs))
    return {"object": "list", "data": data, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _responses(name: str, req: JSON, model: str) -> Reply:
    if req.get("stream"):
        raise _ApiError(400, "Streaming the Responses API is not supported by fake.",
                        param="stream")
    given = req.get("input")
    user_text = given if isinstance(given, str) else _text(
        _last_user(given).get("content") if isinstance(given, list) else None)
    text = f"{name}: {user_text}"
    input_tokens, output_tokens = _tokens(len(user_text)), _tokens(len(text))
    now = int(time.time())
    return {
        "id": f"resp_{_uid()}", "object": "response", "created_at": now,
        "completed_at": now, "status": "completed", "error": None,
        "incomplete_details": None, "instructions": req.get("instructions"),
        "max_output_tokens": req.get("max_output_tokens"), "model": model,
        "output": [{"type": "message", "id": f"msg_{_uid()}", "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": [],
                                 "logprobs": []}]}],
        "parallel_tool_calls": True, "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None}, "store": True,
        "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [], "top_p": 1.0, "truncation": "disabled", "user": None, "metadata": {},
        "usage": {"input_tokens": input_tokens,
                  "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "output_tokens": output_tokens,
                  "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": input_tokens + output_tokens},
    }


def _models() -> Reply:
    ids = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 1715367049,
                                        "owned_by": "system"} for i in ids]}


# ------------------------------------------------------------------ Anthropic


def _answer_anthropic(name: str, api_key: str | None, rec: Recorded,
                      said: tuple[str, ...] | None = None) -> Reply:
    key = rec.headers.get("x-api-key")
    if api_key is not None and key != api_key:
        raise _ApiError(401, "x-api-key header is required" if key is None
                        else "invalid x-api-key")
    if not rec.headers.get("anthropic-version"):
        raise _ApiError(400, "anthropic-version: header is required")
    path = urlsplit(rec.path).path
    if rec.method == "POST" and path == "/v1/messages":
        return _messages(name, _object(rec), said)
    if rec.method == "POST" and path == "/v1/messages/count_tokens":
        return {"input_tokens": _input_tokens(_object(rec))}
    raise _ApiError(404, "Not Found")


def _input_tokens(req: JSON) -> int:
    for field in ("model", "messages"):
        if field not in req:
            raise _ApiError(400, f"{field}: Field required")
    messages = req["messages"]
    if not isinstance(messages, list) or not messages:
        raise _ApiError(400, "messages: at least one message is required")
    chars = len(_text(req.get("system"))) + sum(
        len(_text(m.get("content"))) for m in messages if isinstance(m, dict))
    return _tokens(chars)


def _messages(name: str, req: JSON, said: tuple[str, ...] | None = None) -> Reply:
    input_tokens = _input_tokens(req)
    if "max_tokens" not in req:
        raise _ApiError(400, "max_tokens: Field required")
    content = _last_user(req["messages"]).get("content")
    blocks = content if isinstance(content, list) else []
    results = [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]
    tools = req.get("tools") or []
    tool_name: str | None = None
    if results:
        text = f"{name}: tool said {' '.join(_text(b.get('content')) for b in results)}"
    elif tools and "call a tool" in _text(content):
        tool_name = str(tools[0].get("name", ""))
        text = _TOOL_ARGS
    else:
        text = f"{name}: {_text(content)}"
    if said is not None:  # scripted with FakeUpstream.say
        text, tool_name = "".join(said), None
    output_tokens = _tokens(len(text))
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens,
             "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "service_tier": "standard"}
    stop_reason = "tool_use" if tool_name is not None else "end_turn"
    block: JSON = ({"type": "tool_use", "id": "toolu_1", "name": tool_name,
                    "input": json.loads(_TOOL_ARGS)} if tool_name is not None
                   else {"type": "text", "text": text})
    message = {"id": f"msg_{_uid()}", "type": "message", "role": "assistant",
               "model": req["model"], "content": [block], "stop_reason": stop_reason,
               "stop_sequence": None, "usage": usage}
    if not req.get("stream"):
        return message

    if tool_name is not None:
        deltas = [{"type": "input_json_delta", "partial_json": f} for f in _TOOL_ARG_FRAGMENTS]
        empty_block: JSON = {**block, "input": {}}
    else:
        deltas = [{"type": "text_delta", "text": word} for word in (said or _words(text))]
        empty_block = {**block, "text": ""}
    started = {**message, "content": [], "stop_reason": None,
               "usage": {**usage, "output_tokens": 1}}
    return [
        _sse_event("message_start", {"type": "message_start", "message": started}),
        _sse_event("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": empty_block}),
        _sse_event("ping", {"type": "ping"}),
        *[_sse_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                             "delta": delta}) for delta in deltas],
        _sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse_event("message_delta", {"type": "message_delta",
                                     "delta": {"stop_reason": stop_reason,
                                               "stop_sequence": None},
                                     "usage": {"output_tokens": output_tokens}}),
        _sse_event("message_stop", {"type": "message_stop"}),
    ]


# --------------------------------------------------------------------- server


class _Server(LoopbackServer):
    fake: FakeUpstream

    def __init__(self, fake: FakeUpstream) -> None:
        super().__init__(fake, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    server_version = "fake-upstream"
    sys_version = ""
    timeout = 30  # an idle keep-alive connection cannot pin a thread for ever
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Each SSE event must leave at once; Nagle would hold small writes back.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output should show failures, not traffic (see FakeUpstream.requests)."""

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        headers: dict[str, str] = {}
        for key, value in self.headers.items():
            key = key.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        rec = Recorded(self.command, self.path, headers, body, parsed)
        behaviour = fake._take(rec)
        self._dialect = fake._dialect(urlsplit(self.path).path)
        self._request_id = f"req_{_uid()}"

        match behaviour:
            case Drop():
                self.close_connection = True
                return
            case Stall(seconds):
                fake._stopping.wait(seconds)
                self.close_connection = True
                return
            case Status(code, retry_after, custom):
                error = custom if custom is not None else _error_body(
                    self._dialect, code, self._request_id)
                self._send_json(code, error, retry_after=retry_after)
                return
            case Ok(delay) if delay > 0:
                if fake._stopping.wait(delay):  # stop() interrupted the delay
                    self.close_connection = True
                    return
        try:
            reply = fake._answer(rec)
        except _ApiError as err:
            self._send_json(err.status, _error_body(self._dialect, err.status,
                                                    self._request_id, err))
            return
        if isinstance(reply, list):
            self._send_stream(reply, behaviour)
        else:
            self._send_json(200, reply, truncate=isinstance(behaviour, DropMidStream))

    def _start(self, code: int, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        id_header = "request-id" if self._dialect == "anthropic" else "x-request-id"
        self.send_header(id_header, self._request_id)

    def _send_json(self, code: int, obj: JSON, *, retry_after: float | None = None,
                   truncate: bool = False) -> None:
        data = json.dumps(obj).encode()
        self._start(code, "application/json")
        if retry_after is not None:
            self.send_header("Retry-After", f"{retry_after:g}")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if truncate:
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def _send_stream(self, events: list[bytes], behaviour: Behaviour) -> None:
        """Each event is its own HTTP chunk, written at once: nothing is buffered here."""
        self._start(200, "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        stopping = self.server.fake._stopping
        for index, event in enumerate(events):
            if isinstance(behaviour, DropMidStream) and index >= behaviour.after_events:
                self.close_connection = True  # no terminating chunk: a truncated body
                return
            if isinstance(behaviour, SlowStream) and index and stopping.wait(behaviour.interval):
                self.close_connection = True
                return
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")


class FakeUpstream:
    """A provider on 127.0.0.1:<free port>, for ``kind`` "openai" or "anthropic".

    kind "openai" also serves OpenAI-compatible clients and the Azure OpenAI
    deployment paths (/openai/deployments/{name}/...). ``api_key=None`` accepts any
    credentials. Each request takes the next scripted behaviour, else the ``always``
    one, else answers normally; it is appended to ``requests`` before any answer is
    sent, so the record is there by the time a client sees the response.
    """

    def __init__(self, name: str = "up", *, api_key: str | None = "test-key",
                 kind: str = "openai") -> None:
        if kind not in ("openai", "anthropic"):
            raise ValueError(f"kind must be 'openai' or 'anthropic', not {kind!r}")
        self.name, self.api_key, self.kind = name, api_key, kind
        self.requests: list[Recorded] = []
        self.port = 0
        self.url = ""
        self._lock = threading.Lock()
        self._queue: deque[Behaviour] = deque()
        self._always: Behaviour | None = None
        self._said: deque[tuple[str, ...]] = deque()
        self._stopping = threading.Event()  # wakes stalls, delays and slow streams
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def script(self, *behaviours: Behaviour) -> None:
        """Queue behaviours, consumed one per request in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def clear(self) -> None:
        """Forget unused scripted behaviours and the `always` one (shared fakes between tests)."""
        with self._lock:
            self._queue.clear()
            self._always = None
            self._said.clear()

    def say(self, *chunks: str) -> None:
        """Script the model's text for the next chat or messages answer.

        Each chunk becomes one stream delta, in order (a non-streaming answer
        joins them), instead of the usual echo of the last user message.
        Queued: each call covers one answer.
        """
        with self._lock:
            self._said.append(chunks)

    def always(self, behaviour: Behaviour | None) -> None:
        """Apply ``behaviour`` to every request not covered by the script; None clears it."""
        with self._lock:
            self._always = behaviour

    def start(self) -> FakeUpstream:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-upstream-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, wake sleeping handlers, cut open connections, join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self._lock:
            self._stopping.set()
            connections = dict(self._connections)
        server.shutdown()
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for handler in connections.values():
            handler.join(timeout=5)
        server.server_close()
        thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FakeUpstream({self.name!r}, kind={self.kind!r}, url={self.url!r})"

    # Called from handler threads.

    def _track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections[connection] = threading.current_thread()
            closing = self._stopping.is_set()
        if closing:  # accepted while stop() was running: it may not have seen us
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)

    def _take(self, rec: Recorded) -> Behaviour:
        with self._lock:
            self.requests.append(rec)
            if self._queue:
                return self._queue.popleft()
            return self._always or Ok()

    def _dialect(self, path: str) -> str:
        if self.kind == "anthropic":
            return "anthropic"
        return "azure" if path.startswith("/openai/") else "openai"

    def _answer(self, rec: Recorded) -> Reply:
        with self._lock:
            said = self._said.popleft() if self._said else None
        if self.kind == "anthropic":
            return _answer_anthropic(self.name, self.api_key, rec, said)
        return _answer_openai(self.name, self.api_key, rec, said)
