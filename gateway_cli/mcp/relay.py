"""The MCP relay: one downstream JSON-RPC message in, the governed answer out.

Per request, in this order (DESIGN.md, "the MCP path"):

1. the method: known ones only (-32601 otherwise);
2. the target: `server__name` on /mcp, the server's own name on /mcp/NAME;
3. the grant: the principal's scopes (`principal.scopes`, or `[mcp] open_scopes`
   for the open principal) must allow it: deny by default;
4. for tools, the pin (pinned.py): only a tool whose live definition matches its
   signed pin is listed (listing.py) or called (calling.py);
5. arguments through the secret and PII guards (policy: block/redact/flag);
6. the upstream call (progress and server-to-client requests relayed per config);
7. the result capped in size, then through the injection guard as a tool result
   and the secret guard.

This module holds what is per session rather than per call: the handshake,
notifications and responses from the client, and the servers' own
notifications.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from gateway_cli import __version__
from gateway_cli.config import InspectionConfig, McpConfig, McpServerConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.keys.store import SecretStore
from gateway_cli.mcp import calling, jsonrpc, listing
from gateway_cli.mcp.calling import Emit
from gateway_cli.mcp.connection import Connection
from gateway_cli.mcp.held import Held
from gateway_cli.mcp.pinned import Alert, PinKeeper, Server, live_tools
from gateway_cli.mcp.pins import Section
from gateway_cli.mcp.sessions import Session
from gateway_cli.mcp.transport import UpstreamError
from gateway_cli.request.limits import Limiter
from gateway_cli.request.trace import Trace

__all__ = ["SUPPORTED_VERSIONS", "Relay", "live_tools", "negotiate"]

log = logging.getLogger("gateway.mcp")
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
# Notifications passed on to clients (without params: nothing of the server's text).
_FORWARDED = frozenset({"notifications/tools/list_changed", "notifications/prompts/list_changed",
                        "notifications/resources/list_changed"})


_RECHECK: dict[str, tuple[Section, ...]] = {
    "notifications/tools/list_changed": ("tools",),
    "notifications/prompts/list_changed": ("prompts",),
    "notifications/resources/list_changed": ("resources", "resourceTemplates")}


def negotiate(asked: object) -> str:
    return asked if isinstance(asked, str) and asked in SUPPORTED_VERSIONS \
        else SUPPORTED_VERSIONS[0]


class Relay:
    def __init__(self, config: McpConfig, servers: Mapping[str, McpServerConfig], *,
                 home: Path, store: SecretStore | None,
                 inspection: Callable[[], InspectionConfig | None],
                 alert: Alert | None = None,
                 limiter: Callable[[], Limiter | None] = lambda: None) -> None:
        self.config = config
        self.limiter = limiter  # read per call: the limits open when serving starts
        self.home = home
        self.store = store
        self.inspection = inspection
        self.ids = itertools.count(1)
        # Ids of the requests relayed to clients (sampling, elicitation) carry this
        # process's own prefix: under `--workers` a session lives in several processes,
        # and an answer passed on between them must match one request only.
        self.id_prefix = f"gw-{secrets.token_hex(4)}-"
        self.held = Held()
        self.pins = PinKeeper(home, store, alert)
        # Set by the endpoint: a notification to the GET streams that show a server.
        self.broadcast: Callable[[str, dict[str, Any]], None] | None = None
        # Set under `--workers N`: applies what a sibling worker passed on over the control
        # socket (server/mcp_peers.py).
        self.from_peer: Callable[[object], Awaitable[dict[str, object]]] | None = None
        self.servers = {name: Server(name, cfg, Connection(name, cfg, home=home, store=store,
                                                           on_notice=self._notice))
                        for name, cfg in servers.items()}

    def load_pins(self) -> None:
        self.pins.load(self.servers)

    async def _notice(self, server_name: str, message: dict[str, Any]) -> None:
        """A notification no call is waiting for: list changes are checked (tools against
        their pins, at once) and passed on to the clients' GET streams."""
        method = message.get("method")
        sections = _RECHECK.get(str(method), ())
        server = self.servers.get(server_name)
        for section in sections if server is not None else ():
            assert server is not None
            try:
                await self.pins.served(server, section)
            except UpstreamError as err:
                log.warning("MCP server %r: its %s changed but cannot be listed: %s",
                            server_name, section, err)
        if method in _FORWARDED and self.broadcast is not None:
            self.broadcast(server_name, {"jsonrpc": "2.0", "method": method})

    def status(self) -> dict[str, object]:
        """Per server, for `gateway mcp status`: whether it runs, its failures in a row,
        its pin state and a stdio child's last stderr lines (redacted, stderr.py)."""
        out: dict[str, object] = {}
        for name, server in self.servers.items():
            transport = server.connection.transport
            out[name] = {
                "running": transport is not None and transport.alive,
                "failures": server.connection.failures,
                "pins": "untrusted" if server.pin_error else
                        "approved" if server.trusted is not None else "unapproved",
                "stderr": server.connection.stderr_tail()}
        return out

    async def close(self) -> None:
        await asyncio.gather(*(s.connection.close() for s in self.servers.values()),
                             return_exceptions=True)

    async def start_eager(self) -> None:
        for server in self.servers.values():
            if server.config.start == "startup":
                try:
                    await server.connection.ensure()
                except UpstreamError as err:
                    log.warning("%s", err)

    # -- the protocol --------------------------------------------------------------------

    def initialize(self, params: Mapping[str, Any], scope: str | None) -> dict[str, Any]:
        version = negotiate(params.get("protocolVersion"))
        return {"protocolVersion": version,
                "capabilities": {"tools": {"listChanged": True},
                                 "prompts": {"listChanged": True},
                                 "resources": {"listChanged": True}},
                "serverInfo": {"name": "gateway" if scope is None else f"gateway/{scope}",
                               "version": __version__}}

    async def handle(self, session: Session, message: jsonrpc.Message, principal: Principal,
                     trace: Trace, emit: Emit) -> dict[str, Any]:
        """The answer to one request (result or error); never raises for a client's input."""
        method = message.method or ""
        trace.op = method
        if method == "ping":
            return jsonrpc.result(message.id, {})
        scopes = listing.scopes_of(principal, self.config)
        try:
            if method in listing.LISTS:
                return await listing.answer(self, method, message, session, scopes, trace)
            if method in calling.USES:
                return await calling.use(self, method, message, session, scopes, principal,
                                         trace, emit)
        except UpstreamError as err:
            trace.error = "mcp_upstream"
            return jsonrpc.error(message.id, jsonrpc.UNAVAILABLE, str(err))
        trace.error = "mcp_unknown_method"
        return jsonrpc.error(message.id, jsonrpc.METHOD_NOT_FOUND,
                             f"method not found: {method[:80]}")

    async def client_message(self, session: Session, message: jsonrpc.Message) -> bool:
        """A notification or a response from the client; False when it names something
        this process does not hold (an answer to a request it did not send, a cancel of
        a request it is not serving): under `--workers` another worker may (mcp_peers.py)."""
        if message.kind == "response":
            future = session.waiting.get(str(message.id))
            if future is None or future.done():
                return False
            body = {k: v for k, v in message.body.items() if k in ("result", "error")}
            future.set_result({"jsonrpc": "2.0", **body})
            return True
        if message.method == "notifications/initialized":
            session.initialized = True
        elif message.method == "notifications/cancelled":
            request_id = message.params.get("requestId")
            entry = session.inflight.get(request_id) \
                if isinstance(request_id, str | int) else None
            if entry is None:
                return False
            server_name, upstream_id, task = entry
            if server_name is not None and upstream_id is not None:
                with contextlib.suppress(UpstreamError):
                    await self.servers[server_name].connection.notify(
                        "notifications/cancelled", {"requestId": upstream_id})
            if task is not None:
                task.cancel()
        return True
