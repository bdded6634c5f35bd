"""The outermost ASGI callable: the one gate every request passes, then its handler.

Every HTTP request goes through the same decisions in the same order, whatever
its path, method or protocol (HTTP/1.1 or HTTP/2): the Host and Origin checks,
then authentication for every path except `/health`, then an exact match on
one of the gateway's own paths. A path in any other spelling never reaches a
router that might normalise it into a handler's path (see gate.py). WebSocket
upgrades are refused: no endpoint serves one.

The proxy endpoints are raw ASGI handlers called directly: sending them through
Litestar's router and exception middleware only wrapped `send` once more per
message, about a tenth of the CPU of a proxied request in the profile
(bench/results/profile.md). Health and the model list stay Litestar's, reached
only by their exact paths; Litestar also runs the lifespan.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Message, Receive, Scope, Send

from gateway_cli import __version__
from gateway_cli.metrics.exposition import CONTENT_TYPE
from gateway_cli.providers.adapt import client_error
from gateway_cli.providers.operations import Family
from gateway_cli.request.trace import TRACE, Trace
from gateway_cli.routing.readiness import is_ready, readiness, warnings
from gateway_cli.server import asgi_io, gate
from gateway_cli.server.auth import Denied
from gateway_cli.server.observer import Observer
from gateway_cli.server.proxy import AsgiHandler, model_payload, new_request_id
from gateway_cli.server.runtime import Runtime
from gateway_cli.server.unread_body import Reading
from gateway_cli.upstream.pool import UpstreamPool

if TYPE_CHECKING:
    from gateway_cli.mcp.relay import Relay

log = logging.getLogger("gateway.front")
_encode = msgspec.json.Encoder().encode

PRINCIPAL = "gateway.principal"
LITESTAR_PATHS = frozenset({"/v1/models"})
# Operators' paths, answered here: /health and /health/ready to anyone (liveness and
# readiness for load balancers), their detail and /metrics to loopback callers and admin keys.
OPS_PATHS = frozenset({"/metrics", "/health", "/health/ready"})
# RFC 9728 protected-resource metadata, which MCP clients read to learn how to authenticate
# to /mcp: public (it holds no secret), served only when MCP servers are configured.
RESOURCE_METADATA = "/.well-known/oauth-protected-resource"
METADATA_PATHS = frozenset({RESOURCE_METADATA, RESOURCE_METADATA + "/mcp"})
# The method as logged and recorded: any other token a client sends is "OTHER", so the
# log never holds a string a client made up (it could be anything, a credential too).
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# A request that came through a proxy on this machine shows a loopback address; one of
# these headers says so, and such a caller is not trusted as local.
_FORWARDED = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})


def _wants_anthropic(scope: Scope) -> bool:
    return scope["path"].startswith("/v1/messages") or any(
        name == b"anthropic-version" for name, _ in scope["headers"])


def _traced(send: Send, trace: Trace, reading: Reading) -> Send:
    """`send`, noting the status and when the first byte of the body went out; a
    response that starts before the request body was read settles it first."""

    async def traced(message: Message) -> None:
        if trace.first_byte is None:
            if message["type"] == "http.response.start":
                trace.status = message["status"]
                if not reading.done:
                    message = {**message, "headers": await reading.settle(
                        message.get("headers", ()))}
            elif message.get("body"):
                trace.first_byte = time.perf_counter()
        await send(message)

    return traced


class Front:
    def __init__(self, app: Litestar, routes: Mapping[str, AsgiHandler],
                 runtime: Runtime, listen_host: str | None = None,
                 observer: Observer | None = None) -> None:
        self.app = app
        self.routes = dict(routes)
        self.mcp = "/mcp" in self.routes
        self.known = frozenset(self.routes) | LITESTAR_PATHS | OPS_PATHS | (
            METADATA_PATHS if self.mcp else frozenset())
        self.runtime = runtime
        server = runtime.config.server
        self.listen_host = listen_host or server.host
        self.in_flight: dict[str, int] = {}
        self.observer = observer or Observer(runtime, None)
        self.pool: UpstreamPool | None = None
        self.mcp_relay: Relay | None = None  # set by create_app when [mcp] has servers
        # Open and close the pool, the limits store and the MCP relay (set by
        # app.create_app).
        self.start: Callable[[], Awaitable[None]] | None = None
        self.stop: Callable[[], Awaitable[None]] | None = None

    async def _refuse(self, scope: Scope, send: Send, denied: Denied) -> None:
        family: Family = "anthropic" if _wants_anthropic(scope) else "openai"
        challenge = b'Bearer realm="gateway"'
        if self.mcp and scope["path"].startswith("/mcp"):
            challenge += b', resource_metadata="' + self._base(scope) \
                + RESOURCE_METADATA.encode() + b'"'
        headers = [(b"www-authenticate", challenge)] if denied.status == 401 else []
        if denied.retry_after is not None:
            headers.append((b"retry-after", str(denied.retry_after).encode()))
        await asgi_io.send_response(send, denied.status, client_error(
            family, denied.status, denied.message, denied.code), headers=headers)

    def _base(self, scope: Scope) -> bytes:
        """This gateway's origin as the client named it (its Host passed the checks)."""
        host = next((v for n, v in scope["headers"] if n == b"host"), None) \
            or f"{self.listen_host}:{self.runtime.config.server.port}".encode()
        return scope.get("scheme", "http").encode() + b"://" + host

    async def _metadata(self, scope: Scope, send: Send) -> None:
        base = self._base(scope).decode("latin-1")
        await asgi_io.send_response(send, 200, _encode({
            "resource": f"{base}/mcp",
            "resource_name": "gateway MCP endpoint",
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["mcp:<server>:<tool>"],
        }))

    def _head_denied(self, scope: Scope) -> Denied | None:
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
        server = self.runtime.config.server  # read per request: `gateway reload` changes it
        if not gate.host_allowed(host, server.allowed_hosts, self.listen_host):
            log.info("refused a request for host %r (not this machine's loopback nor in "
                     "server.allowed_hosts)", gate.host_name(host or b"")[:100])
            return Denied(403, "this gateway does not serve that host name; add it to "
                          "server.allowed_hosts in gateway.toml if it is this gateway's",
                          "host_not_allowed")
        if not gate.origin_allowed(origin, server.allowed_origins):
            return Denied(403, "requests from web pages are refused unless their origin is "
                          "in server.allowed_origins in gateway.toml", "origin_not_allowed")
        return None

    async def _ops(self, scope: Scope, send: Send, trace: Trace, path: str,
                   address: str) -> None:
        verdict = self.runtime.auth.check(scope["headers"])
        if isinstance(verdict, Denied):
            if verdict.code != "missing_api_key":  # a key was sent, and it is bad
                trace.error = verdict.code
                await self._refuse(scope, send, verdict)
                return
            principal = None
        else:
            principal = verdict
            trace.principal = verdict
        privileged = (principal is not None and principal.admin) or (
            gate.is_loopback_address(address)
            and not any(name in _FORWARDED for name, _ in scope["headers"]))
        if path == "/health":
            health: dict[str, object] = {"status": "ok", "version": __version__}
            if privileged:
                serving = self.runtime.serving
                health["warnings"] = warnings(serving.models, serving.health, time.monotonic(),
                                              time.time())
            await asgi_io.send_response(send, 200, _encode(health))
            return
        if path == "/health/ready":
            detail = readiness(self.runtime.models, self.runtime.health, time.monotonic())
            ready = is_ready(detail)
            answer: dict[str, object] = {"status": "ready" if ready else "not_ready"}
            if privileged:
                answer["models"] = detail
            await asgi_io.send_response(send, 200 if ready else 503, _encode(answer))
            return
        metrics = self.observer.metrics
        if metrics is None:
            trace.error = "not_found"
            await self._refuse(scope, send, Denied(
                404, "metrics are off (server.metrics = false in gateway.toml)", "not_found"))
            return
        if not privileged:
            trace.error = "admin_required"
            await self._refuse(scope, send, Denied(
                403, "/metrics is served to loopback callers and to client keys created with "
                "--admin", "admin_required"))
            return
        await asgi_io.send_response(send, 200, metrics.render(),
                                    content_type=CONTENT_TYPE.encode())

    async def _model(self, scope: Scope, send: Send, trace: Trace, name: str) -> None:
        """GET /v1/models/{id} (both SDKs' `models.retrieve`), in the asking SDK's format."""
        family: Family = "anthropic" if _wants_anthropic(scope) else "openai"
        if scope.get("method") != "GET":
            trace.error = "method_not_allowed"
            await asgi_io.send_response(send, 405, client_error(
                family, 405, "use GET for /v1/models/{id}", "method_not_allowed"),
                headers=[(b"allow", b"GET")])
            return
        found = model_payload(self.runtime, name, family == "anthropic",
                              scope.get(PRINCIPAL))  # type: ignore[arg-type]
        if found is None:
            trace.error = "model_not_found"
            await asgi_io.send_response(send, 404, client_error(
                family, 404, "no such model on this gateway (GET /v1/models lists them)",
                "model_not_found"))
            return
        await asgi_io.send_response(send, 200, _encode(found))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == ScopeType.HTTP:
            await self._http(scope, receive, send)
        elif kind == ScopeType.WEBSOCKET:
            # Nothing here speaks WebSocket: refuse the handshake (the server answers 403).
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008, "reason": ""})
        else:
            await self.app(scope, receive, send)  # lifespan

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        exact = gate.exact_path(path, scope.get("raw_path"), self.known)
        client = scope.get("client")
        address = client[0] if client else "-"
        method = scope.get("method", "-")
        trace = Trace(new_request_id(), method if method in _METHODS else "OTHER",
                      path if exact else "other", address)
        scope[TRACE] = trace  # type: ignore[literal-required]
        reading = Reading(scope, receive)
        try:
            await self._serve(scope, reading, _traced(send, trace, reading), trace, path,
                              exact, address)
        finally:
            self.observer.finish(trace)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, trace: Trace,
                     path: str, exact: bool, address: str) -> None:
        denied = self._head_denied(scope)
        if denied is not None:
            trace.error = denied.code
            await self._refuse(scope, send, denied)
            return
        if exact and path in OPS_PATHS:
            await self._ops(scope, send, trace, path, address)
            return
        if exact and path in METADATA_PATHS and scope.get("method") == "GET":
            await self._metadata(scope, send)
            return
        verdict = self.runtime.auth.check(scope["headers"])
        if isinstance(verdict, Denied):
            trace.error = verdict.code
            await self._refuse(scope, send, verdict)
            return
        scope[PRINCIPAL] = verdict  # type: ignore[literal-required]
        trace.principal = verdict
        if any(name == b"upgrade" for name, _ in scope["headers"]):
            # A WebSocket (or h2c) upgrade, e.g. Codex trying the Responses WebSocket mode
            # first: a plain refusal with no upgrade headers, so the client falls back to
            # HTTP at once instead of retrying the handshake.
            trace.error = "upgrade_refused"
            await self._refuse(scope, send, Denied(
                400, "this gateway does not serve WebSocket or other protocol upgrades; "
                "send the request over plain HTTP (for the Responses API: POST "
                "/v1/responses, with \"stream\": true to stream)", "upgrade_not_supported"))
            return
        model_id = gate.model_id(path, scope.get("raw_path")) if not exact else None
        if model_id is not None:
            trace.path = gate.MODEL_PATH  # the template: the log never holds a client's id
            await self._model(scope, send, trace, model_id)
            return
        if not exact:
            trace.error = "not_found"
            await self._refuse(scope, send, Denied(
                404, "no such endpoint on this gateway", "not_found"))
            return
        count = self.in_flight.get(address, 0)
        per_address = self.runtime.config.server.max_requests_per_address
        if count >= per_address:
            trace.error = "too_many_requests"
            await self._refuse(scope, send, Denied(
                429, f"too many requests in flight from one address (the limit is "
                f"{per_address}, server.max_requests_per_address)",
                "too_many_requests", retry_after=1))
            return
        handler = self.routes.get(path)
        if handler is not None and not self.observer.has_room():
            # audit.on_full = "block": a request that could not be recorded is not served.
            trace.error = "audit_log_full"
            await self._refuse(scope, send, Denied(
                503, "the gateway's request log is behind; retry shortly",
                "audit_log_full", retry_after=1))
            return
        self.in_flight[address] = count + 1
        try:
            if handler is not None:
                await handler(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            left = self.in_flight[address] - 1
            if left:
                self.in_flight[address] = left
            else:
                del self.in_flight[address]
