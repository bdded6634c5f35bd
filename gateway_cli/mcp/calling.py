"""The use methods (tools/call, prompts/get, resources/read): one governed call.

In this order: the target resolved, the grant checked (never trust the list
the client saw), for tools the pin checked again, the arguments through the
secret and PII guards, a held call waiting for a person when configured,
the upstream call (progress and server-to-client requests relayed per
config), then the result capped in size and through the injection and secret
guards. Denials say only that the thing is not available: whether it does
not exist, is not granted or is not approved is not told to a caller that
may not know. What was decided is noted on the request's Trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from gateway_cli.config import InspectionConfig
from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal
from gateway_cli.mcp import jsonrpc, names, pins, rates, screen
from gateway_cli.mcp.pinned import Server, under_template
from gateway_cli.mcp.scopes import Kind, Scope, allows
from gateway_cli.mcp.sessions import Session
from gateway_cli.request.trace import Trace, Verdict

if TYPE_CHECKING:
    from gateway_cli.mcp.relay import Relay

log = logging.getLogger("gateway.mcp")
_encode = msgspec.json.Encoder().encode
NOT_AVAILABLE = "not available: no such {kind}, or this caller may not use it"
Emit = Callable[[dict[str, Any]], Awaitable[None]]
USES: dict[str, tuple[Kind, str]] = {
    "tools/call": ("tool", "name"), "prompts/get": ("prompt", "name"),
    "resources/read": ("resource", "uri")}


def arguments_digest(value: object) -> str:
    return hashlib.sha256(pins.canonical(value)).hexdigest()


def resolve(relay: Relay, name: object, scope: str | None, kind: Kind
            ) -> tuple[Server, str] | None:
    if not isinstance(name, str) or not name:
        return None
    if scope is not None:
        return relay.servers[scope], name
    split = names.split_uri(name, relay.servers) if kind == "resource" \
        else names.split(name, relay.servers)
    return (relay.servers[split[0]], split[1]) if split is not None else None


def _denied(message: jsonrpc.Message, kind: Kind) -> dict[str, Any]:
    """The same refusal whether the name is unknown, out of scope or not approved (a
    client learns nothing about what exists); made only when a call is refused."""
    return jsonrpc.error(message.id, jsonrpc.DENIED, NOT_AVAILABLE.format(kind=kind))


async def use(relay: Relay, method: str, message: jsonrpc.Message, session: Session,
              scopes: tuple[Scope, ...], principal: Principal, trace: Trace,
              emit: Emit) -> dict[str, Any]:
    kind, field_name = USES[method]
    params = message.params
    target = resolve(relay, params.get(field_name), session.server, kind)
    if target is None:
        trace.error = "mcp_denied"
        return _denied(message, kind)
    server, name = target
    trace.deployment, trace.model = server.name, name
    if not allows(scopes, server.name, kind, name):
        trace.error = "mcp_denied"
        return _denied(message, kind)
    # Never trust the list the client saw: the pin is checked again now.
    if not await pinned_now(relay, server, kind, name):
        trace.error = "mcp_not_approved"
        return _denied(message, kind)
    if kind == "tool":
        limited = await take_rate(relay, server, name, principal, message, trace)
        if limited is not None:
            return limited
    inspection = relay.inspection()
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
        call_id, future = relay.held.hold()
        log.warning("MCP call %s (%s on %s for %s) is held: `gateway mcp approve-call %s` "
                    "(or --deny) within %g s", call_id, name, server.name, principal.name,
                    call_id, server.config.approval_timeout)
        if not await relay.held.wait(call_id, future, server.config.approval_timeout):
            trace.error = "mcp_call_denied"
            return jsonrpc.error(message.id, jsonrpc.DENIED,
                                 f"this call needed a person's approval and was denied or "
                                 f"not approved in time (call {call_id})")
    handler = client_handler(relay, session, server, emit)
    client_id = message.id
    assert client_id is not None
    session.inflight[client_id] = (server.name, None, asyncio.current_task())
    answer = await server.connection.call(
        method, upstream_params, handler=handler,
        sent=lambda uid: session.inflight.__setitem__(
            client_id, (server.name, uid, asyncio.current_task())))
    error = answer.get("error")
    if isinstance(error, dict):
        trace.error = "mcp_upstream_error"
        return upstream_error(message, server, error, principal, trace, inspection)
    result = answer.get("result")
    if not isinstance(result, dict):
        trace.error = "mcp_upstream"
        return jsonrpc.error(message.id, jsonrpc.UNAVAILABLE,
                             f"MCP server {server.name!r} sent no result")
    return screen_result(message, server, result, principal, trace, inspection)


def upstream_error(message: jsonrpc.Message, server: Server, error: dict[str, Any],
                   principal: Principal, trace: Trace,
                   inspection: InspectionConfig | None) -> dict[str, Any]:
    """The upstream's own error, screened like a result before the client sees it."""
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else -32603
    screened, text, data = screen.upstream_error(
        inspection, error, server.name, server.connection.own_secrets(), principal.name,
        principal.team)
    if screened is not None:
        trace.findings.extend(screened.findings)
        d = screened.decision
        trace.output = Verdict(d.verdict, d.applied, d.reason)
        if d.applied == "block":
            return jsonrpc.error(message.id, jsonrpc.DENIED,
                                 f"MCP server {server.name!r} answered with an error the "
                                 f"gateway's policy withheld ({d.reason}); request id "
                                 f"{trace.request_id}")
    return jsonrpc.error(message.id, code, text, data)


async def pinned_now(relay: Relay, server: Server, kind: Kind, name: str) -> bool:
    """Whether `name` is approved as it is now: a tool or prompt by its pin, a resource
    by its own pin or as an instance of a pinned template."""
    if kind == "tool":
        return name in await relay.pins.approved_now(server, "tools")
    if kind == "prompt":
        return name in await relay.pins.approved_now(server, "prompts")
    return name in await relay.pins.approved_now(server, "resources") or under_template(
        await relay.pins.approved_now(server, "resourceTemplates"), name)


async def take_rate(relay: Relay, server: Server, tool: str, principal: Principal,
                    message: jsonrpc.Message, trace: Trace) -> dict[str, Any] | None:
    """One call counted against the tool's rate; the JSON-RPC refusal when it is spent."""
    rate = rates.rate_for(server.config, tool)
    limiter = relay.limiter()
    if rate is None or limiter is None:
        return None
    try:
        refused = await limiter.count([rates.counter(server.name, tool, principal.id, rate)])
    except HttpError as err:  # the store is down and limits fail closed
        trace.error = err.code or "limits_unavailable"
        return jsonrpc.error(message.id, jsonrpc.UNAVAILABLE, err.message)
    if refused is None:
        return None
    trace.error = "rate_limit_exceeded"
    text, data = rates.refusal(refused, time.time())
    return jsonrpc.error(message.id, jsonrpc.RATE_LIMITED, text, data)


def screen_result(message: jsonrpc.Message, server: Server, result: dict[str, Any],
                  principal: Principal, trace: Trace,
                  inspection: InspectionConfig | None) -> dict[str, Any]:
    size = len(_encode(result))
    trace.result_bytes = size
    capped = screen.cap(result, size, server.config.max_result_bytes, server.config.oversize)
    if capped.value is None:
        trace.error = "mcp_result_too_large"
        return jsonrpc.error(message.id, jsonrpc.DENIED,
                             f"the result ({size} bytes) is over this server's limit of "
                             f"{server.config.max_result_bytes} bytes")
    value = screen.literal(capped.value, server.connection.own_secrets())
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


def client_handler(relay: Relay, session: Session, server: Server, emit: Emit
                   ) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]:
    """What the upstream sends for this call: notifications on to the client; its own
    requests (sampling, elicitation, roots) relayed to the calling client and answered
    with the client's reply, or refused, per the server's `client_requests`."""
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
        gateway_id = f"{relay.id_prefix}{next(relay.ids)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
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
