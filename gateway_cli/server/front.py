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

from gateway_cli.server.proxy import AsgiHandler


class Front:
    def __init__(self, app: Litestar, routes: Mapping[str, AsgiHandler]) -> None:
        self.app = app
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            handler = self.routes.get(scope["path"])
            if handler is not None:
                await handler(scope, receive, send)
                return
        await self.app(scope, receive, send)
