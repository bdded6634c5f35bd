"""The MCP relay: one downstream JSON-RPC message in, the governed answer out.

Per request, in this order (DESIGN.md, "the MCP path"):

1. the method: known ones only (-32601 otherwise);
2. the target: `server__name` on /mcp, the server's own name on /mcp/NAME;
3. the grant: the principal's scopes (`principal.scopes`, or `[mcp] open_scopes`
   for the open principal) must allow it: deny by default;
4. for tools, the pin: only a tool whose live definition matches its signed pin
   is listed or called; the live list is fetched and compared again for every
   tools/list and list_changed, and a call is checked against a comparison at
   most CALL_RECHECK seconds old, so a rug pull is caught at the next use, not
   the next session;
5. arguments through the secret and PII guards (policy: block/redact/flag);
6. the upstream call (progress and server-to-client requests relayed per config);
7. the result capped in size, then through the injection guard as a tool result
   and the secret guard.

Denials say only that the tool is not available: whether it does not exist,
is not granted or is not approved is not told to a caller that may not know.
What was decided is noted on the request's Trace for the audit record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from gateway_cli import __version__
from gateway_cli.config import InspectionConfig, McpConfig, McpServerConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.keys.store import SecretStore
from gateway_cli.mcp import jsonrpc, names, pins, screen
from gateway_cli.mcp.connection import Connection
from gateway_cli.mcp.held import Held
from gateway_cli.mcp.scopes import Kind, Scope, ScopeError, allows, parse_scope
from gateway_cli.mcp.sessions import Session
from gateway_cli.mcp.transport import UpstreamError
from gateway_cli.request.trace import Trace, Verdict

log = logging.getLogger("gateway.mcp")
_encode = msgspec.json.Encoder().encode
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
NOT_AVAILABLE = "not available: no such {kind}, or this caller may not use it"
MAX_PAGES = 20
CALL_RECHECK = 5.0  # seconds a pin check stands for calls (tools/list always checks anew)
Emit = Callable[[dict[str, Any]], Awaitable[None]]
Alert = Callable[[dict[str, object]], None]
# Methods answered per kind: the list method, the use method and its name field.
_LISTS: dict[str, tuple[Kind, str, str]] = {
    "tools/list": ("tool", "tools", "name"),
    "prompts/list": ("prompt", "prompts", "name"),
    "resources/list": ("resource", "resources", "uri"),
    "resources/templates/list": ("resource", "resourceTemplates", "uriTemplate")}
_USES: dict[str, tuple[Kind, str]] = {
    "tools/call": ("tool", "name"), "prompts/get": ("prompt", "name"),
    "resources/read": ("resource", "uri")}


async def live_tools(connection: Connection) -> list[dict[str, Any]]:
    """Every tool the upstream lists now (all pages); UpstreamError if it cannot."""
    tools: list[dict[str, Any]] = []
    cursor: object = None
    for _ in range(MAX_PAGES):
        answer = await connection.call(
            "tools/list", {"cursor": cursor} if isinstance(cursor, str) else {})
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            raise UpstreamError(f"MCP server {connection.name!r} gave no tool list")
        tools += [t for t in result["tools"] if isinstance(t, dict)
                  and isinstance(t.get("name"), str)]
        cursor = result.get("nextCursor")
        if not isinstance(cursor, str) or not cursor:
            break
    return tools


# Notifications passed on to clients (without params: nothing of the server's text).
_FORWARDED = frozenset({"notifications/tools/list_changed", "notifications/prompts/list_changed",
                        "notifications/resources/list_changed"})


def scopes_of(principal: Principal, config: McpConfig) -> tuple[Scope, ...]:
    """What the principal is granted; a malformed scope grants nothing (never everything)."""
    texts = config.open_scopes if principal.kind == "open" else principal.scopes
    out = []
    for text in texts:
        try:
            out.append(parse_scope(text))
        except ScopeError:
            continue
    return tuple(out)


def negotiate(asked: object) -> str:
    return asked if isinstance(asked, str) and asked in SUPPORTED_VERSIONS \
        else SUPPORTED_VERSIONS[0]


def arguments_digest(value: object) -> str:
    return hashlib.sha256(pins.canonical(value)).hexdigest()


@dataclass
class Server:
    name: str
    config: McpServerConfig
    connection: Connection
    trusted: pins.Pins | None = None
    pin_error: str | None = None
    alerted: pins.Drift = field(default_factory=pins.Drift)
    stamp: tuple[int, int, int] | None = None  # the pin file's (inode, mtime, size) as read
    read: bool = False
    checked: float = -1e9  # when the live list was last compared with the pins (monotonic)
    approved: frozenset[str] = frozenset()  # the tools that matched then


class Relay:
    def __init__(self, config: McpConfig, servers: Mapping[str, McpServerConfig], *,
                 home: Path, store: SecretStore | None,
                 inspection: Callable[[], InspectionConfig | None],
                 alert: Alert | None = None) -> None:
        self.config = config
        self.home = home
        self.store = store
        self.inspection = inspection
        self.alert = alert
        self.ids = itertools.count(1)
        self.key: tuple[str, bytes] | None = None
        self.held = Held()
        # Set by the endpoint: a notification to the GET streams that show a server.
        self.broadcast: Callable[[str, dict[str, Any]], None] | None = None
        self.servers = {name: Server(name, cfg, Connection(name, cfg, home=home, store=store,
                                                           on_notice=self._notice))
                        for name, cfg in servers.items()}

    # -- pins ----------------------------------------------------------------------------

    def load_pins(self) -> None:
        """Read the pin key once (the store may be slow), then every server's pins."""
        try:
            self.key = pins.pin_key(self.store)
        except pins.PinError as err:
            self.key = None
            log.warning("MCP pins cannot be checked: %s", err)
        for server in self.servers.values():
            self._read_pins(server)

    def _read_pins(self, server: Server) -> None:
        """The server's pins as the file is now: checked whenever the file changed, so an
        approval applies at once and an edit is caught at the next use."""
        try:
            info = pins.pin_path(self.home, server.name).stat()
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        if server.read and stamp == server.stamp:
            return
        server.read = True
        server.stamp = stamp
        server.checked, server.approved = -1e9, frozenset()  # new pins: compare anew
        try:
            server.trusted = pins.load(self.home, server.name, self.key)
            server.pin_error = None
        except pins.PinError as err:
            server.trusted, server.pin_error = None, str(err)
            log.warning("MCP server %r: %s", server.name, err)
            self._alert(server.name, {"error": "pins_untrusted"})
        server.alerted = pins.Drift()
        if server.trusted is None and server.pin_error is None:
            log.warning("MCP server %r is not approved: its tools are not served until "
                        "`gateway mcp approve %s`", server.name, server.name)

    def _alert(self, server: str, data: dict[str, object]) -> None:
        if self.alert is not None:
            self.alert({"server": server, "changed": [], "added": [], "removed": [],
                        "error": None, **data})

    async def live_tools(self, server: Server) -> list[dict[str, Any]]:
        return await live_tools(server.connection)

    async def served_tools(self, server: Server) -> list[dict[str, Any]]:
        """The live tools that match their pins; drift logged and recorded once per change."""
        tools = await self.live_tools(server)
        self._read_pins(server)
        if server.trusted is None:
            server.approved = frozenset()
            return []
        drift = pins.compare(server.trusted, tools)
        if not drift.clean and drift != server.alerted:
            log.warning("MCP server %r: tool definitions differ from the approved ones "
                        "(changed: %s; added: %s; removed: %s); those tools are not served "
                        "until `gateway mcp approve %s`", server.name,
                        ", ".join(drift.changed) or "-", ", ".join(drift.added) or "-",
                        ", ".join(drift.removed) or "-", server.name)
            self._alert(server.name, {"changed": list(drift.changed),
                                      "added": list(drift.added),
                                      "removed": list(drift.removed)})
        server.alerted = drift
        # Exactly the approved fields: anything else a server adds (_meta, icons...) was not
        # seen by the person who approved, so it is not passed on.
        served = [pins.definition(t) for t in pins.served(server.trusted, tools)]
        server.approved = frozenset(t["name"] for t in served)
        server.checked = time.monotonic()
        return served

    async def approved_now(self, server: Server) -> frozenset[str]:
        """The tools a call may use: from a check at most CALL_RECHECK seconds old (a list,
        a list_changed or an earlier call), else from a new one. Saves an upstream round
        trip per call while a changed definition still stops calls within seconds."""
        self._read_pins(server)
        if server.trusted is None:
            return frozenset()
        if time.monotonic() - server.checked > CALL_RECHECK:
            await self.served_tools(server)
        return server.approved

    async def _notice(self, server_name: str, message: dict[str, Any]) -> None:
        """A notification no call is waiting for: list changes are checked (tools against
        their pins, at once) and passed on to the clients' GET streams."""
        method = message.get("method")
        if method == "notifications/tools/list_changed":
            server = self.servers.get(server_name)
            if server is not None:
                try:
                    await self.served_tools(server)
                except UpstreamError as err:
                    log.warning("MCP server %r: tools changed but cannot be listed: %s",
                                server_name, err)
        if method in _FORWARDED and self.broadcast is not None:
            self.broadcast(server_name, {"jsonrpc": "2.0", "method": method})

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

    def _targets(self, scope: str | None) -> list[Server]:
        if scope is not None:
            return [self.servers[scope]]
        return list(self.servers.values())

    def _resolve(self, name: object, scope: str | None, kind: Kind
                 ) -> tuple[Server, str] | None:
        if not isinstance(name, str) or not name:
            return None
        if scope is not None:
            return self.servers[scope], name
        split = names.split_uri(name, self.servers) if kind == "resource" \
            else names.split(name, self.servers)
        return (self.servers[split[0]], split[1]) if split is not None else None

    async def handle(self, session: Session, message: jsonrpc.Message, principal: Principal,
                     trace: Trace, emit: Emit) -> dict[str, Any]:
        """The answer to one request (result or error); never raises for a client's input."""
        method = message.method or ""
        trace.op = method
        if method == "ping":
            return jsonrpc.result(message.id, {})
        scopes = scopes_of(principal, self.config)
        try:
            if method in _LISTS:
                return await self._list(method, message, session, scopes, trace)
            if method in _USES:
                return await self._use(method, message, session, scopes, principal, trace,
                                       emit)
        except UpstreamError as err:
            trace.error = "mcp_upstream"
            return jsonrpc.error(message.id, jsonrpc.UNAVAILABLE, str(err))
        trace.error = "mcp_unknown_method"
        return jsonrpc.error(message.id, jsonrpc.METHOD_NOT_FOUND,
                             f"method not found: {method[:80]}")

    async def _list(self, method: str, message: jsonrpc.Message, session: Session,
                    scopes: tuple[Scope, ...], trace: Trace) -> dict[str, Any]:
        kind, key, field_name = _LISTS[method]
        out: list[dict[str, Any]] = []
        for server in self._targets(session.server):
            if not grants_of(scopes, server.name):
                continue  # nothing of this server is granted: do not even start it
            try:
                if kind == "tool":
                    items = await self.served_tools(server)
                else:
                    items = await self._upstream_list(server, method, key)
            except UpstreamError as err:
                if session.server is not None:
                    raise
                log.warning("%s (left out of the aggregated list)", err)
                continue
            for item in items:
                name = item.get(field_name)
                if not isinstance(name, str) or not allows(scopes, server.name, kind, name):
                    continue
                if session.server is None:
                    joined = names.join_uri(server.name, name) if kind == "resource" \
                        else names.join(server.name, name)
                    item = {**item, field_name: joined}
                out.append(item)
        return jsonrpc.result(message.id, {key: out})

    async def _upstream_list(self, server: Server, method: str, key: str
                             ) -> list[dict[str, Any]]:
        wanted = {"prompts/list": "prompts", "resources/list": "resources",
                  "resources/templates/list": "resources"}[method]
        if wanted not in server.connection.capabilities and server.connection.initialized:
            return []
        items: list[dict[str, Any]] = []
        cursor: object = None
        for _ in range(MAX_PAGES):
            answer = await server.connection.call(
                method, {"cursor": cursor} if isinstance(cursor, str) else {})
            result = answer.get("result")
            if not isinstance(result, dict) or not isinstance(result.get(key), list):
                return items
            items += [i for i in result[key] if isinstance(i, dict)]
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return items

    async def _use(self, method: str, message: jsonrpc.Message, session: Session,
                   scopes: tuple[Scope, ...], principal: Principal, trace: Trace,
                   emit: Emit) -> dict[str, Any]:
        kind, field_name = _USES[method]
        params = message.params
        target = self._resolve(params.get(field_name), session.server, kind)
        denied = jsonrpc.error(message.id, jsonrpc.DENIED, NOT_AVAILABLE.format(kind=kind))
        if target is None:
            trace.error = "mcp_denied"
            return denied
        server, name = target
        trace.deployment, trace.model = server.name, name
        if not allows(scopes, server.name, kind, name):
            trace.error = "mcp_denied"
            return denied
        # Never trust the list the client saw: the pin is checked again now.
        if kind == "tool" and name not in await self.approved_now(server):
            trace.error = "mcp_not_approved"
            return denied
        inspection = self.inspection()
        upstream_params = {**params, field_name: name}
        if kind == "tool":
            args = params.get("arguments", {})
            if not isinstance(args, dict):
                trace.error = "mcp_invalid_params"
                return jsonrpc.error(message.id, jsonrpc.INVALID_PARAMS,
                                     "arguments must be an object")
            trace.arguments_sha256 = arguments_digest(args)
            if inspection is not None and args:
                screened = screen.arguments(inspection, args, server.name, principal.name,
                                            principal.team)
                trace.findings.extend(screened.findings)
                d = screened.decision
                trace.policy = Verdict(d.verdict, d.applied, d.reason)
                if d.applied == "block":
                    trace.error = "blocked_by_policy"
                    return jsonrpc.error(message.id, jsonrpc.DENIED,
                                         f"the gateway's policy blocked these arguments "
                                         f"({d.reason}); request id {trace.request_id}")
                upstream_params["arguments"] = screened.value
        if kind == "tool" and name in server.config.approval:
            call_id, future = self.held.hold()
            log.warning("MCP call %s (%s on %s for %s) is held: `gateway mcp approve-call %s` "
                        "(or --deny) within %g s", call_id, name, server.name, principal.name,
                        call_id, server.config.approval_timeout)
            if not await self.held.wait(call_id, future, server.config.approval_timeout):
                trace.error = "mcp_call_denied"
                return jsonrpc.error(message.id, jsonrpc.DENIED,
                                     f"this call needed a person's approval and was denied or "
                                     f"not approved in time (call {call_id})")
        handler = self._handler(session, server, emit)
        upstream_id: list[int] = []
        client_id = message.id
        assert client_id is not None
        session.inflight[client_id] = (server.name, None, asyncio.current_task())
        try:
            answer = await server.connection.call(
                method, upstream_params, handler=handler,
                sent=lambda uid: session.inflight.__setitem__(
                    client_id, (server.name, uid, asyncio.current_task())))
        finally:
            del upstream_id
        error = answer.get("error")
        if isinstance(error, dict):
            trace.error = "mcp_upstream_error"
            code = error.get("code") if isinstance(error.get("code"), int) else -32603
            text = str(error.get("message", ""))[:500]
            return jsonrpc.error(message.id, code, text)  # type: ignore[arg-type]
        result = answer.get("result")
        if not isinstance(result, dict):
            trace.error = "mcp_upstream"
            return jsonrpc.error(message.id, jsonrpc.UNAVAILABLE,
                                 f"MCP server {server.name!r} sent no result")
        return self._screen_result(message, server, result, principal, trace, inspection)

    def _screen_result(self, message: jsonrpc.Message, server: Server, result: dict[str, Any],
                       principal: Principal, trace: Trace,
                       inspection: InspectionConfig | None) -> dict[str, Any]:
        size = len(_encode(result))
        trace.result_bytes = size
        capped = screen.cap(result, size, server.config.max_result_bytes,
                            server.config.oversize)
        if capped.value is None:
            trace.error = "mcp_result_too_large"
            return jsonrpc.error(message.id, jsonrpc.DENIED,
                                 f"the result ({size} bytes) is over this server's limit of "
                                 f"{server.config.max_result_bytes} bytes")
        value = capped.value
        if inspection is not None:
            screened = screen.result(inspection, value, server.name, principal.name,
                                     principal.team)
            trace.findings.extend(screened.findings)
            d = screened.decision
            trace.output = Verdict(d.verdict, d.applied, d.reason)
            if d.applied == "block":
                trace.error = "blocked_by_policy"
                return jsonrpc.error(message.id, jsonrpc.DENIED,
                                     f"the gateway's policy blocked this result ({d.reason}); "
                                     f"request id {trace.request_id}")
            value = screened.value
        return jsonrpc.result(message.id, value)

    def _handler(self, session: Session, server: Server, emit: Emit
                 ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
        async def handle(upstream: dict[str, Any]) -> dict[str, Any] | None:
            method = upstream.get("method")
            if "id" not in upstream:  # progress, log messages: on to the client as they are
                await emit(upstream)
                return None
            refuse = jsonrpc.error(upstream.get("id"), jsonrpc.METHOD_NOT_FOUND,
                                   f"the gateway does not relay {str(method)[:60]} from this "
                                   "server (client_requests = \"refuse\")")
            if server.config.client_requests != "relay":
                return refuse
            gateway_id = f"gw-{next(self.ids)}"
            future: asyncio.Future[dict[str, Any]] = \
                asyncio.get_running_loop().create_future()
            session.waiting[gateway_id] = future
            try:
                await emit({**upstream, "id": gateway_id})
                async with asyncio.timeout(server.config.timeout):
                    answer = await future
            except (TimeoutError, asyncio.CancelledError):
                return jsonrpc.error(upstream.get("id"), jsonrpc.TIMEOUT,
                                     "the client did not answer in time")
            finally:
                session.waiting.pop(gateway_id, None)
            return {**answer, "id": upstream.get("id")}

        return handle

    async def client_message(self, session: Session, message: jsonrpc.Message) -> None:
        """A notification or a response from the client."""
        if message.kind == "response":
            future = session.waiting.get(str(message.id))
            if future is not None and not future.done():
                body = {k: v for k, v in message.body.items() if k in ("result", "error")}
                future.set_result({"jsonrpc": "2.0", **body})
            return
        if message.method == "notifications/initialized":
            session.initialized = True
        elif message.method == "notifications/cancelled":
            request_id = message.params.get("requestId")
            entry = session.inflight.get(request_id) \
                if isinstance(request_id, str | int) else None
            if entry is None:
                return
            server_name, upstream_id, task = entry
            if server_name is not None and upstream_id is not None:
                with contextlib.suppress(UpstreamError):
                    await self.servers[server_name].connection.notify(
                        "notifications/cancelled", {"requestId": upstream_id})
            if task is not None:
                task.cancel()


def _any_grant(scope: Scope, server: str) -> bool:
    """Whether a scope could grant anything on `server` (its server part matches)."""
    from gateway_cli.mcp.scopes import _match

    return _match(scope.server, server)


def grants_of(scopes: Iterable[Scope], server: str) -> bool:
    return any(_any_grant(s, server) for s in scopes)
