"""Answer one call from a model's deployments: drive the attempts, deliver the answer.

The decisions are not made here: the strategy orders the deployments
(routing/strategies), the failover planner says which to try next, when, or
why to stop (routing/failover), an attempt is one exchange with a provider
(upstream/attempt), and the answer is judged before it goes out
(request/inspect_answer, server/stream_relay). This module is the loop that
connects them, with the IO they leave out: sleeping between attempts,
recording health, sending to the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from litestar.types import Send

from gateway_cli.formats.errors import HttpError
from gateway_cli.guards.mask_stream import MaskingStream
from gateway_cli.guards.restore_stream import RestoringStream
from gateway_cli.limits.model import Refused
from gateway_cli.limits.usage_tap import UsageTap, reported_usage
from gateway_cli.observe.throttle import Throttle
from gateway_cli.providers.adapt import Adapter, StreamConverter, adapter_for
from gateway_cli.providers.answer_model import RenamingStream, with_model
from gateway_cli.providers.operations import Op
from gateway_cli.providers.wire import Unsupported, url_for
from gateway_cli.request.call import Call
from gateway_cli.request.give_up import failure_error, give_up_error
from gateway_cli.request.inspect_answer import judge_and_restore, screen_error
from gateway_cli.request.limits import Admission
from gateway_cli.routing import health as hp
from gateway_cli.routing import strategies
from gateway_cli.routing.failover import GiveUp, Planner, Settings, counts_against_health
from gateway_cli.routing.table import Deployment, ModelRoute
from gateway_cli.server import asgi_io
from gateway_cli.server.runtime import Serving
from gateway_cli.server.stream_relay import relay_stream
from gateway_cli.translate.errors import TranslationError
from gateway_cli.upstream.attempt import (
    MOCK_OPS,
    Failure,
    Full,
    Stream,
    http_attempt,
    local_count,
    mock_attempt,
)
from gateway_cli.upstream.pool import UpstreamPool

log = logging.getLogger("gateway.relay")
_failovers = Throttle(60.0)  # one line per deployment per minute, with a count

# What a translated call becomes upstream (the client's op, in the provider's family).
_UPSTREAM_OP = {Op.CHAT: Op.MESSAGES, Op.MESSAGES: Op.CHAT, Op.RESPONSES: Op.MESSAGES}


@dataclass
class _Plan:
    """One deployment made ready for this call: how to speak to it, and what to send."""

    dep: Deployment
    adapter: Adapter
    op: Op
    body: bytes
    local: bool = False  # answered by the gateway itself (count_tokens for OpenAI formats)


def _plan(dep: Deployment, call: Call) -> _Plan:
    """Prepare `call` for `dep`; raises Unsupported or TranslationError."""
    if call.op is Op.COUNT_TOKENS and dep.family == "openai":
        # No OpenAI-format API counts tokens: the gateway's own estimate answers, already
        # in the client's format (a pass-through adapter relays it as it is).
        return _Plan(dep, Adapter(call.op, "anthropic", "anthropic"), call.op, b"", True)
    adapter = adapter_for(call.op, dep.family)
    betas = call.client_headers.get(b"anthropic-beta")
    body = adapter.body(call.body, call.raw, dep.model,
                        betas.decode("latin-1") if betas is not None else None)
    op = adapter.op if adapter.passthrough else _UPSTREAM_OP.get(adapter.op, adapter.op)
    if dep.provider is None:
        if op not in MOCK_OPS:
            raise Unsupported(f"the mock model does not serve {call.op.value}")
    else:
        url_for(dep.provider.wire, op, dep.model)
    return _Plan(dep, adapter, op, body)


def _names_other_model(plan: _Plan, call: Call) -> bool:
    """Whether a pass-through answer names a model other than the one the client asked for
    (an alias, or a public name whose deployment's upstream name differs)."""
    return plan.adapter.passthrough and not plan.local and bool(call.asked) \
        and call.asked != plan.dep.model


async def _deliver(plan: _Plan, outcome: Full | Stream, call: Call, send: Send,
                   headers: list[tuple[bytes, bytes]]) -> None:
    if isinstance(outcome, Stream):
        tap = UsageTap(strip=call.strip_usage and plan.adapter.passthrough) \
            if call.count_usage else None
        converter: StreamConverter | None = plan.adapter.stream(
            call.ids, call.asked or plan.dep.model, call.include_usage, call.body)
        if _names_other_model(plan, call):
            converter = RenamingStream(call.asked)
        restorer = RestoringStream(plan.adapter.client, call.redactions) \
            if call.redactions else None
        policy = MaskingStream(call.output, plan.adapter.client, call.canary, call.known,
                               mode=call.mode) if call.output is not None else None
        provider = plan.dep.provider
        credentials = (provider.secret, provider.previous_secret()) if provider else ()
        try:
            await relay_stream(send, outcome, converter, plan.adapter, headers, restorer, policy,
                               call.ids.request_id, credentials, tap, call.trace)
        finally:
            call.usage = tap.usage if tap is not None else None
        return
    if call.count_usage:
        call.usage = reported_usage(plan.adapter.upstream, outcome.body)
    try:
        answer = plan.adapter.answer(outcome.body, call.ids, call.asked or plan.dep.model,
                                     call.body)
        if outcome.status < 400 and _names_other_model(plan, call):
            answer = with_model(answer, call.asked)
        if outcome.status < 400 and (call.output is not None or call.redactions):
            answer = judge_and_restore(answer, plan.adapter.client, call, headers)
    except (ValueError, TranslationError) as err:
        # Not JSON, a duplicated key (the client would read one copy and the guards
        # another), or a shape translation cannot follow: never relayed.
        # The kind of problem only: a duplicate key's message names the answer's keys,
        # and no answer content goes to the log.
        log.warning("deployment %s sent an unreadable answer to request %s: %s",
                    plan.dep.id, call.ids.request_id, type(err).__name__)
        raise HttpError(502, f"deployment {plan.dep.id} sent an answer the gateway could not "
                        "read", "bad_upstream_answer") from None
    await asgi_io.send_response(send, outcome.status, answer, content_type=outcome.content_type,
                                headers=headers)


async def execute(runtime: Serving, pool: UpstreamPool, route: ModelRoute, call: Call,
                  send: Send, admission: Admission | None = None) -> None:
    """Answer `call` from one of `route`'s deployments, or raise HttpError.

    `call.served_by` and `call.usage` say afterwards which deployment answered and what
    it reported using (when `call.count_usage`), for the limits to settle.
    """
    cfg = runtime.config.routing
    health = runtime.health
    planner = Planner(strategies.order(route.strategy, route.deployments, health, runtime.rng),
                      health, Settings(cfg.retries, cfg.backoff_initial, cfg.backoff_max,
                                       cfg.max_retry_after), runtime.rng)
    last: tuple[Adapter, Failure] | None = None
    unsupported: str | None = None
    while True:
        dep = planner.pick(time.monotonic())
        if isinstance(dep, GiveUp):
            raise screen_error(give_up_error(dep, route, call.op.value, last, unsupported), call)
        try:
            plan = _plan(dep, call)
        except Unsupported as err:
            unsupported = f"model {route.name!r} does not serve {call.op.value}: {err}"
            planner.unsupported(dep)
            continue
        except TranslationError as err:
            raise HttpError(400, str(err), "unsupported_by_upstream") from None
        taken = None
        if runtime.limiter is not None and dep.limited:
            held = await runtime.limiter.take_deployment(
                admission, dep, admission.ask if admission is not None else None)
            if isinstance(held, Refused):
                planner.at_capacity(dep, held.resets_at - time.time())
                continue
            taken = held
        try:
            state = health[dep.id]
            started = time.monotonic()
            hp.on_attempt(state, started)
            try:
                outcome = local_count(call.body) if plan.local \
                    else mock_attempt(plan.op, plan.body, call.ids, call.streaming) \
                    if dep.provider is None else await http_attempt(
                        pool, dep, plan.op, plan.body, call.client_headers, call.streaming)
            finally:
                hp.on_done(state)
            headers = [*call.response_headers, (b"x-gateway-deployment", dep.id.encode()),
                       (b"x-gateway-attempts", str(planner.attempt).encode())]
            trace = call.trace
            if not isinstance(outcome, Failure):
                took = time.monotonic() - started
                if state.open_until:
                    log.warning("deployment %s answers again: its circuit breaker is closed",
                                dep.id)
                hp.on_success(state, took)
                call.served_by = dep
                if trace is not None:
                    trace.attempt(dep.id, "ok")
                    trace.deployment = dep.id
                    trace.provider = dep.provider.name if dep.provider is not None else None
                    trace.upstream_seconds = took
                await _deliver(plan, outcome, call, send, headers)
                return
        finally:
            if taken is not None and runtime.limiter is not None:
                await runtime.limiter.give_back(taken)
        last = (plan.adapter, outcome)
        if trace is not None:
            trace.attempt(dep.id, outcome.kind if outcome.status is None
                          else f"{outcome.kind}_{outcome.status}")
        now = time.monotonic()
        if counts_against_health(outcome):
            was_open = hp.is_open(state, now)
            hp.on_failure(state, now, threshold=cfg.breaker_failures,
                          cooldown=cfg.breaker_cooldown)
            log.debug("attempt %d on %s failed: %s", planner.attempt, dep.id, outcome.message)
            if not was_open and hp.is_open(state, now):
                log.warning("deployment %s failed %d time(s) in a row: its circuit breaker is "
                            "open for %g s (%s)", dep.id, state.consecutive_failures,
                            cfg.breaker_cooldown, outcome.message)
        if outcome.kind == "credentials":
            log.warning("%s", outcome.message)
        step = planner.failed(dep, outcome, now)
        quiet = _failovers.allow(dep.id, now) if not isinstance(step, GiveUp) else None
        if quiet is not None:
            log.warning("attempt on deployment %s failed, trying again: %s%s", dep.id,
                        outcome.message, f" ({quiet} more since the last such line)"
                        if quiet else "")
        if isinstance(step, GiveUp):
            if step.reason == "final":
                error = screen_error(failure_error(plan.adapter, outcome), call)
                error.headers += headers
                raise error
            raise screen_error(give_up_error(step, route, call.op.value, last, unsupported),
                               call)
        if step:
            await asyncio.sleep(step)
