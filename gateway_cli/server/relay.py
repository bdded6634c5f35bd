"""Send one request upstream with routing, retries and failover; relay the answer.

The order of deployments comes from the model's strategy; unhealthy ones
(open circuit breaker) are skipped. Each attempt has the deployment's
timeout for the response headers (and, when not streaming, the body).
Connection failures, timeouts, 408/409/429 and 5xx are retried with jittered
backoff, honouring Retry-After, moving to the next deployment when there is
one; a credential rejection (401/403) fails over but is never retried on the
same deployment; any other 4xx is the client's problem and is answered at once.
Once a stream has started sending to the client there are no more retries:
a broken upstream ends the stream with an error event in the client's format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from gateway_cli.config import OutputPolicyConfig
from gateway_cli.formats.sse import SSEError
from gateway_cli.formats.strict_json import decode_unique
from gateway_cli.guards.mask_stream import MaskingStream
from gateway_cli.guards.output_policy import inspect_answer, mask_error_body
from gateway_cli.guards.redact import Redactions
from gateway_cli.guards.restore_stream import RestoringStream, restore_json
from gateway_cli.keys.refs import Secret
from gateway_cli.providers import mock
from gateway_cli.providers.adapt import (
    Adapter,
    Ids,
    StreamConverter,
    adapter_for,
    client_error,
    stream_error,
)
from gateway_cli.providers.operations import CLIENT_FAMILY, Family, Op
from gateway_cli.providers.wire import Unsupported, headers_for, url_for
from gateway_cli.routing import health as hp
from gateway_cli.routing import retry, strategies
from gateway_cli.server import asgi_io
from gateway_cli.server.asgi_io import HttpError
from gateway_cli.server.runtime import Deployment, ModelRoute, Runtime
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError
from gateway_cli.upstream.pool import UpstreamPool

log = logging.getLogger("gateway.relay")
_encode = msgspec.json.Encoder().encode

MAX_UPSTREAM_BODY = 64 * 1024 * 1024
MAX_ERROR_BODY = 256 * 1024
_UPSTREAM_OP = {Op.CHAT: Op.MESSAGES, Op.MESSAGES: Op.CHAT}


@dataclass
class Call:
    """Everything about one client request that the relay needs."""

    op: Op
    body: dict[str, Any]
    raw: bytes
    client_headers: dict[bytes, bytes]
    ids: Ids
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    redactions: Redactions | None = None  # placeholders to restore in the answer
    output: OutputPolicyConfig | None = None  # inspect the answer (None: inspection off)
    mode: str = "enforce"
    canary: str | None = None
    known: frozenset[str] = frozenset()  # fingerprints of sensitive values the client sent

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True


@dataclass
class _Full:
    status: int
    body: bytes
    content_type: bytes
    retry_after: str | None


@dataclass
class _Stream:
    chunks: AsyncIterator[bytes]
    close: Callable[[], None] | None


@dataclass
class _Failure:
    kind: str  # "timeout" | "connect" | "status" | "credentials" | "redirect"
    message: str
    status: int | None = None
    body: bytes = b""
    retry_after: float | None = None


def _upstream_op(adapter: Adapter) -> Op:
    return adapter.op if adapter.passthrough else _UPSTREAM_OP.get(adapter.op, adapter.op)


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    declared = response.content_length
    if declared is not None and declared > MAX_UPSTREAM_BODY:
        raise _TooLarge
    data = bytearray()
    async for chunk in response.content.iter_any():
        data += chunk
        if len(data) > MAX_UPSTREAM_BODY:
            raise _TooLarge
    return bytes(data)


class _TooLarge(Exception):
    pass


async def _idle_limited(response: aiohttp.ClientResponse, idle: float) -> AsyncIterator[bytes]:
    """The upstream stream as it arrives; a silence longer than `idle` ends it."""
    while True:
        async with asyncio.timeout(idle):
            chunk = await response.content.readany()
        if not chunk:
            return
        yield chunk


async def _mock_stream(body: bytes, ids: Ids) -> AsyncIterator[bytes]:
    import msgspec

    request = msgspec.json.decode(body)
    for chunk in mock.stream(request, request_id=ids.request_id, created=ids.created):
        yield b"data: " + msgspec.json.encode(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _mock_attempt(call: Call, body: bytes, streaming: bool) -> _Full | _Stream:
    import msgspec

    if streaming:
        return _Stream(_mock_stream(body, call.ids), None)
    request = msgspec.json.decode(body)
    answer = mock.complete(request, request_id=call.ids.request_id, created=call.ids.created)
    return _Full(200, msgspec.json.encode(answer), asgi_io.JSON, None)


async def _http_attempt(pool: UpstreamPool, dep: Deployment, op: Op, body: bytes,
                        call: Call, streaming: bool,
                        old_secret: bool = False) -> _Full | _Stream | _Failure:
    provider = dep.provider
    assert provider is not None
    url = url_for(provider.wire, op, dep.model)
    secret = provider.previous_secret() if old_secret else provider.secret
    headers = headers_for(provider.wire, secret, call.client_headers)
    if streaming:
        headers["accept"] = "text/event-stream"
    response: aiohttp.ClientResponse | None = None
    try:
        async with asyncio.timeout(dep.timeout):
            # Never follow a redirect: aiohttp would carry x-api-key / api-key (not
            # Authorization) and the prompt to wherever Location points.
            response = await pool.session(provider.name).post(
                url, data=body, headers=headers, allow_redirects=False)
            if streaming and response.status == 200:
                stream = _Stream(_idle_limited(response, dep.timeout), response.close)
                response = None  # ownership passes to the stream
                return stream
            data = await _read_capped(response)
        status = response.status
        content_type = response.headers.get("content-type", "application/json").encode()
        retry_after = response.headers.get("retry-after")
        if status >= 300:
            # An upstream that echoes the request's headers in its error would hand the
            # client the gateway's own provider key: it never leaves, whatever the guards say.
            data = _without_credentials(data, provider.secret, provider.previous_secret())
        if status in (401, 403):
            if not old_secret and provider.previous_secret() is not None:
                # Inside a rotation's grace period the provider may not know the new key
                # yet (or it was mistyped): the old one still serves until the grace ends.
                response.release()
                response = None
                return await _http_attempt(pool, dep, op, body, call, streaming, True)
            return _Failure("credentials", f"provider {provider.name!r} rejected the gateway's "
                            f"credentials (HTTP {status}); check its secret", status, data)
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            log.warning("deployment %s answered HTTP %d redirecting to %s; not followed",
                        dep.id, status, _host_of(where))
            return _Failure("redirect", f"deployment {dep.id} answered with a redirect "
                            f"(HTTP {status}), which the gateway never follows", status)
        if status >= 400:
            wait = retry.parse_retry_after(retry_after, time.time())
            return _Failure("status", f"upstream answered HTTP {status}", status, data, wait)
        return _Full(status, data, content_type, retry_after)
    except TimeoutError:
        return _Failure("timeout", f"deployment {dep.id} did not answer within {dep.timeout:g} s")
    except _TooLarge:
        return _Failure("connect", f"deployment {dep.id} sent a response over "
                        f"{MAX_UPSTREAM_BODY} bytes")
    except (aiohttp.ClientError, OSError) as err:
        return _Failure("connect", f"deployment {dep.id} unreachable ({type(err).__name__})")
    finally:
        if response is not None:
            response.release()


def _without_credentials(data: bytes, *secrets: Secret | None) -> bytes:
    """`data` with every credential of the provider replaced, as sent and as JSON-escaped."""
    for secret in secrets:
        value = secret.reveal() if secret is not None else ""
        if len(value) < 8:
            continue
        for form in {value, json.dumps(value)[1:-1]}:
            data = data.replace(form.encode(), b"[REDACTED]")
    return data


def _host_of(location: str) -> str:
    """The host a redirect points to, for the log: never its path or query."""
    from urllib.parse import urlsplit

    try:
        return urlsplit(location).netloc.rpartition("@")[2][:200] or "(relative)"
    except ValueError:
        return "(unreadable)"


class Passthrough(HttpError):
    """An upstream error already rendered in the client's format."""

    def __init__(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(status, "upstream error", headers=headers)
        self.body = body


def _final_error(adapter: Adapter, failure: _Failure | None, route: ModelRoute) -> HttpError:
    if failure is None:
        return HttpError(503, f"no deployment of model {route.name!r} is available")
    if failure.kind == "timeout":
        return HttpError(504, f"upstream timed out: {failure.message}", "upstream_timeout")
    if failure.kind in ("connect", "credentials"):
        return HttpError(502, failure.message, "upstream_unavailable")
    if failure.kind == "redirect":
        return HttpError(502, failure.message, "upstream_redirect")
    status = failure.status or 502
    headers = []
    if status == 429:
        if failure.retry_after is not None:
            headers.append((b"retry-after", str(max(1, round(failure.retry_after))).encode()))
        return Passthrough(429, adapter.error(429, failure.body), headers)
    if status >= 500:
        return Passthrough(502, adapter.error(502, failure.body), headers)
    return Passthrough(status, adapter.error(status, failure.body), headers)


def _screened(error: HttpError, call: Call) -> HttpError:
    """An upstream error body, as relayed, with secrets and personal data masked.

    Masked rather than withheld whatever the output action: the client still
    needs the provider's reason for the error.
    """
    if not isinstance(error, Passthrough):
        return error
    if len(error.body) > MAX_ERROR_BODY:
        # A provider's reason fits in a few hundred bytes; screening megabytes here would
        # hold the event loop, so a hostile upstream's giant error is replaced, not relayed.
        error.body = client_error(CLIENT_FAMILY[call.op], error.status,
                                  f"the upstream's error body was over {MAX_ERROR_BODY} "
                                  "bytes; not relayed")
    elif call.output is not None:
        error.body = mask_error_body(call.output, error.body)
    return error


def _inspect_and_restore(answer: bytes, family: Family, call: Call,
                         headers: list[tuple[bytes, bytes]]) -> bytes:
    """Judge the upstream's answer (placeholders still in), then restore placeholders.

    The answer is re-encoded only when masking or restoring changed it, so an
    unchanged answer reaches the client as the upstream sent it.
    """
    original = decode_unique(answer)
    value = original
    if call.output is not None:
        decision, value = inspect_answer(call.output, call.mode, family, value, call.canary,
                                         call.known)
        if decision.verdict != "allow":
            prefix = "" if decision.applied == decision.verdict else "observe: "
            headers.append((b"x-gateway-output-policy",
                            f"{prefix}{decision.verdict} ({decision.reason})".encode()))
        if decision.applied == "block":
            log.info("answer to request %s withheld by policy: %s", call.ids.request_id,
                     decision.reason)
            raise HttpError(502, f"the gateway's policy withheld the model's answer "
                            f"({decision.reason}); request id {call.ids.request_id}",
                            "output_blocked_by_policy")
    if call.redactions and any(p.encode() in answer for p in call.redactions):
        value = restore_json(value, call.redactions)
    return answer if value is original else _encode(value)


class _Withheld(Exception):
    pass


async def _relay_stream(send: Any, stream: _Stream, converter: StreamConverter | None,
                        adapter: Adapter, headers: list[tuple[bytes, bytes]],
                        restorer: StreamConverter | None = None,
                        policy: MaskingStream | None = None, request_id: str = "-",
                        credentials: tuple[Secret | None, ...] = ()) -> None:
    """Relay one stream: translate, restore placeholders, apply the output policy (`policy`).

    The policy judges the text the client gets, after restoration (skipping the
    values the request carried), so it runs last. Under block or mask it holds
    back the end of the text until judged; watching only (flag, observe) it
    passes every piece on as it came.
    """
    await asgi_io.start_sse(send, headers)

    async def forward(pieces: list[bytes]) -> None:
        if restorer is not None:
            pieces = [out for piece in pieces for out in restorer.feed(piece)]
        if policy is not None:
            pieces = [out for piece in pieces for out in policy.feed(piece)]
        for piece in pieces:
            await asgi_io.send_chunk(send, piece)
        if policy is not None and policy.blocked is not None:
            raise _Withheld  # what it returned came before the finding; nothing more

    try:
        async for chunk in stream.chunks:
            await forward([chunk] if converter is None else converter.feed(chunk))
        await forward(converter.finish() if converter is not None else [])
        if policy is not None:
            for piece in policy.finish():
                await asgi_io.send_chunk(send, piece)
            if policy.blocked is not None:
                raise _Withheld
    except _Withheld:
        blocked = policy.blocked if policy is not None else None
        reason = blocked.reason if blocked is not None else "policy"
        log.info("streamed answer to request %s cut by policy: %s", request_id, reason)
        policy = None  # reported: nothing more to say
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, f"the gateway's policy withheld the rest of the answer ({reason}); "
            f"request id {request_id}", "output_blocked_by_policy"))
    # On the errors below, text the policy still holds is dropped, not flushed: it may
    # be the start of a secret whose end never came, which nothing would recognise.
    except TimeoutError:
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, "the upstream stream stalled; the answer is incomplete"))
    except UpstreamStreamError as err:
        message = _without_credentials(err.message.encode(), *credentials).decode()
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, f"the upstream reported an error mid-stream: {message}"))
    except (aiohttp.ClientError, OSError, SSEError, TranslationError, ValueError) as err:
        log.debug("upstream stream broke: %s", type(err).__name__)
        await asgi_io.send_chunk(send, b"\n\n" + stream_error(
            adapter.client, "the upstream stream broke off; the answer is incomplete"))
    finally:
        if stream.close is not None:
            stream.close()
    _report_stream(request_id, policy)
    await asgi_io.end_stream(send)


def _report_stream(request_id: str, policy: MaskingStream | None) -> None:
    """Log the output policy's verdict on a stream: its headers left before the verdict."""
    decision = policy.report if policy is not None else None
    if policy is None or decision is None:
        return
    prefix = "" if decision.applied == decision.verdict else "observe: "
    masked = f", {policy.masked} masked" if policy.masking else ""
    log.info("streamed answer to request %s: output policy %s%s (%s)%s", request_id, prefix,
             decision.verdict, decision.reason, masked)


@dataclass
class _Plan:
    """One deployment made ready for this call: how to speak to it, and what to send."""

    dep: Deployment
    adapter: Adapter
    op: Op
    body: bytes


def _plan(dep: Deployment, call: Call, route: ModelRoute) -> _Plan:
    """Prepare `call` for `dep`; raises Unsupported or TranslationError."""
    adapter = adapter_for(call.op, dep.family)
    body = adapter.body(call.body, call.raw, dep.model)
    op = _upstream_op(adapter)
    if dep.provider is None:
        if op is not Op.CHAT:
            raise Unsupported(f"the mock model does not serve {call.op.value}")
    else:
        url_for(dep.provider.wire, op, dep.model)
    return _Plan(dep, adapter, op, body)


async def _deliver(plan: _Plan, outcome: _Full | _Stream, call: Call, send: Any,
                   headers: list[tuple[bytes, bytes]]) -> None:
    if isinstance(outcome, _Stream):
        converter = plan.adapter.stream(call.ids, plan.dep.model, call.include_usage)
        restorer = RestoringStream(plan.adapter.client, call.redactions) \
            if call.redactions else None
        policy = MaskingStream(call.output, plan.adapter.client, call.canary, call.known,
                               mode=call.mode) if call.output is not None else None
        provider = plan.dep.provider
        credentials = (provider.secret, provider.previous_secret()) if provider else ()
        await _relay_stream(send, outcome, converter, plan.adapter, headers, restorer, policy,
                            call.ids.request_id, credentials)
        return
    try:
        answer = plan.adapter.answer(outcome.body, call.ids, plan.dep.model)
        if outcome.status < 400 and (call.output is not None or call.redactions):
            answer = _inspect_and_restore(answer, plan.adapter.client, call, headers)
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


def _pause(runtime: Runtime, failure: _Failure, attempts: int, same: bool) -> float | None:
    """Seconds to wait before the next attempt, or None to give up now.

    Moving to another deployment needs no wait. Retrying the same one waits a
    jittered backoff, or the upstream's Retry-After if longer; a Retry-After
    beyond `max_retry_after` ends the retries so the client hears it at once.
    """
    if not same:
        return 0.0
    cfg = runtime.config.routing
    delay = retry.backoff(attempts, initial=cfg.backoff_initial, maximum=cfg.backoff_max,
                          rng=runtime.rng)
    if failure.retry_after is not None:
        if failure.retry_after > cfg.max_retry_after:
            return None
        delay = max(delay, failure.retry_after)
    return delay


async def execute(runtime: Runtime, pool: UpstreamPool, route: ModelRoute, call: Call,
                  send: Any) -> None:
    """Answer `call` from one of `route`'s deployments, or raise HttpError."""
    cfg = runtime.config.routing
    health = runtime.health
    order = strategies.order(route.strategy, route.deployments, health, runtime.rng)
    attempts = 0
    failure: _Failure | None = None
    failed_adapter = adapter_for(call.op, route.deployments[0].family)
    unsupported: str | None = None
    skip: set[str] = set()  # not to be tried again: credentials refused, operation unsupported

    def candidates() -> list[Deployment]:
        now = time.monotonic()
        return [d for d in order if d.id not in skip and hp.available(health[d.id], now)]

    index = 0
    while attempts <= cfg.retries:
        ready = candidates()
        if not ready:
            break
        dep = ready[index % len(ready)]
        index += 1
        try:
            plan = _plan(dep, call, route)
        except Unsupported as err:
            unsupported = f"model {route.name!r} does not serve {call.op.value}: {err}"
            skip.add(dep.id)
            continue
        except TranslationError as err:
            raise HttpError(400, str(err), "unsupported_by_upstream") from None
        attempts += 1
        state = health[dep.id]
        started = time.monotonic()
        hp.on_attempt(state, started)
        try:
            outcome = _mock_attempt(call, plan.body, call.streaming) if dep.provider is None \
                else await _http_attempt(pool, dep, plan.op, plan.body, call, call.streaming)
        finally:
            hp.on_done(state)
        headers = [*call.response_headers, (b"x-gateway-deployment", dep.id.encode()),
                   (b"x-gateway-attempts", str(attempts).encode())]
        if not isinstance(outcome, _Failure):
            hp.on_success(state, time.monotonic() - started)
            await _deliver(plan, outcome, call, send, headers)
            return
        failure, failed_adapter = outcome, plan.adapter
        if outcome.kind == "status" and outcome.status is not None \
                and not retry.retryable_status(outcome.status):
            error = _screened(_final_error(plan.adapter, outcome, route), call)
            error.headers += headers
            raise error
        hp.on_failure(state, time.monotonic(), threshold=cfg.breaker_failures,
                      cooldown=cfg.breaker_cooldown)
        log.debug("attempt %d on %s failed: %s", attempts, dep.id, outcome.message)
        if outcome.kind == "credentials":
            log.warning("%s", outcome.message)
            skip.add(dep.id)
        if outcome.kind == "redirect":
            skip.add(dep.id)  # asking again would be redirected again
        if attempts > cfg.retries:
            break
        remaining = candidates()
        same = not remaining or remaining[index % len(remaining)].id == dep.id
        delay = _pause(runtime, outcome, attempts, same)
        if delay is None:
            break
        if delay:
            await asyncio.sleep(delay)
    if failure is not None:
        raise _screened(_final_error(failed_adapter, failure, route), call)
    if unsupported is not None:
        raise HttpError(400, unsupported, "unsupported_operation")
    now = time.monotonic()
    reopen = max(now, min(health[d.id].open_until for d in route.deployments))
    raise HttpError(503, f"every deployment of model {route.name!r} is cooling down after "
                    "repeated failures; retry shortly", "no_healthy_deployment",
                    headers=[(b"retry-after", str(max(1, round(reopen - now))).encode())])
