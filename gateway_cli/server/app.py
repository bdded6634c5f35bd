"""The Litestar application: routes, error shapes, and nothing else.

No OpenAPI schema, no debug pages, no request logging: each would add
attack surface or per-request cost, and none is needed by the clients.
Unknown paths and methods under /v1 answer in the OpenAI error format so SDKs
raise their usual exceptions.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, MediaType, Request, Response, asgi, get
from litestar.exceptions import HTTPException

from gateway_cli import __version__
from gateway_cli.config import Config
from gateway_cli.server import chat
from gateway_cli.server.errors import openai_error
from gateway_cli.server.runtime import Runtime, build_runtime


def _http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    message = {404: "no such endpoint on this gateway", 405: "method not allowed"}.get(
        status, exc.detail or "request refused"
    )
    return Response(openai_error(status, message), status_code=status,
                    media_type=MediaType.JSON, headers=exc.headers)


def create_app(config: Config | None = None) -> Litestar:
    runtime: Runtime = build_runtime(config or Config())

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @get("/v1/models", sync_to_thread=False)
    def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": m.name, "object": "model", "created": 0, "owned_by": m.owned_by}
                for m in runtime.models.values()
            ],
        }

    chat_route = asgi("/v1/chat/completions", copy_scope=False)(chat.make_handler(runtime))

    return Litestar(
        route_handlers=[health, list_models, chat_route],
        exception_handlers={HTTPException: _http_exception},
        openapi_config=None,
        logging_config=None,
        debug=False,
        request_max_body_size=runtime.config.server.max_body_bytes,
        state=None,
    )
