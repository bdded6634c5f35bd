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

from gateway_cli.formats.openai_chat import RequestProblem, decode_object
from gateway_cli.formats.requests import check_depth, check_request
from gateway_cli.guards.output import new_canary
from gateway_cli.guards.output_policy import fingerprint, with_canary
from gateway_cli.guards.pipeline import Inspector
from gateway_cli.providers.adapt import Ids, client_error
from gateway_cli.providers.operations import CLIENT_FAMILY, Op
from gateway_cli.routing.hooks import RouteContext, choose_model
from gateway_cli.server import asgi_io, gate
from gateway_cli.server.asgi_io import ClientGone, HttpError
from gateway_cli.server.auth import OPEN, Principal
from gateway_cli.server.relay import Call, Passthrough, execute
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


async def _off_loop(work: Callable[[], T]) -> T:
    """Two at a time; more wait in the pool's queue (their bodies are read already)."""
    return await asyncio.get_running_loop().run_in_executor(_inspectors, work)


def _parsed(op: Op, raw: bytes, max_depth: int) -> dict[str, Any]:
    """The request body decoded and checked (a big one in a worker: a hostile body can make
    the duplicate-key search walk a million objects)."""
    body = decode_object(raw)
    check_depth(raw, body, max_depth)
    check_request(op, body)
    return body


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


def _check_scope(principal: Principal, model: str) -> None:
    """Checked on the model asked for and again on any model a policy or hook moves it to."""
    if not principal.may_use(model):
        raise HttpError(403, f"this gateway key may not use the model '{model}'",
                        "model_not_allowed", "model")


def make_handler(runtime: Runtime, pool: UpstreamPool, op: Op) -> AsgiHandler:
    family = CLIENT_FAMILY[op]
    path = PATHS[op]
    limits = runtime.config.server
    inspector = Inspector(runtime.config.inspection) if runtime.config.inspection.enabled \
        else None

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        request_id = new_request_id()
        headers = [(b"x-request-id", request_id.encode())]
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
            try:
                body = _parsed(op, raw, limits.max_json_depth) if len(raw) < OFFLOAD_BYTES \
                    else await _off_loop(functools.partial(_parsed, op, raw,
                                                           limits.max_json_depth))
            except RequestProblem as problem:
                raise HttpError(400, problem.message, "invalid_request", problem.param) from None
            model: str = body["model"]
            _check_scope(principal, model)
            redactions = None
            known: frozenset[str] = frozenset()
            if inspector is not None:
                if len(raw) < OFFLOAD_BYTES:
                    inspection = inspector.inspect_request(op, body, model, principal.name,
                                                           principal.team)
                else:
                    inspection = await _off_loop(functools.partial(
                        inspector.inspect_request, op, body, model, principal.name,
                        principal.team))
                known = frozenset(fingerprint(p.slot.text[p.finding.start:p.finding.end])
                                  for p in inspection.findings)
                decision = inspection.decision
                if decision.verdict != "allow":
                    prefix = "" if decision.applied == decision.verdict else "observe: "
                    headers.append((b"x-gateway-policy", f"{prefix}{decision.verdict} "
                                    f"({decision.reason})".encode()))
                if decision.applied == "block":
                    log.info("request %s blocked by policy: %s", request_id, decision.reason)
                    raise HttpError(400, f"the gateway's policy blocked this request "
                                    f"({decision.reason}); request id {request_id}",
                                    "blocked_by_policy")
                if decision.applied == "reroute" and decision.reroute_to:
                    headers.append((b"x-gateway-rerouted-from", model.encode()))
                    model = decision.reroute_to
                    _check_scope(principal, model)
                if decision.applied == "redact" and inspection.body is not None:
                    body = {**inspection.body, "model": body["model"]}
                    raw = _encode(body)
                    redactions = inspection.redactions
            output = None
            canary = None
            if inspector is not None:
                output = runtime.config.inspection.output
                if output.canary and op in (Op.CHAT, Op.MESSAGES):
                    canary = new_canary()
                    body = with_canary(body, canary, anthropic=op is Op.MESSAGES)
                    raw = _encode(body)
            target = choose_model(runtime.hooks, RouteContext(op, model, body))
            if target is not None:
                if target not in runtime.models:
                    log.error("a routing hook chose unknown model %r", target)
                    raise HttpError(500, "the gateway's routing policy chose a model that is "
                                    "not configured", "routing_error")
                headers.append((b"x-gateway-rerouted-from", model.encode()))
                model = target
                _check_scope(principal, model)
            route = runtime.models.get(model)
            if route is None:
                raise HttpError(404, f"The model '{model}' does not exist or is not configured "
                                "on this gateway; GET /v1/models lists the available ones",
                                "model_not_found", "model")
            call = Call(op=op, body=body, raw=raw, client_headers=dict(scope["headers"]),
                        ids=Ids(request_id, int(time.time())), response_headers=headers,
                        redactions=redactions, output=output,
                        mode=runtime.config.inspection.mode, canary=canary, known=known)
            await _unless_client_leaves(execute(runtime, pool, route, call, send), receive)
        except Passthrough as err:
            await asgi_io.send_response(send, err.status, err.body,
                                        headers=[*headers, *err.headers])
        except HttpError as err:
            await asgi_io.send_response(
                send, err.status, client_error(family, err.status, err.message, err.code),
                headers=[*headers, *err.headers])
        except ClientGone:
            log.debug("client left; request %s cancelled", request_id)
        except Exception:
            # Every foreseen failure is answered above; this is a bug. The log names the
            # request id and the code path, never the request content.
            log.exception("unhandled error answering request %s", request_id)
            with contextlib.suppress(Exception):  # the response may have started already
                await asgi_io.send_response(send, 500, client_error(
                    family, 500, "internal error in the gateway", "internal_error"),
                    headers=headers)

    return handler


def models_payload(runtime: Runtime, anthropic: bool,
                   principal: Principal | None = None) -> dict[str, Any]:
    """GET /v1/models in the format of the SDK asking (Anthropic's sends anthropic-version).

    A key scoped to some models sees only those.
    """
    routes = [m for m in runtime.models.values()
              if principal is None or principal.may_use(m.name)]
    names = [m.name for m in routes]
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
        "data": [{"id": m.name, "object": "model", "created": 0, "owned_by": m.owned_by}
                 for m in routes],
    }
