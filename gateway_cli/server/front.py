"""The outermost ASGI callable: proxy paths straight to their handlers, the rest to Litestar.

The proxy endpoints are raw ASGI handlers that read, validate and answer
everything themselves (unexpected errors included); sending them through
Litestar's router and exception middleware only wrapped `send` once more per
message, about a tenth of the CPU of a proxied request in the profile
(bench/results/profile.md). Everything else (health, model list, unknown
paths, lifespan) stays Litestar's.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from gateway_cli.providers.adapt import client_error
from gateway_cli.providers.operations import Family
from gateway_cli.server import asgi_io
from gateway_cli.server.auth import Denied
from gateway_cli.server.proxy import AsgiHandler
from gateway_cli.server.runtime import Runtime

PRINCIPAL = "gateway.principal"


def _wants_anthropic(scope: Scope) -> bool:
    return scope["path"].startswith("/v1/messages") or any(
        name == b"anthropic-version" for name, _ in scope["headers"])


class Front:
    """Also the gate: every /v1 request is authenticated here, before any handler."""

    def __init__(self, app: Litestar, routes: Mapping[str, AsgiHandler],
                 runtime: Runtime) -> None:
        self.app = app
        self.routes = dict(routes)
        self.runtime = runtime

    async def _deny(self, scope: Scope, send: Send, denied: Denied) -> None:
        family: Family = "anthropic" if _wants_anthropic(scope) else "openai"
        headers = [(b"www-authenticate", b'Bearer realm="gateway"')] \
            if denied.status == 401 else []
        if denied.retry_after is not None:
            headers.append((b"retry-after", str(denied.retry_after).encode()))
        await asgi_io.send_response(send, denied.status, client_error(
            family, denied.status, denied.message, denied.code), headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            if scope["path"].startswith("/v1/"):
                verdict = self.runtime.auth.check(scope["headers"])
                if isinstance(verdict, Denied):
                    await self._deny(scope, send, verdict)
                    return
                scope[PRINCIPAL] = verdict  # type: ignore[literal-required]
            handler = self.routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
