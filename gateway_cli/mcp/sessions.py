"""Downstream MCP sessions: who opened each one, what it negotiated, what it has in flight.

A session id is 32 random bytes (URL-safe), handed out by `initialize` in
`Mcp-Session-Id`, and bound to the principal that opened it: another caller
presenting it is answered as if it did not exist. Sessions end by DELETE,
after `session_idle` seconds unused, or when the gateway stops; their
number is capped, so a client cannot fill memory by initialising forever.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from gateway_cli.mcp.jsonrpc import Id

STREAM_QUEUE = 64


@dataclass
class Session:
    id: str
    principal_id: str
    server: str | None  # None: the aggregated endpoint /mcp
    version: str
    initialized: bool = False
    last: float = field(default_factory=time.monotonic)
    # client request id -> (server, upstream id, the task serving it)
    inflight: dict[Id, tuple[str | None, int | None, asyncio.Task[Any] | None]] = field(
        default_factory=dict)
    # gateway id of a request relayed to the client -> where its answer goes
    waiting: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    # The standalone GET stream's queue, while one is open (None ends it).
    stream: asyncio.Queue[dict[str, Any] | None] | None = None


class Sessions:
    def __init__(self, limit: int, idle: float) -> None:
        self.limit = limit
        self.idle = idle
        self.by_id: dict[str, Session] = {}

    def sweep(self, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        for sid in [s.id for s in self.by_id.values()
                    if moment - s.last > self.idle and not s.inflight]:
            self.end(sid)

    def open(self, principal_id: str, server: str | None, version: str) -> Session | None:
        """A new session, or None when the cap is reached even after sweeping idle ones."""
        self.sweep()
        if len(self.by_id) >= self.limit:
            return None
        session = Session(secrets.token_urlsafe(32), principal_id, server, version)
        self.by_id[session.id] = session
        return session

    def get(self, sid: str, principal_id: str, server: str | None) -> Session | None:
        session = self.by_id.get(sid)
        if session is None or session.principal_id != principal_id or session.server != server:
            return None
        session.last = time.monotonic()
        return session

    def end(self, sid: str) -> bool:
        session = self.by_id.pop(sid, None)
        if session is None:
            return False
        for _server, _upstream, task in session.inflight.values():
            if task is not None:
                task.cancel()
        for future in session.waiting.values():
            if not future.done():
                future.cancel()
        if session.stream is not None:
            session.stream.put_nowait(None)
        return True

    def broadcast(self, server: str, message: dict[str, Any]) -> None:
        """A notification to every open GET stream that shows `server` (bounded queues: a
        stream that does not read loses notifications, never grows memory)."""
        for session in self.by_id.values():
            queue = session.stream
            if queue is not None and session.server in (None, server) \
                    and queue.qsize() < STREAM_QUEUE:
                queue.put_nowait(message)
