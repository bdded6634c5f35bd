"""The proxy endpoints: one raw ASGI handler per API operation.

Raw ASGI (see asgi_io) keeps the hot path short: read the body with a cap,
decode once, check the few fields the gateway routes on, pick the route,
relay. While the upstream works, a watcher waits on the client's side of the
connection: if the client goes away the upstream request is cancelled at
once, so an abandoned call stops costing tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import msgspec
from litestar.types import Receive, Scope, Send

from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import OPEN, Principal
from gateway_cli.limits.tokens import with_stream_usage
from gateway_cli.providers.adapt import Ids, client_error
from gateway_cli.providers.operations import CLIENT_FAMILY, Op
from gateway_cli.providers.wire import client_headers
from gateway_cli.request.call import Call, asks_stream_usage
from gateway_cli.request.choose_route import choose_route
from gateway_cli.request.give_up import Passthrough
from gateway_cli.request.inspect_request import Screened, add_canary, screen
from gateway_cli.request.limits import Limiter, LimitRefusal
from gateway_cli.request.parse import parse
from gateway_cli.request.scope import check_scope
from gateway_cli.request.trace import TRACE, Trace
from gateway_cli.server import asgi_io, gate
from gateway_cli.server.asgi_io import ClientGone
from gateway_cli.server.relay import execute
from gateway_cli.server.runtime import Runtime
from gateway_cli.upstream.pool import UpstreamPool

log = logging.getLogger("gateway.proxy")
_encode = msgspec.json.Encoder().encode

PATHS = {
    Op.CHAT: "/v1/chat/completions",
    Op.EMBEDDINGS: "/v1/embeddings",
    Op.RESPONSES: "/v1/responses",
    Op.MESSAGES: "/v1/messages",
    Op.COUNT_TOKENS: "/v1/messages/count_tokens",
}

AsgiHandler = Callable[[Scope, Receive, Send], Awaitable[None]]
T = TypeVar("T")


def new_request_id() -> str:
    return os.urandom(12).hex()


# A request still running after this long gets a watcher on the client's side of the
# connection. Most calls finish sooner, and watching every one cost a sixth of throughput
# (bench/README.md); an LLM call worth cancelling runs for seconds.
WATCH_AFTER = 0.05


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_client_leaves(work: Awaitable[None], receive: Receive) -> None:
    """Run `work` in this task; if the client disconnects meanwhile, cancel it.

    The watcher task is only started once the work has run for WATCH_AFTER
    seconds, so short requests pay for one timer, not two tasks.
    """
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    left = False
    watcher: asyncio.Task[None] | None = None

    async def watch() -> None:
        nonlocal left
        await _wait_disconnect(receive)
        left = True
        me.cancel()

    def start_watching() -> None:
        nonlocal watcher
        watcher = loop.create_task(watch())

    timer = loop.call_later(WATCH_AFTER, start_watching)
    try:
        await work
    except asyncio.CancelledError:
        if not left:
            raise
        me.uncancel()
        raise ClientGone from None
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()


# Bodies this large are inspected in a worker thread, so a few hostile megabytes cost
# other requests a GIL time slice (milliseconds) instead of the whole scan (up to a
# second). Smaller ones are inspected inline: a thread hop costs more than their scan.
OFFLOAD_BYTES = 256 * 1024
_inspectors = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gateway-inspect")


async def _maybe_off_loop(big: bool, work: Callable[..., T], *args: Any) -> T:
    """`work(*args)`, in the pool when the body is big: two at a time; more wait in the
    pool's queue (their bodies are read already). A hostile body can make the duplicate-key
    search walk a million objects, or the guards scan megabytes."""
    if not big:
        return work(*args)
    return await asyncio.get_running_loop().run_in_executor(
        _inspectors, functools.partial(work, *args))


def principal_of(scope: Scope, runtime: Runtime) -> Principal:
    """The caller the front door authenticated; refuses when none was and keys are required.

    Defence in depth: every request reaches a handler through `Front`, which
    authenticates it, but a handler must not serve anyone should a future
    route bypass it.
    """
    principal = scope.get("gateway.principal")
    if isinstance(principal, Principal):
        return principal
    if runtime.auth.open:
        return OPEN
    raise HttpError(401, "this gateway needs a gateway key", "missing_api_key",
                    headers=[(b"www-authenticate", b'Bearer realm="gateway"')])


def make_handler(runtime: Runtime, pool: UpstreamPool, op: Op) -> AsgiHandler:
    """The ASGI handler of `op`: the request path's stages in order (request/__init__.py)."""
    family = CLIENT_FAMILY[op]
    path = PATHS[op]

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        # One configuration generation for the whole request (see runtime.Serving).
        serving = runtime.serving
        config = serving.config
        limits = config.server
        inspection = config.inspection
        inspector = serving.inspector
        output = inspection.output if inspector is not None else None
        account = config.audit.enabled  # read every answer's usage for its record
        trace = scope.get(TRACE)
        if not isinstance(trace, Trace):  # reached without the front door (in-process use)
            trace = Trace(new_request_id(), str(scope.get("method", "-")), path, "-")
        request_id = trace.request_id
        trace.op = op.value
        headers = [(b"x-request-id", request_id.encode())]
        call: Call | None = None
        try:
            principal = principal_of(scope, runtime)
            if scope.get("method") != "POST":
                raise HttpError(405, f"use POST for {path}", "method_not_allowed",
                                headers=[(b"allow", b"POST")])
            if not gate.is_json(asgi_io.header(scope, b"content-type")):
                raise HttpError(415, f"{path} takes a JSON body: send 'Content-Type: "
                                "application/json'", "unsupported_media_type")
            raw = await asgi_io.read_body(scope, receive, limits.max_body_bytes,
                                          limits.body_timeout)
            big = len(raw) >= OFFLOAD_BYTES
            body = await _maybe_off_loop(big, parse, op, raw, limits.max_json_depth)
            asked: str = body["model"]
            trace.model = asked
            # An alias becomes the model's own name before scopes, policy and limits see it.
            model = serving.aliases.canonical(asked, serving.models)
            if model != asked:
                trace.served_model = model
            check_scope(principal, model)
            screened = Screened(body, raw, model)
            if inspector is not None:
                trace.mode = inspection.mode
                screened = await _maybe_off_loop(big, screen, inspector, op, body, raw, model,
                                                 principal, request_id, trace)
                headers += screened.headers
                if screened.rerouted:
                    trace.served_model = screened.model
                    check_scope(principal, screened.model)
            body, raw, canary = add_canary(output, op, screened.body, screened.raw) \
                if output is not None else (screened.body, screened.raw, None)
            route = choose_route(serving.models, serving.hooks, op, screened.model, body,
                                 principal, headers)
            if route.name != asked:
                trace.served_model = route.name
            limiter = serving.limiter
            admission = None
            # Usage is read from every answer for the audit record; the limits settle with it.
            count_usage, strip_usage = account, False
            include_usage = asks_stream_usage(body)
            limited = body
            if limiter is not None:
                try:
                    admission, limited = await limiter.admit(principal, op, body, len(raw),
                                                             route)
                except LimitRefusal as err:
                    trace.limit = f"refused:{err.counter}"
                    raise
                if admission is not None:
                    trace.limit = "admitted"
                    headers += admission.headers
                    count_usage = count_usage or admission.ask is not None
            try:  # from the admission on, whatever fails gives back what it holds
                if count_usage and op is Op.CHAT and body.get("stream") is True \
                        and not include_usage:
                    limited, strip_usage = with_stream_usage(op, limited)
                if limited is not body:
                    body, raw = limited, _encode(limited)
                call = Call(op=op, body=body, raw=raw,
                            client_headers=client_headers(scope["headers"]),
                            ids=Ids(request_id, int(time.time())), response_headers=headers,
                            redactions=screened.redactions, output=output,
                            mode=inspection.mode, canary=canary, known=screened.known,
                            include_usage=include_usage, count_usage=count_usage,
                            strip_usage=strip_usage, trace=trace, asked=asked)
                await _unless_client_leaves(execute(serving, pool, route, call, send,
                                                    admission), receive)
            finally:
                if admission is not None and limiter is not None:
                    await limiter.settle(admission, call.usage if call is not None else None,
                                         call.served_by if call is not None else None)
                if call is not None:
                    _note_usage(trace, call, limiter)
        except Passthrough as err:
            trace.error = "upstream_error"
            await asgi_io.send_response(send, err.status, err.body,
                                        headers=[*headers, *err.headers])
        except HttpError as err:
            trace.error = err.code or "refused"
            await asgi_io.send_response(
                send, err.status, client_error(family, err.status, err.message, err.code,
                                               err.param),
                headers=[*headers, *err.headers])
        except ClientGone:
            trace.error = "client_gone"
            if call is not None and call.streaming:
                trace.stream = "client"
            log.debug("client left; request %s cancelled", request_id)
        except Exception:
            # Every foreseen failure is answered above; this is a bug. The log names the
            # request id and the code path, never the request content.
            trace.error = "internal_error"
            log.exception("unhandled error answering request %s", request_id)
            with contextlib.suppress(Exception):  # the response may have started already
                await asgi_io.send_response(send, 500, client_error(
                    family, 500, "internal error in the gateway", "internal_error"),
                    headers=headers)

    return handler


def _note_usage(trace: Trace, call: Call, limiter: Limiter | None) -> None:
    usage, dep = call.usage, call.served_by
    if usage is None:
        return
    trace.input_tokens, trace.output_tokens = usage.input, usage.output
    trace.cached_tokens = usage.cached_input
    if limiter is not None and dep is not None and dep.provider is not None:
        trace.cost = limiter.cost_of(usage, dep)


def models_payload(runtime: Runtime, anthropic: bool,
                   principal: Principal | None = None) -> dict[str, Any]:
    """GET /v1/models in the format of the SDK asking (Anthropic's sends anthropic-version).

    A key scoped to some models sees only those.
    """
    serving = runtime.serving
    routes = [m for m in serving.models.values()
              if principal is None or principal.may_use(m.name)]
    aliases = [(alias, serving.models[name]) for alias, name in serving.aliases.exact.items()
               if name in serving.models and (principal is None or principal.may_use(name))]
    routes_named = [(m.name, m) for m in routes] + aliases
    names = [name for name, _ in routes_named]
    if anthropic:
        return {
            "data": [{"type": "model", "id": n, "display_name": n,
                      "created_at": "1970-01-01T00:00:00Z"} for n in names],
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }
    return {
        "object": "list",
        "data": [{"id": name, "object": "model", "created": 0, "owned_by": m.owned_by}
                 for name, m in routes_named],
    }


def model_payload(runtime: Runtime, name: str, anthropic: bool,
                  principal: Principal | None) -> dict[str, Any] | None:
    """GET /v1/models/{id}: the model `name` (its own, an alias's or a pattern's name),
    or None when there is none or the key may not use it. Named as asked."""
    serving = runtime.serving
    canonical = serving.aliases.canonical(name, serving.models)
    route = serving.models.get(canonical)
    if route is None or (principal is not None and not principal.may_use(canonical)):
        return None
    if anthropic:
        return {"type": "model", "id": name, "display_name": name,
                "created_at": "1970-01-01T00:00:00Z"}
    return {"id": name, "object": "model", "created": 0, "owned_by": route.owned_by}
