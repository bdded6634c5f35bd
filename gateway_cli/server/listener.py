"""The listening socket, bound by the gateway and handed to Granian (one per worker
process under `--workers N`, see `bind_each`).

Granian's embedded server would bind its own socket per worker (SO_REUSEPORT on
Linux), and a worker it respawns, to load a renewed certificate, would get a new
one: connections queued on the old socket when it closes are reset. So the
gateway binds once, here (a port in use is one clear line, not a Rust panic),
and every worker, respawned or in another process, accepts on a duplicate of
that one descriptor. The socket lives as long as the gateway: no connection is
refused while a worker is replaced.

This relies on two internals of Granian's embedded server (2.8): the worker takes
`(spec, holder)` from `_ssp`/`_shd`, and `SocketHolder(fd, uds, backlog)` owns
the descriptor it is given (it closes it when the worker ends, hence the dup per
worker). The TLS and workers integration tests fail if either changes.
"""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from granian.server.embed import Server

from gateway_cli.errors import StartupError


def _refusal(host: str, port: int, err: OSError) -> StartupError:
    if err.errno == errno.EADDRINUSE:
        return StartupError(f"port {port} on {host} is already in use; stop the other "
                            "process or choose another port with --port")
    if err.errno == errno.EACCES:
        return StartupError(f"permission denied listening on {host}:{port}; "
                            "ports below 1024 need privileges")
    return StartupError(f"cannot listen on {host}:{port}: {err.strerror}")


def bind_each(host: str, port: int, backlog: int, workers: int) -> list[socket.socket]:
    """One listening socket per worker process, all on (host, port).

    With one socket shared by every worker process, the kernel hands each new connection
    to whichever process happens to be waiting in accept: under load one worker took
    about three quarters of wrk's 64 connections while the other idled (seen with `ss`),
    and two workers served no more than one. Sockets in one SO_REUSEPORT group split
    connections between them by a hash of the addresses instead, evenly over many
    clients. Each socket still lives as long as the gateway (the parent keeps it), so a
    worker replaced after a crash, or rebuilt in place for a new certificate, accepts on
    the same one. Only sockets of this user can join the group (Linux); where the option
    does not exist, every worker shares one socket, as before.
    """
    if workers <= 1 or not hasattr(socket, "SO_REUSEPORT"):
        first = bind(host, port, backlog)
        return [first] * max(workers, 1)
    first = bind(host, port, backlog, reuse_port=True)
    sockets = [first]
    try:
        for _ in range(workers - 1):
            sockets.append(bind(host, first.getsockname()[1], backlog, reuse_port=True))
    except StartupError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind(host: str, port: int, backlog: int, reuse_port: bool = False) -> socket.socket:
    """The listening socket, or one line saying why (host, port) cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise StartupError(f"cannot listen on {host}:{port}: unknown address "
                           f"({err.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        # Accepted connections inherit this. Without it a streamed answer's first event,
        # written right after the response head, waits for the client's delayed ACK
        # (Nagle's algorithm): about 40 ms on every stream.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as err:
        sock.close()
        raise _refusal(host, port, err) from None
    sock.setblocking(False)
    return sock


class SharedSocketServer(Server):
    """Granian's embedded server accepting on the gateway's socket instead of its own."""

    def __init__(self, *args: Any, listener: socket.socket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listener = listener

    def _init_shared_socket(self) -> None:
        self._ssp = None
        self._shd = None

    # The embedded server's override takes three arguments (its base class's stub four).
    def _spawn_worker(self, idx: Any, target: Any, callback_loader: Any,
                      *_: Any) -> Any:
        from granian._granian import SocketHolder

        # Each worker owns (and at its end closes) its own duplicate of the descriptor;
        # the stub omits the constructor's (fd, uds, backlog).
        holder: Any = SocketHolder(os.dup(self._listener.fileno()), False,  # type: ignore[call-arg]
                                   self.backlog)
        self._shd = holder
        return super()._spawn_worker(idx, target, callback_loader)
