"""How the RSGI bridge hands a request body to the ASGI app: a body of one plain declared
Content-Length ends with its last byte (the empty part Granian sends after it is never
asked for: one hop less from its threads to the event loop per request); every other
framing is read to the server's own last part. The protocol object here yields parts as
Granian's does; tests/integration/test_rsgi_bridge.py covers the live server."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway_cli.server.asgi_io import read_body
from gateway_cli.server.rsgi_bridge import RsgiBridge


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items


class Scope:
    method = "POST"
    scheme = "http"
    path = "/v1/chat/completions"
    query_string = ""
    client = "127.0.0.1:5000"
    server = "127.0.0.1:8080"

    def __init__(self, headers: list[tuple[str, str]], version: str = "1.1") -> None:
        self.headers = Headers(headers)
        self.http_version = version


class Parts:
    """Granian's body parts: each given part, then an empty one; counts what was asked."""

    def __init__(self, *parts: bytes) -> None:
        self.parts = [*parts, b""]
        self.calls = 0
        self.answer: tuple[int, bytes] | None = None

    def __aiter__(self) -> Parts:
        return self

    async def __anext__(self) -> bytes:
        self.calls += 1
        return self.parts.pop(0)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.answer = (status, body)


def serve(parts: Parts, headers: list[tuple[str, str]], version: str = "1.1"
          ) -> list[dict[str, Any]]:
    """The messages the app's receive gave while reading the whole body; the app echoes it."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def noting() -> Any:
            message = await receive()
            seen.append(message)
            return message

        body = await read_body(scope, noting, 1 << 20)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    asyncio.run(RsgiBridge(app)(Scope(headers, version), parts))
    return seen


def test_a_body_of_its_declared_length_ends_with_its_last_byte() -> None:
    parts = Parts(b'{"model":"m"}')
    seen = serve(parts, [("content-length", "13")])
    assert parts.answer == (200, b'{"model":"m"}')
    assert seen == [{"type": "http.request", "body": b'{"model":"m"}', "more_body": False}]
    assert parts.calls == 1  # the empty last part was not asked for


def test_a_declared_body_in_pieces_ends_with_the_piece_that_completes_it() -> None:
    parts = Parts(b'{"a":', b" 1}")
    seen = serve(parts, [("content-length", "8")])
    assert [m["more_body"] for m in seen] == [True, False]
    assert parts.answer == (200, b'{"a": 1}') and parts.calls == 2


def test_bodies_not_framed_by_one_plain_length_are_read_to_the_servers_last_part() -> None:
    for headers in ([("transfer-encoding", "chunked")],
                    [("content-length", "2"), ("transfer-encoding", "chunked")],
                    [("content-length", "2"), ("content-length", "2")],
                    [("content-length", "+2")]):
        parts = Parts(b"{}")
        serve(parts, headers)
        assert parts.answer == (200, b"{}")
        assert parts.calls == 2, headers
    parts = Parts(b"{}")  # HTTP/2 without a length: the stream's end says it
    serve(parts, [], version="2")
    assert parts.answer == (200, b"{}") and parts.calls == 2


def test_no_body_announced_is_an_empty_body_without_asking_the_server() -> None:
    parts = Parts()
    assert serve(parts, []) == [{"type": "http.request", "body": b"", "more_body": False}]
    assert parts.calls == 0 and parts.answer == (200, b"")


def test_a_body_longer_than_declared_is_not_cut() -> None:
    parts = Parts(b"{}  ")  # a server would refuse it; the bridge must not hide it
    serve(parts, [("content-length", "2")])
    assert parts.answer == (200, b"{}  ")
