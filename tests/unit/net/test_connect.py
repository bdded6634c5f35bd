"""net/connect.py: Happy Eyeballs on asyncio's loop and on uvloop, against real loopback
sockets: one that refuses (no listener), one that never answers (a listener whose accept
queue is full, so the kernel drops the SYN) and one that accepts. Every socket an attempt
opened is closed whatever the outcome: the tests count this process's open descriptors."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from gateway_cli.net.connect import Address, interleaved, open_socket, race
from gateway_cli.server.event_loop import run

LOOPS = ["asyncio", "uvloop"]
DELAY = 0.2


def _on(loop: str, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """`make()` on the loop named; raises if it left a descriptor open (counted inside the
    loop, so the loop's own are not counted)."""
    out: list[Any] = []

    async def main() -> None:
        gc.collect()  # earlier tests' garbage sockets closed now, not while counting
        before = _open_fds()
        try:
            out.append(await make())
        finally:
            await asyncio.sleep(0.05)  # a transport closes on the loop's next turns
            opened = _open_fds() - before - (1 if out and isinstance(out[0], socket.socket)
                                             else 0)
            assert opened <= 0, f"{opened} descriptor(s) left open"

    run(main(), loop)  # type: ignore[arg-type]
    return out[0]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _address(port: int) -> Address:
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, ("127.0.0.1", port))


@contextmanager
def _listener(backlog: int = 16) -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def _black_hole() -> Iterator[int]:
    """A port whose SYNs go unanswered: listen(0) holds one connection, made here."""
    with _listener(0) as sock:
        filler = socket.create_connection(sock.getsockname(), timeout=2)
        try:
            yield sock.getsockname()[1]
        finally:
            filler.close()


def _refused_port() -> int:
    with _listener() as sock:
        port: int = sock.getsockname()[1]
    return port  # nothing listens there now


def test_addresses_alternate_by_family_first_family_first() -> None:
    v6 = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (f"::{i}", 443, 0, 0)) for i in (1, 2)]
    v4 = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (f"10.0.0.{i}", 443)) for i in (1, 2, 3)]
    got = [a[3][0] for a in interleaved([*v6, *v4])]
    assert got == ["::1", "10.0.0.1", "::2", "10.0.0.2", "10.0.0.3"]
    assert [a[3][0] for a in interleaved([v4[0], *v6])] == ["10.0.0.1", "::1", "::2"]
    assert interleaved([]) == []


@pytest.mark.parametrize("loop", LOOPS)
def test_a_dead_address_costs_the_delay_not_the_timeout(loop: str) -> None:
    with _black_hole() as dead, _listener() as good:
        started = time.monotonic()
        sock = _on(loop, lambda: race([_address(dead), _address(good.getsockname()[1])],
                                      DELAY))
        took = time.monotonic() - started
        try:
            assert sock.getpeername() == good.getsockname()
            assert DELAY * 0.9 <= took < 2.0
        finally:
            sock.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_a_refusing_address_moves_on_at_once(loop: str) -> None:
    with _listener() as good:
        started = time.monotonic()
        sock = _on(loop, lambda: race([_address(_refused_port()),
                                       _address(good.getsockname()[1])], 5.0))
        try:
            assert sock.getpeername() == good.getsockname()
            assert time.monotonic() - started < 2.0  # not the 5 s delay
        finally:
            sock.close()


@pytest.mark.parametrize("loop", LOOPS)
def test_every_address_failing_is_one_clear_error_and_nothing_left_open(loop: str) -> None:
    first, second = _refused_port(), _refused_port()
    with pytest.raises(ConnectionRefusedError):
        _on(loop, lambda: race([_address(first), _address(second)], DELAY))
    with pytest.raises(OSError, match="no address"):
        _on(loop, lambda: race([], DELAY))


@pytest.mark.parametrize("loop", LOOPS)
def test_a_deadline_around_dead_addresses_ends_every_attempt(loop: str) -> None:
    """As the client's connect timeout does: every attempt cancelled, every socket closed."""
    with _black_hole() as dead:

        async def bounded() -> None:
            async with asyncio.timeout(DELAY * 3):
                await race([_address(dead)] * 3, DELAY)

        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _on(loop, bounded)
        assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("loop", LOOPS)
def test_open_socket_resolves_a_name(loop: str) -> None:
    with _listener() as good:
        port = good.getsockname()[1]
        sock = _on(loop, lambda: open_socket("127.0.0.1", port, DELAY))
        try:
            assert sock.getpeername() == ("127.0.0.1", port)
            assert not sock.getblocking()
        finally:
            sock.close()
