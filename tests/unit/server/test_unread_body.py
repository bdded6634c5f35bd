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
