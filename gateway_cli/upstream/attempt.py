"""One attempt at one deployment: send the prepared body, come back with what happened.

The only stage of the request path that talks to a provider. What it returns
is one of three things, never an exception: a whole answer (`Full`), an open
stream (`Stream`, which the caller must close), or a `Failure` the failover
planner judges (routing/failover). Limits that protect the gateway from a
hostile upstream live here: a timeout on the headers (and, when not
streaming, the body), a cap on the answer's size, a silence limit on streams,
no redirect ever followed, and the provider's own key cut out of any error
body that echoes it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gateway_cli.formats.sse import encode_event
from gateway_cli.keys.refs import Secret
from gateway_cli.limits.tokens import estimate_input
from gateway_cli.net import http1
from gateway_cli.net.deadline import deadline
from gateway_cli.observe.throttle import Throttle
from gateway_cli.providers import mock, mock_responses
from gateway_cli.providers.adapt import Ids
from gateway_cli.providers.operations import Op
from gateway_cli.providers.wire import headers_for, url_for
from gateway_cli.routing import retry
from gateway_cli.routing.failover import Failed
from gateway_cli.routing.table import Deployment
from gateway_cli.upstream.pool import UpstreamPool

log = logging.getLogger("gateway.relay")
_fallbacks = Throttle(60.0)  # one warning per provider per minute

MAX_UPSTREAM_BODY = 64 * 1024 * 1024
JSON = b"application/json"


@dataclass
class Full:
    status: int
    body: bytes
    content_type: bytes
    retry_after: str | None


@dataclass
class Stream:
    chunks: AsyncIterator[bytes]
    close: Callable[[], None] | None


@dataclass(frozen=True)
class Failure(Failed):
    """A failed attempt: what the planner judges, plus what the client may be told."""

    message: str = ""
    body: bytes = b""  # the upstream's error body, the provider's credentials cut out


async def _read_capped(response: http1.Response) -> bytes:
    """The whole answer; TooLarge over MAX_UPSTREAM_BODY decoded bytes, and before reading
    anything when the declared Content-Length is already over it."""
    declared = response.length
    if declared is not None and declared > MAX_UPSTREAM_BODY:
        raise http1.TooLarge("declared over the cap")
    return await response.read(MAX_UPSTREAM_BODY)


async def _idle_limited(response: http1.Response, idle: float) -> AsyncIterator[bytes]:
    """The upstream stream as it arrives; a silence longer than `idle` ends it."""
    while True:
        with deadline(idle):  # asyncio.timeout's semantics, per chunk at less cost
            chunk = await response.read_some()
        if not chunk:
            return
        yield chunk


# What the built-in mock answers itself; Anthropic Messages reach it translated to chat.
MOCK_OPS = frozenset({Op.CHAT, Op.RESPONSES, Op.EMBEDDINGS})


async def _mock_stream(op: Op, body: bytes, ids: Ids) -> AsyncIterator[bytes]:
    request = msgspec.json.decode(body)
    if op is Op.RESPONSES:
        for name, data in mock_responses.respond_stream(request, request_id=ids.request_id,
                                                        created=ids.created):
            yield encode_event(msgspec.json.encode(data), event=name)
        return
    for chunk in mock.stream(request, request_id=ids.request_id, created=ids.created):
        yield b"data: " + msgspec.json.encode(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


def mock_attempt(op: Op, body: bytes, ids: Ids, streaming: bool) -> Full | Stream:
    """The built-in mock model's answer (no network); `op` is one of MOCK_OPS."""
    if streaming:
        return Stream(_mock_stream(op, body, ids), None)
    request = msgspec.json.decode(body)
    if op is Op.RESPONSES:
        answer = mock_responses.respond(request, request_id=ids.request_id,
                                        created=ids.created)
    elif op is Op.EMBEDDINGS:
        answer = mock_responses.embed(request)
    else:
        answer = mock.complete(request, request_id=ids.request_id, created=ids.created)
    return Full(200, msgspec.json.encode(answer), JSON, None)


def local_count(body: dict[str, Any]) -> Full:
    """Anthropic's count_tokens answered by the gateway, for a deployment whose API has no
    such endpoint (OpenAI-format ones, the mock): the estimate the limits reserve with."""
    return Full(200, msgspec.json.encode({"input_tokens": estimate_input(Op.COUNT_TOKENS,
                                                                         body)}), JSON, None)


async def http_attempt(pool: UpstreamPool, dep: Deployment, op: Op, body: bytes,
                       client_headers: Mapping[bytes, bytes], streaming: bool,
                       old_secret: bool = False) -> Full | Stream | Failure:
    provider = dep.provider
    assert provider is not None
    url = url_for(provider.wire, op, dep.model)
    secret = provider.previous_secret() if old_secret else provider.secret
    headers = headers_for(provider.wire, secret, client_headers)
    if streaming:
        headers["accept"] = "text/event-stream"
    response: http1.Response | None = None
    try:
        with deadline(dep.timeout):
            # Waiting for a pooled connection counts against the deployment's timeout.
            # A redirect is never followed (the client returns a 3xx as it is): the
            # provider's key and the prompt would go wherever Location points.
            response = await pool.client(provider.name, url).send("POST", headers, body, url)
            if streaming and response.status == 200:
                # Released at the end: the connection is kept only if the stream was
                # read to its end, dropped when the client left or the policy cut it.
                stream = Stream(_idle_limited(response, dep.timeout), response.release)
                response = None  # ownership passes to the stream
                return stream
            data = await _read_capped(response)
        status = response.status
        content_type = response.headers.get("content-type", "application/json").encode()
        retry_after = response.headers.get("retry-after")
        if status >= 300:
            # An upstream that echoes the request's headers in its error would hand the
            # client the gateway's own provider key: it never leaves, whatever the guards say.
            data = without_credentials(data, provider.secret, provider.previous_secret())
        if status in (401, 403):
            if not old_secret and provider.previous_secret() is not None:
                # Inside a rotation's grace period the provider may not know the new key
                # yet (or it was mistyped): the old one still serves until the grace ends.
                # Loudly: when the grace ends, this provider's requests start failing.
                provider.previous_used = time.time()
                quiet = _fallbacks.allow(provider.name, time.monotonic())
                if quiet is not None:
                    log.warning(
                        "provider %r rejected its current key (HTTP %d); the previous key "
                        "serves until %s, then requests to it will fail: check the new key%s",
                        provider.name, status, time.strftime(
                            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(provider.previous_until)),
                        f" ({quiet} more since the last such line)" if quiet else "")
                response.release()
                response = None
                return await http_attempt(pool, dep, op, body, client_headers, streaming, True)
            return Failure("credentials", status, message=(
                f"provider {provider.name!r} rejected the gateway's credentials "
                f"(HTTP {status}); check its secret"), body=data)
        if 300 <= status < 400:
            where = response.headers.get("location", "")
            log.warning("deployment %s answered HTTP %d redirecting to %s; not followed",
                        dep.id, status, host_of(where))
            return Failure("redirect", status, message=(
                f"deployment {dep.id} answered with a redirect (HTTP {status}), which the "
                "gateway never follows"))
        if status >= 400:
            wait = retry.parse_retry_after(retry_after, time.time())
            return Failure("status", status, wait, message=f"upstream answered HTTP {status}",
                           body=data)
        return Full(status, data, content_type, retry_after)
    except TimeoutError:
        return Failure("timeout", message=(
            f"deployment {dep.id} did not answer within {dep.timeout:g} s"))
    except http1.TooLarge:
        return Failure("connect", message=(
            f"deployment {dep.id} sent a response over {MAX_UPSTREAM_BODY} bytes"))
    except http1.ProtocolError as err:  # its text names no value of the answer
        return Failure("connect", message=(
            f"deployment {dep.id} gave no usable answer: {err}"))
    except http1.ConnectTimeout as err:  # its text: the timeout, nothing of the upstream's
        return Failure("connect", message=f"deployment {dep.id} unreachable ({err})")
    except OSError as err:
        return Failure("connect", message=(
            f"deployment {dep.id} unreachable ({type(err).__name__})"))
    finally:
        if response is not None:
            response.release()


def without_credentials(data: bytes, *secrets: Secret | None) -> bytes:
    """`data` with every credential of the provider replaced, as sent and as JSON-escaped."""
    for secret in secrets:
        value = secret.reveal() if secret is not None else ""
        if len(value) < 8:
            continue
        for form in {value, json.dumps(value)[1:-1]}:
            data = data.replace(form.encode(), b"[REDACTED]")
    return data


def host_of(location: str) -> str:
    """The host a redirect points to, for the log: never its path or query."""
    try:
        return urlsplit(location).netloc.rpartition("@")[2][:200] or "(relative)"
    except ValueError:
        return "(unreadable)"
