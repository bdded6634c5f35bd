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
from collections.abc import Mapping

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from gateway_cli.providers.adapt import client_error
from gateway_cli.providers.operations import Family
from gateway_cli.server import asgi_io, gate
from gateway_cli.server.auth import Denied
from gateway_cli.server.proxy import AsgiHandler
from gateway_cli.server.runtime import Runtime

log = logging.getLogger("gateway.front")

PRINCIPAL = "gateway.principal"
PUBLIC = frozenset({"/health"})
LITESTAR_PATHS = frozenset({"/health", "/v1/models"})


def _wants_anthropic(scope: Scope) -> bool:
    return scope["path"].startswith("/v1/messages") or any(
        name == b"anthropic-version" for name, _ in scope["headers"])


class Front:
    def __init__(self, app: Litestar, routes: Mapping[str, AsgiHandler],
                 runtime: Runtime, listen_host: str | None = None) -> None:
        self.app = app
        self.routes = dict(routes)
        self.known = frozenset(self.routes) | LITESTAR_PATHS
        self.runtime = runtime
        server = runtime.config.server
        self.listen_host = listen_host or server.host
        self.allowed_hosts = tuple(server.allowed_hosts)
        self.allowed_origins = tuple(server.allowed_origins)
        self.per_address = server.max_requests_per_address
        self.in_flight: dict[str, int] = {}

    async def _refuse(self, scope: Scope, send: Send, denied: Denied) -> None:
        family: Family = "anthropic" if _wants_anthropic(scope) else "openai"
        headers = [(b"www-authenticate", b'Bearer realm="gateway"')] \
            if denied.status == 401 else []
        if denied.retry_after is not None:
            headers.append((b"retry-after", str(denied.retry_after).encode()))
        await asgi_io.send_response(send, denied.status, client_error(
            family, denied.status, denied.message, denied.code), headers=headers)

    def _head_denied(self, scope: Scope) -> Denied | None:
        host = origin = None
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
        if not gate.host_allowed(host, self.allowed_hosts, self.listen_host):
            log.info("refused a request for host %r (not this machine's loopback nor in "
                     "server.allowed_hosts)", gate.host_name(host or b"")[:100])
            return Denied(403, "this gateway does not serve that host name; add it to "
                          "server.allowed_hosts in gateway.toml if it is this gateway's",
                          "host_not_allowed")
        if not gate.origin_allowed(origin, self.allowed_origins):
            return Denied(403, "requests from web pages are refused unless their origin is "
                          "in server.allowed_origins in gateway.toml", "origin_not_allowed")
        return None

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
        denied = self._head_denied(scope)
        if denied is not None:
            await self._refuse(scope, send, denied)
            return
        path = scope["path"]
        exact = gate.exact_path(path, scope.get("raw_path"), self.known)
        if not (exact and path in PUBLIC):
            verdict = self.runtime.auth.check(scope["headers"])
            if isinstance(verdict, Denied):
                await self._refuse(scope, send, verdict)
                return
            scope[PRINCIPAL] = verdict  # type: ignore[literal-required]
        if not exact:
            await self._refuse(scope, send, Denied(
                404, "no such endpoint on this gateway", "not_found"))
            return
        client = scope.get("client")
        address = client[0] if client else "-"
        count = self.in_flight.get(address, 0)
        if count >= self.per_address:
            await self._refuse(scope, send, Denied(
                429, f"too many requests in flight from one address (the limit is "
                f"{self.per_address}, server.max_requests_per_address)",
                "too_many_requests", retry_after=1))
            return
        self.in_flight[address] = count + 1
        try:
            handler = self.routes.get(path)
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
