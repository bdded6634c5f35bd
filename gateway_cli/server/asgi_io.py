"""Lean ASGI helpers for the request hot path.

The proxy routes are raw ASGI handlers rather than Litestar's typed
handlers: the body is read once with a hard size cap, decoded once with
msgspec, and responses (SSE included) are sent with plain `send` calls.
The design notes measured Litestar's streaming response at about twice the
cost of a bare `send` loop on these machines.
"""

from __future__ import annotations

from litestar.types import Receive, Scope, Send

from gateway_cli.formats.errors import Headers, HttpError
from gateway_cli.net.deadline import deadline

JSON = b"application/json"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int,
                    timeout: float | None = None) -> bytes:
    """The whole request body, refusing more than `limit` bytes before reading it all.

    A body that has not fully arrived within `timeout` seconds is refused with
    408: a client trickling one byte a minute would otherwise hold its
    connection, and a slot of the server's, for as long as it likes.
    """
    try:
        with deadline(timeout):  # asyncio.timeout's semantics, cheaper (net/deadline.py)
            return await _read_body(scope, receive, limit)
    except TimeoutError:
        raise HttpError(408, f"the request body did not arrive within {timeout:g} s",
                        "request_timeout", headers=[(b"connection", b"close")]) from None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    declared = header(scope, b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise HttpError(400, "Content-Length is not a number", "invalid_header") from None
        if size > limit:
            raise HttpError(413, f"request body is {size} bytes; the limit is {limit}",
                            "request_too_large")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body: bytes = message.get("body", b"")  # type: ignore[assignment]
        if body:
            total += len(body)
            if total > limit:
                raise HttpError(413, f"request body exceeds the limit of {limit} bytes",
                                "request_too_large")
            chunks.append(body)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class ClientGone(Exception):
    """The client disconnected; there is nobody left to answer."""


async def send_response(send: Send, status: int, body: bytes, *,
                        content_type: bytes = JSON, headers: Headers = ()) -> None:
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def start_sse(send: Send, headers: Headers = ()) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [*_SSE_HEADERS, *headers]})


async def send_chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def end_stream(send: Send) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})

