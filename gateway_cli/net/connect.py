"""Connecting to an upstream that has several addresses, on any asyncio event loop.

A host with IPv6 and IPv4 addresses may have a dead route on one family: trying
its addresses one after another would cost a whole connect timeout per dead
one. As RFC 8305 (Happy Eyeballs) asks, the addresses are taken alternately by
family and the next is started when the one before fails or has not connected
within `delay`; the first to connect is used and every other attempt is
cancelled or closed. asyncio's own loop does this inside `create_connection`
(`happy_eyeballs_delay`), uvloop does not (server/event_loop.py), so the
gateway does it here, the same way on both.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

Address = tuple[int, int, int, Any]  # family, type, proto, sockaddr (from getaddrinfo)


def interleaved(infos: Sequence[tuple[Any, ...]]) -> list[Address]:
    """getaddrinfo's answers as (family, type, proto, sockaddr), alternating families,
    the first family first (RFC 8305 section 4)."""
    by_family: dict[int, list[Address]] = {}
    for family, kind, proto, _, sockaddr in infos:
        by_family.setdefault(family, []).append((family, kind, proto, sockaddr))
    queues = list(by_family.values())
    out: list[Address] = []
    while queues:
        out.extend(queue.pop(0) for queue in queues)
        queues = [queue for queue in queues if queue]
    return out


async def _connect(loop: asyncio.AbstractEventLoop, address: Address) -> socket.socket:
    family, kind, proto, sockaddr = address
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _failed(errors: list[OSError]) -> OSError:
    if len({(type(e), e.errno) for e in errors}) == 1:
        return errors[0]  # the same failure everywhere (refused, unreachable): as it is
    return OSError("every address failed: " + "; ".join(str(e) for e in errors))


async def race(addresses: Sequence[Address], delay: float) -> socket.socket:
    """The first of `addresses` to connect, each started `delay` s after the one before
    (at once when the one before fails); the other attempts are ended and closed."""
    if not addresses:
        raise OSError("no address to connect to")
    loop = asyncio.get_running_loop()
    waiting = list(addresses)
    running: set[asyncio.Task[socket.socket]] = set()
    errors: list[OSError] = []
    try:
        while waiting or running:
            if waiting:
                running.add(loop.create_task(_connect(loop, waiting.pop(0))))
            done, running = await asyncio.wait(
                running, timeout=delay if waiting else None,
                return_when=asyncio.FIRST_COMPLETED)
            winner: socket.socket | None = None
            failure: BaseException | None = None
            for task in done:
                error = task.exception()
                if error is None:
                    if winner is None:
                        winner = task.result()
                    else:  # two connected at once: the second is not needed
                        task.result().close()
                elif isinstance(error, OSError):
                    errors.append(error)
                else:
                    failure = error
            if failure is not None:
                if winner is not None:
                    winner.close()
                raise failure
            if winner is not None:
                return winner
        raise _failed(errors)
    finally:
        for task in running:
            if not task.done():
                task.cancel()  # its _connect closes the socket it opened
            elif not task.cancelled() and task.exception() is None:
                task.result().close()  # connected just as the race was ended from outside


async def open_socket(host: str, port: int, delay: float) -> socket.socket:
    """A connected, non-blocking TCP socket to `host`:`port` (see the module's note)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return await race(interleaved(infos), delay)
