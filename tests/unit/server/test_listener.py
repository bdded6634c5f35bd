"""The listening socket the gateway binds for Granian's workers."""

from __future__ import annotations

import contextlib
import socket

import pytest

from gateway_cli.errors import StartupError
from gateway_cli.server.listener import bind, bind_each


def test_accepted_connections_do_not_wait_for_nagle() -> None:
    # A streamed answer's first event follows the response head as a second small
    # write; with Nagle's algorithm on it waited for the client's delayed ACK (~40 ms
    # per stream, seen on the bench). Accepted sockets inherit the listener's setting.
    listener = bind("127.0.0.1", 0, 16)
    try:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            listener.setblocking(True)
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


def test_a_busy_port_is_one_line() -> None:
    first = bind("127.0.0.1", 0, 16)
    try:
        port = first.getsockname()[1]
        with pytest.raises(StartupError) as caught:
            bind("127.0.0.1", port, 16)
        assert f"port {port} on 127.0.0.1 is already in use" in str(caught.value)
        assert "\n" not in str(caught.value)
    finally:
        first.close()


def test_each_worker_gets_its_own_socket_and_connections_are_spread() -> None:
    # One socket shared by two worker processes let one of them take most connections
    # (whoever waited in accept); a SO_REUSEPORT group splits them by address hash.
    sockets = bind_each("127.0.0.1", 0, 128, 2)
    try:
        assert len(sockets) == 2 and sockets[0] is not sockets[1]
        port = sockets[0].getsockname()[1]
        assert sockets[1].getsockname()[1] == port
        for sock in sockets:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
        try:
            counts = []
            for sock in sockets:
                sock.settimeout(0.5)
                taken = 0
                with contextlib.suppress(TimeoutError):
                    while True:
                        accepted, _ = sock.accept()
                        accepted.close()
                        taken += 1
                counts.append(taken)
            assert sum(counts) == 64
            assert min(counts) >= 12, counts  # a fair split: 32 each (under 12: ~1 in 10^7)
        finally:
            for client in clients:
                client.close()
    finally:
        for sock in sockets:
            sock.close()


def test_one_worker_binds_one_socket_and_a_busy_port_stays_one_line() -> None:
    (only,) = bind_each("127.0.0.1", 0, 16, 1)
    try:
        port = only.getsockname()[1]
        with pytest.raises(StartupError, match="already in use"):
            bind_each("127.0.0.1", port, 16, 2)
    finally:
        only.close()
