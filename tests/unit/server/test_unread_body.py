"""A response started before the request body was read: drained, or the connection closes."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway_cli.server import unread_body
from gateway_cli.server.unread_body import CLOSE, Reading, declares_body


def scope(*headers: tuple[bytes, bytes], version: str = "1.1") -> Any:
    return {"type": "http", "http_version": version, "headers": list(headers)}


class Parts:
    """A receive callable handing out body parts, optionally after a delay each."""

    def __init__(self, *parts: bytes, delay: float = 0.0) -> None:
        self.parts = list(parts)
        self.delay = delay
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if not self.parts:
            await asyncio.sleep(3600)  # a client that never sends the rest
        body = self.parts.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.parts)}


def settle(reading: Reading, headers: list[tuple[bytes, bytes]] | None = None
           ) -> list[tuple[bytes, bytes]]:
    return asyncio.run(reading.settle(headers or [(b"content-type", b"application/json")]))


def test_which_requests_declare_a_body() -> None:
    assert declares_body(scope((b"content-length", b"12")))
    assert declares_body(scope((b"transfer-encoding", b"chunked")))
    assert not declares_body(scope((b"content-length", b"0")))
    assert not declares_body(scope())
    assert not declares_body(scope((b"content-length", b"12"), version="2"))


def test_a_request_without_a_body_is_settled_without_reading() -> None:
    parts = Parts(b"never")
    reading = Reading(scope(), parts)
    assert reading.done
    assert settle(reading) == [(b"content-type", b"application/json")]
    assert parts.calls == 0


def test_a_small_body_still_arriving_is_read_and_the_connection_kept() -> None:
    parts = Parts(b"{\"a\":", b" 1}", delay=0.01)
    reading = Reading(scope((b"content-length", b"8")), parts)
    headers = settle(reading)
    assert CLOSE not in headers
    assert reading.done and parts.parts == []


def test_a_body_read_by_the_handler_is_not_read_again() -> None:
    parts = Parts(b"{}")
    reading = Reading(scope((b"content-length", b"2")), parts)
    asyncio.run(reading())
    assert reading.done
    assert CLOSE not in settle(reading)
    assert parts.calls == 1


def test_a_large_declared_body_is_not_read_and_the_connection_closes() -> None:
    parts = Parts(b"x" * 10)
    reading = Reading(scope((b"content-length", str(unread_body.DRAIN_LIMIT + 1).encode())),
                      parts)
    assert settle(reading)[-1] == CLOSE
    assert parts.calls == 0


def test_a_chunked_body_past_the_limit_closes_the_connection() -> None:
    chunk = b"x" * 40000
    parts = Parts(chunk, chunk, chunk)
    reading = Reading(scope((b"transfer-encoding", b"chunked")), parts)
    assert settle(reading)[-1] == CLOSE
    assert parts.calls == 2  # stopped as soon as the limit was passed


def test_a_body_that_does_not_arrive_in_time_closes_the_connection(monkeypatch: Any) -> None:
    monkeypatch.setattr(unread_body, "DRAIN_TIMEOUT", 0.05)
    reading = Reading(scope((b"content-length", b"2")), Parts())  # the body never comes
    assert settle(reading)[-1] == CLOSE


def test_a_response_that_already_closes_is_left_alone() -> None:
    reading = Reading(scope((b"content-length", b"2")), Parts())
    headers = [(b"connection", b"close")]
    assert settle(reading, headers) == headers


def test_a_disconnect_ends_the_drain() -> None:
    async def gone() -> Any:
        return {"type": "http.disconnect"}

    reading = Reading(scope((b"content-length", b"2")), gone)
    assert CLOSE not in settle(reading)
    assert reading.done


class GranianParts:
    """A receive shaped as Granian's: every body part with more_body true, then an empty
    last part (the handler used to ask for it: one more hop from Granian's threads)."""

    def __init__(self, *parts: bytes) -> None:
        self.messages = [{"type": "http.request", "body": p, "more_body": True} for p in parts]
        self.messages.append({"type": "http.request", "body": b"", "more_body": False})
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        return self.messages.pop(0)


def read_all(reading: Reading) -> bytes:
    from gateway_cli.server.asgi_io import read_body

    return asyncio.run(read_body(scope(), reading, 1 << 20))


def test_a_body_of_its_declared_length_ends_with_its_last_byte() -> None:
    parts = GranianParts(b'{"model":"m"}')
    reading = Reading(scope((b"content-length", b"13")), parts)
    assert read_all(reading) == b'{"model":"m"}'
    assert reading.done and parts.calls == 1  # the empty last part was not asked for
    assert CLOSE not in settle(reading)  # nothing left on the connection: kept


def test_a_declared_body_in_pieces_ends_with_the_piece_that_completes_it() -> None:
    parts = GranianParts(b'{"a":', b" 1}")
    reading = Reading(scope((b"content-length", b"8")), parts)
    first = asyncio.run(reading())
    assert first["more_body"] is True and not reading.done
    last = asyncio.run(reading())
    assert last == {"type": "http.request", "body": b" 1}", "more_body": False}
    assert reading.done and parts.calls == 2


def test_bodies_not_framed_by_one_plain_length_are_read_to_the_servers_last_part() -> None:
    for headers in ([(b"transfer-encoding", b"chunked")],
                    [(b"content-length", b"2"), (b"transfer-encoding", b"chunked")],
                    [(b"content-length", b"2"), (b"content-length", b"2")],
                    [(b"content-length", b"+2")]):
        parts = GranianParts(b"{}")
        reading = Reading(scope(*headers), parts)
        assert read_all(reading) == b"{}"
        assert parts.calls == 2, headers
    parts = GranianParts(b"{}")  # HTTP/2: the stream's end says it, as before
    assert read_all(Reading(scope((b"content-length", b"2"), version="2"), parts)) == b"{}"
    assert parts.calls == 2


def test_a_body_longer_than_declared_is_not_cut() -> None:
    parts = GranianParts(b"{}  ")  # a server would refuse it; the reader must not hide it
    reading = Reading(scope((b"content-length", b"2")), parts)
    assert read_all(reading) == b"{}  "
    assert parts.calls == 2
