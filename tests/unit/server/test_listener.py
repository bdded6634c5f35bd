"""The listening socket the gateway binds for Granian's workers."""

from __future__ import annotations

import socket

import pytest

from gateway_cli.errors import StartupError
from gateway_cli.server.listener import bind


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
