"""Under `serve --workers N`: a client's follow-up reaches the worker that holds its target.

What a session has in flight lives in one process: the task serving a call (and
its upstream id), a server's own request (sampling, elicitation) waiting for
the client's answer, the GET stream. The client's follow-ups to them, a
`notifications/cancelled`, the JSON-RPC response to a sampling request, a
DELETE, are separate POSTs on whatever connection the client has free, and
each new connection is accepted by whichever worker is free: often not the one
that holds the target.

The mechanism: a worker that gets such a message and does not hold its target
passes it on to its sibling workers over their control sockets (control.py:
one 0600 Unix socket per worker in the state directory's run/, peer uid
checked), in parallel, and the one that holds the target applies it and says
so. A DELETE is always passed on: every worker that took the session up ends
it, and a worker that never saw it records it as ended, so none takes it up
again.

Why this: the sockets exist already, one per worker, private to the gateway's
user, and a message goes straight to the process that needs it in one local
round trip, paid only by these follow-ups and only when they landed on the
wrong worker. The shared limits store holds counters, not messages: a mailbox
there would need polling, a delay on every cancel, and Redis or SQLite traffic
for what never leaves the machine (workers share one host; separate gateways
do not share sessions, their keys differ).

What a worker accepts from a peer: only a message for a session it holds now
for the same principal and endpoint (never one it could take up), only a
response or a cancel (anything else is refused), and a DELETE only for an id
whose MAC proves it was made for that principal and endpoint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

import msgspec

from gateway_cli.mcp import jsonrpc
from gateway_cli.mcp.relay import Relay
from gateway_cli.mcp.sessions import Sessions

log = logging.getLogger("gateway.mcp")
PEER_TIMEOUT = 2.0  # seconds for one sibling's answer; a stuck worker does not stall a client
MAX_REPLY = 4096
_encode = msgspec.json.Encoder().encode


def passes_on(message: jsonrpc.Message) -> bool:
    """Whether a message another worker may be waiting for (the rest is per process)."""
    return message.kind == "response" or message.method == "notifications/cancelled"


class Peers:
    def __init__(self, relay: Relay, sessions: Sessions, run: Path) -> None:
        self.relay = relay
        self.sessions = sessions
        self.run = run

    def _siblings(self) -> list[Path]:
        own = f"gateway-{os.getpid()}.sock"
        return [p for p in sorted(self.run.glob("gateway-*.sock")) if p.name != own]

    async def message(self, sid: str, principal_id: str, server: str | None,
                      message: jsonrpc.Message) -> bool:
        """Pass a response or a cancel on; True when a sibling held its target."""
        return await self._tell({"what": "message", "session": sid, "principal": principal_id,
                                 "server": server, "body": message.body})

    async def ended(self, sid: str, principal_id: str, server: str | None) -> bool:
        """Tell every sibling the session ended; True when one of them held it."""
        return await self._tell({"what": "end", "session": sid, "principal": principal_id,
                                 "server": server})

    async def _tell(self, request: dict[str, Any]) -> bool:
        siblings = self._siblings()
        if not siblings:
            return False
        line = _encode({"mcp_session": request}) + b"\n"  # control.py knows it by its start
        answers = await asyncio.gather(*(self._ask(path, line) for path in siblings))
        return any(answers)

    async def _ask(self, path: Path, line: bytes) -> bool:
        try:
            async with asyncio.timeout(PEER_TIMEOUT):
                reader, writer = await asyncio.open_unix_connection(str(path))
                try:
                    writer.write(line)
                    await writer.drain()
                    reply = await reader.readline()
                finally:
                    writer.close()
            answer = json.loads(reply[:MAX_REPLY] or b"{}")
        except (OSError, TimeoutError, ValueError) as err:
            # A worker being replaced, a socket left by a dead one: the others still count.
            log.debug("MCP: sibling %s did not take a passed-on message (%s)", path.name,
                      type(err).__name__)
            return False
        return isinstance(answer, dict) and answer.get("ok") is True

    async def receive(self, request: object) -> dict[str, object]:
        """A sibling's passed-on message, applied here if this process holds its target."""
        if not isinstance(request, dict):
            return {"ok": False, "error": "expected an object"}
        what, sid = request.get("what"), request.get("session")
        principal, server = request.get("principal"), request.get("server")
        if not isinstance(sid, str) or not isinstance(principal, str) \
                or not (server is None or isinstance(server, str)):
            return {"ok": False, "error": "expected session, principal and server"}
        if what == "end":
            return {"ok": self.sessions.ended_elsewhere(sid, principal, server)}
        if what != "message":
            return {"ok": False, "error": "expected what: message or end"}
        parsed = jsonrpc.classify(request.get("body"))
        if isinstance(parsed, jsonrpc.Problem) or not passes_on(parsed):
            return {"ok": False, "error": "only a response or a cancel is passed on"}
        session = self.sessions.held(sid, principal, server)
        if session is None:
            return {"ok": False}
        return {"ok": await self.relay.client_message(session, parsed)}
