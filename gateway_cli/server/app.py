"""The Litestar application: routes, error shapes, start-up and shutdown.

No OpenAPI schema, no debug pages, no framework request logging: each would
add attack surface or per-request cost. The gateway's own access log, metrics
and audit records are written by the front door's observer (server/observer.py).
Unknown paths and methods under /v1 answer in the OpenAI error format so SDKs
raise their usual exceptions.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, Response, asgi, get
from litestar.exceptions import HTTPException, NotAuthorizedException

from gateway_cli.config import Config
from gateway_cli.formats.errors import HttpError, openai_error
from gateway_cli.observe.gateway_metrics import GatewayMetrics
from gateway_cli.server import mcp_setup, proxy
from gateway_cli.server.front import Front
from gateway_cli.server.limits_setup import make_limiter
from gateway_cli.server.observer import Observer
from gateway_cli.server.runtime import Runtime, build_runtime
from gateway_cli.upstream.pool import UpstreamPool


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    message = {404: "no such endpoint on this gateway", 405: "method not allowed"}.get(
        status, exc.detail or "request refused"
    )
    return Response(openai_error(status, message), status_code=status,
                    media_type=MediaType.JSON, headers=exc.headers)


def create_app(config: Config | None = None, runtime: Runtime | None = None,
               listen_host: str | None = None) -> Front:
    runtime = runtime or build_runtime(config or Config())
    pool = UpstreamPool()

    def open_pool() -> None:
        for provider in runtime.providers.values():
            pool.open(provider.name, max_connections=provider.max_connections,
                      connect_timeout=provider.connect_timeout)

    async def open_limits() -> None:
        runtime.limiter = make_limiter(runtime)

    async def close_limits() -> None:
        if runtime.limiter is not None:
            await runtime.limiter.store.close()

    @get("/v1/models", sync_to_thread=False)
    def list_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
        try:
            principal = proxy.principal_of(request.scope, runtime)
        except HttpError as err:
            raise NotAuthorizedException(err.message, headers=dict(
                (k.decode(), v.decode()) for k, v in err.headers)) from None
        return proxy.models_payload(runtime, "anthropic-version" in request.headers,
                                    principal)

    handlers = {path: proxy.make_handler(runtime, pool, op) for op, path in proxy.PATHS.items()}
    # The same handlers are routed by Litestar too, so the app is complete on its own
    # (in-process tests); Front sends live traffic for these paths to them directly.
    routes = [asgi(path, copy_scope=False)(handler) for path, handler in handlers.items()]
    app = Litestar(
        route_handlers=[list_models, *routes],
        exception_handlers={HTTPException: _http_exception},
        # In-process use only (tests): `gateway serve` runs Granian without the lifespan.
        on_startup=[open_pool, open_limits],
        on_shutdown=[pool.close, close_limits],
        openapi_config=None,
        logging_config=None,
        debug=False,
        request_max_body_size=runtime.config.server.max_body_bytes,
    )
    metrics = GatewayMetrics(runtime) if runtime.config.server.metrics else None
    relay, mcp_routes = mcp_setup.routes(runtime, app) if runtime.config.mcp.servers \
        else (None, {})
    front = Front(app, {**handlers, **mcp_routes}, runtime, listen_host,
                  Observer(runtime, metrics))
    front.mcp_relay = relay  # `gateway mcp approve-call` reaches its held calls
    if metrics is not None and relay is not None:
        from gateway_cli.observe.mcp_metrics import McpMetrics

        metrics.mcp = McpMetrics(metrics.registry, relay)
    front.pool = pool  # `gateway reload` opens pools for new providers in it

    async def start() -> None:
        open_pool()
        await open_limits()
        if relay is not None:
            await relay.start_eager()

    async def stop() -> None:
        if relay is not None:
            await relay.close()
        await pool.close()
        await close_limits()

    # The served gateway opens and closes these itself, around all of Granian's workers
    # (launch.py): a worker Granian replaces must not close what the others use.
    front.start, front.stop = start, stop
    return front
