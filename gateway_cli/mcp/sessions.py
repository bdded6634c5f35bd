"""Downstream MCP sessions: who opened each one, what it negotiated, what it has in flight.

A session id is 24 random bytes (URL-safe), the negotiated protocol version
and an HMAC over them, the principal and the endpoint, handed out by
`initialize` in `Mcp-Session-Id`; a session is bound to the principal that
opened it: another caller presenting it is answered as if it did not exist.
Sessions end by DELETE, after `session_idle` seconds unused, or when the
gateway stops; their number is capped, so a client cannot fill memory by
initialising forever.

With `serve --workers N` each worker is a process with its own sessions, and a
client's next request may reach another worker. There (`adopt`), an id this
worker never saw is taken up when its HMAC, under the key every worker
inherited, matches the caller and the endpoint: the session goes on, already
initialised. What lives in one process does not move: a request in flight and a
server's own request (sampling) waiting for the client's answer stay on the
worker that serves them, and a cancel, an answer or a DELETE that lands on
another worker is passed on to the one that holds its target
(server/mcp_peers.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from gateway_cli.mcp.jsonrpc import Id

STREAM_QUEUE = 64
ENDED_KEPT = 4096  # ids of sessions ended here, never taken up again by this worker
_VERSION = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAC = re.compile(r"[0-9a-f]{32}")  # also keeps non-ASCII out of hmac.compare_digest


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
    def __init__(self, limit: int, idle: float, *, key: bytes | None = None,
                 adopt: bool = False) -> None:
        self.limit = limit
        self.idle = idle
        self.by_id: dict[str, Session] = {}
        self.key = key if key is not None else secrets.token_bytes(32)
        self.adopt = adopt
        self.ended: OrderedDict[str, None] = OrderedDict()

    def _mac(self, nonce: str, version: str, principal_id: str, server: str | None) -> str:
        message = "\x00".join((nonce, version, principal_id, server or "")).encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:32]

    def _made_for(self, sid: str, principal_id: str, server: str | None) -> bool:
        """Whether the id's MAC proves it was made (by any worker) for this caller and
        endpoint."""
        parts = sid.split(".")
        if len(parts) != 3 or not _VERSION.fullmatch(parts[1]) or not _MAC.fullmatch(parts[2]):
            return False
        nonce, version, mac = parts
        return hmac.compare_digest(mac, self._mac(nonce, version, principal_id, server))

    def _take_up(self, sid: str, principal_id: str, server: str | None) -> Session | None:
        """A session another worker opened, when its id proves it was made for this
        caller and endpoint (and it did not end here)."""
        if sid in self.ended or not self._made_for(sid, principal_id, server):
            return None
        self.sweep()
        if len(self.by_id) >= self.limit:
            return None
        session = Session(sid, principal_id, server, sid.split(".")[1], initialized=True)
        self.by_id[sid] = session
        return session

    def held(self, sid: str, principal_id: str, server: str | None) -> Session | None:
        """The session if this process holds it for this caller and endpoint; never one
        taken up now (a message passed on by another worker reaches only what is here)."""
        session = self.by_id.get(sid)
        if session is None or session.principal_id != principal_id or session.server != server:
            return None
        return session

    def ended_elsewhere(self, sid: str, principal_id: str, server: str | None) -> bool:
        """Another worker ended this session (DELETE): end it here if held, and never
        take it up again; True when it was held here."""
        if self.held(sid, principal_id, server) is not None:
            return self.end(sid)
        if self._made_for(sid, principal_id, server):
            self._forget(sid)
        return False

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
        nonce = secrets.token_urlsafe(24)
        sid = f"{nonce}.{version}.{self._mac(nonce, version, principal_id, server)}"
        session = Session(sid, principal_id, server, version)
        self.by_id[session.id] = session
        return session

    def get(self, sid: str, principal_id: str, server: str | None) -> Session | None:
        session = self.by_id.get(sid)
        if session is None and self.adopt:
            session = self._take_up(sid, principal_id, server)
        if session is None or session.principal_id != principal_id or session.server != server:
            return None
        session.last = time.monotonic()
        return session

    def end(self, sid: str) -> bool:
        session = self.by_id.pop(sid, None)
        if session is None:
            return False
        self._forget(sid)
        for _server, _upstream, task in session.inflight.values():
            if task is not None:
                task.cancel()
        for future in session.waiting.values():
            if not future.done():
                future.cancel()
        if session.stream is not None:
            session.stream.put_nowait(None)
        return True

    def _forget(self, sid: str) -> None:
        self.ended[sid] = None
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)

    def broadcast(self, server: str, message: dict[str, Any]) -> None:
        """A notification to every open GET stream that shows `server` (bounded queues: a
        stream that does not read loses notifications, never grows memory)."""
        for session in self.by_id.values():
            queue = session.stream
            if queue is not None and session.server in (None, server) \
                    and queue.qsize() < STREAM_QUEUE:
                queue.put_nowait(message)
