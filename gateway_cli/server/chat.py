"""`POST /v1/chat/completions`: the OpenAI-format chat endpoint.

A raw ASGI handler (see asgi_io) so the hot path is: read the body with a
cap, decode once, validate the few fields the gateway routes on, answer.
Every refusal is an OpenAI error object, so the `openai` SDK raises its
usual typed exception, and nothing is forwarded.
"""

from __future__ import annotations

import logging
import os
import time

import msgspec
from litestar.types import Receive, Scope, Send

from gateway_cli.formats.openai_chat import RequestProblem, check_chat_request, decode_object
from gateway_cli.providers import mock
from gateway_cli.server import asgi_io
from gateway_cli.server.asgi_io import ClientGone, HttpError
from gateway_cli.server.errors import openai_error
from gateway_cli.server.runtime import Runtime

log = logging.getLogger("gateway.chat")
_encode = msgspec.json.Encoder().encode


def new_request_id() -> str:
    return os.urandom(12).hex()


async def _answer_mock(send: Send, body: dict[str, object], request_id: str,
                       headers: list[tuple[bytes, bytes]]) -> None:
    created = int(time.time())
    if body.get("stream") is True:
        await asgi_io.start_sse(send, headers)
        for chunk in mock.stream(body, request_id=request_id, created=created):
            await asgi_io.send_chunk(send, b"data: " + _encode(chunk) + b"\n\n")
        await asgi_io.send_chunk(send, b"data: [DONE]\n\n")
        await asgi_io.end_stream(send)
    else:
        answer = mock.complete(body, request_id=request_id, created=created)
        await asgi_io.send_response(send, 200, _encode(answer), headers=headers)


def make_handler(runtime: Runtime):  # type: ignore[no-untyped-def]
    limit = runtime.config.server.max_body_bytes

    async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        headers = [(b"x-request-id", request_id.encode())]
        try:
            if scope.get("method") != "POST":
                raise HttpError(405, "use POST for /v1/chat/completions", "method_not_allowed",
                                headers=[(b"allow", b"POST")])
            raw = await asgi_io.read_body(scope, receive, limit)
            try:
                body = decode_object(raw)
                check_chat_request(body)
            except RequestProblem as problem:
                raise HttpError(400, problem.message, "invalid_request", problem.param) from None
            model = body["model"]
            if model not in runtime.models:
                raise HttpError(404, f"The model '{model}' does not exist or is not configured "
                                "on this gateway; GET /v1/models lists the available ones",
                                "model_not_found", "model")
            await _answer_mock(send, body, request_id, headers)
        except HttpError as err:
            await asgi_io.send_response(
                send, err.status, openai_error(err.status, err.message, err.code, err.param),
                headers=[*headers, *err.headers],
            )
        except ClientGone:
            log.debug("client disconnected before the request was read (request %s)", request_id)

    return chat_completions
