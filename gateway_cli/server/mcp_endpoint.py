"""The MCP endpoint: Streamable HTTP (MCP 2025-11-25) at /mcp and /mcp/NAME.

Reached only through the front door (front.py), so the Host and Origin
checks, authentication to a Principal and the request's Trace have happened
before anything here runs. Per HTTP request:

- POST carries exactly one JSON-RPC message (application/json, within
  `[mcp] max_message_bytes`). `initialize` opens a session and answers with
  `Mcp-Session-Id`; every other message must name a live session of the
  same principal (400 without one, 404 for an unknown or ended one, as the
  spec asks so clients start over). Notifications and responses get 202.
  A request is answered with JSON, or with an SSE stream once the upstream
  sends something before its answer (progress, a request for the client).
- DELETE ends the session (under `--workers`, on every worker: mcp_peers.py,
  which also carries a cancel or an answer to the worker that holds its
  target). GET opens the session's one standalone SSE stream,
  which carries the list_changed notifications of the servers it shows (a
  second one is 409); it ends with the session or the client.

Nothing a client sends can raise out of here: any failure is a JSON-RPC
error or a clean end of the stream, and no traceback reaches a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import msgspec
from litestar.types import Receive, Scope, Send

from gateway_cli.errors import GatewayError
from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal
from gateway_cli.mcp import jsonrpc
from gateway_cli.mcp.relay import SUPPORTED_VERSIONS, Relay
from gateway_cli.mcp.sessions import Session, Sessions
from gateway_cli.request.trace import TRACE, Trace
from gateway_cli.server import asgi_io, gate
from gateway_cli.server.mcp_peers import Peers, passes_on
from gateway_cli.server.proxy import AsgiHandler

log = logging.getLogger("gateway.mcp")
_encode = msgspec.json.Encoder().encode
SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
PRINCIPAL = "gateway.principal"
KEEPALIVE = 15.0  # seconds between SSE comments on an idle stream


async def _json(send: Send, status: int, body: dict[str, Any] | None,
                headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await asgi_io.send_response(send, status, _encode(body) if body is not None else b"",
                                headers=headers or [])


class Answer:
    """One POST's answer: JSON unless something must be streamed before it."""

    def __init__(self, send: Send, headers: list[tuple[bytes, bytes]]) -> None:
        self.send = send
        self.headers = headers
        self.streaming = False
        self.gone = False

    async def emit(self, message: dict[str, Any]) -> None:
        if self.gone:
            return
        try:
            if not self.streaming:
                self.streaming = True
                await asgi_io.start_sse(self.send, self.headers)
            await asgi_io.send_chunk(self.send, b"event: message\ndata: " + _encode(message)
                                     + b"\n\n")
        except Exception:  # the client left: the call goes on, its answer is dropped
            self.gone = True

    async def finish(self, message: dict[str, Any]) -> None:
        if self.gone:
            return
        if self.streaming:
            await self.emit(message)
            with contextlib.suppress(Exception):
                await asgi_io.end_stream(self.send)
        else:
            await _json(self.send, 200, message, self.headers)


def make_handler(relay: Relay, sessions: Sessions, server: str | None,
                 limit: Callable[[], int], peers: Peers | None = None) -> AsgiHandler:
    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        trace = cast(Trace, scope[TRACE])  # type: ignore[literal-required]
        principal = cast(Principal, scope[PRINCIPAL])  # type: ignore[literal-required]
        try:
            await _serve(relay, sessions, server, limit(), scope, receive, send, trace,
                         principal, peers)
        except asgi_io.ClientGone:
            trace.error = "client_gone"
        except HttpError as err:
            trace.error = err.code
            await _json(send, err.status, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                                        err.message))
        except Exception:
            log.exception("MCP request %s failed", trace.request_id)
            trace.error = "internal"
            with contextlib.suppress(Exception):
                await _json(send, 500, jsonrpc.error(None, jsonrpc.INTERNAL_ERROR,
                                                     "internal error; request id "
                                                     f"{trace.request_id}"))

    return handler


async def _serve(relay: Relay, sessions: Sessions, server: str | None, limit: int,
                 scope: Scope, receive: Receive, send: Send, trace: Trace,
                 principal: Principal, peers: Peers | None = None) -> None:
    method = scope.get("method", "")
    sid_raw = asgi_io.header(scope, SESSION_HEADER)
    sid = sid_raw.decode("latin-1") if sid_raw is not None else None
    if method == "DELETE":
        session = sessions.get(sid, principal.id, server) if sid else None
        if session is None:
            trace.error = "mcp_unknown_session"
            await _json(send, 404, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                                 "no such session"))
            return
        sessions.end(session.id)
        if peers is not None:  # every worker that took it up ends it too
            await peers.ended(session.id, principal.id, server)
        await _json(send, 200, None)
        return
    if method == "GET":
        await _stream(sessions, server, scope, receive, send, trace, principal, sid)
        return
    if method != "POST":
        trace.error = "method_not_allowed"
        await _json(send, 405, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             "use POST (one JSON-RPC message), GET (the "
                                             "session's stream) or DELETE"),
                    [(b"allow", b"GET, POST, DELETE")])
        return
    if not gate.is_json(asgi_io.header(scope, b"content-type")):
        trace.error = "unsupported_media_type"
        await _json(send, 415, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             "send the message as application/json"))
        return
    version = asgi_io.header(scope, VERSION_HEADER)
    if version is not None and version.decode("latin-1") not in SUPPORTED_VERSIONS:
        trace.error = "mcp_bad_version"
        await _json(send, 400, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             "unsupported MCP-Protocol-Version; this gateway "
                                             f"speaks {', '.join(SUPPORTED_VERSIONS)}"))
        return
    try:
        raw = await asgi_io.read_body(scope, receive, limit, 60.0)
    except HttpError as err:
        trace.error = err.code
        await _json(send, err.status, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                                     err.message))
        return
    parsed = jsonrpc.parse(raw)
    if isinstance(parsed, jsonrpc.Problem):
        trace.error = "mcp_invalid_message"
        await _json(send, 400, parsed.answer())
        return
    if parsed.method == "initialize" and parsed.kind == "request":
        await _initialize(relay, sessions, server, parsed, send, trace, principal, sid)
        return
    if sid is None:
        trace.error = "mcp_no_session"
        await _json(send, 400, jsonrpc.error(parsed.id, jsonrpc.INVALID_REQUEST,
                                             "no Mcp-Session-Id: send initialize first"))
        return
    session = sessions.get(sid, principal.id, server)
    if session is None:
        trace.error = "mcp_unknown_session"
        await _json(send, 404, jsonrpc.error(parsed.id, jsonrpc.INVALID_REQUEST,
                                             "unknown or ended session: initialize again"))
        return
    if parsed.kind != "request":
        if not await relay.client_message(session, parsed) and peers is not None \
                and passes_on(parsed):
            await peers.message(session.id, principal.id, server, parsed)
        await _json(send, 202, None)
        return
    await _request(relay, session, parsed, send, trace, principal)


async def _stream(sessions: Sessions, server: str | None, scope: Scope, receive: Receive,
                  send: Send, trace: Trace, principal: Principal, sid: str | None) -> None:
    trace.op = "stream"
    accept = asgi_io.header(scope, b"accept") or b""
    if b"text/event-stream" not in accept:
        trace.error = "not_acceptable"
        await _json(send, 406, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             "GET opens an SSE stream: accept "
                                             "text/event-stream"))
        return
    session = sessions.get(sid, principal.id, server) if sid else None
    if session is None:
        trace.error = "mcp_unknown_session"
        await _json(send, 404 if sid else 400, jsonrpc.error(
            None, jsonrpc.INVALID_REQUEST, "unknown or missing session: initialize first"))
        return
    if session.stream is not None:
        trace.error = "mcp_stream_open"
        await _json(send, 409, jsonrpc.error(None, jsonrpc.INVALID_REQUEST,
                                             "this session's stream is already open"))
        return
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    session.stream = queue
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asgi_io.start_sse(send)
        await asgi_io.send_chunk(send, b": stream open\n\n")
        while True:
            item = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({item, gone}, timeout=KEEPALIVE,
                                         return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                item.cancel()
                break
            if item not in done:
                item.cancel()
                await asgi_io.send_chunk(send, b": keep-alive\n\n")
                continue
            message = item.result()
            if message is None:
                break
            await asgi_io.send_chunk(send, b"event: message\ndata: " + _encode(message)
                                     + b"\n\n")
        with contextlib.suppress(Exception):
            await asgi_io.end_stream(send)
    except Exception:  # the client left while we wrote
        trace.error = "client_gone"
    finally:
        gone.cancel()
        if session.stream is queue:
            session.stream = None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        continue


async def _initialize(relay: Relay, sessions: Sessions, server: str | None,
                      message: jsonrpc.Message, send: Send, trace: Trace,
                      principal: Principal, sid: str | None) -> None:
    trace.op = "initialize"
    if sid is not None:
        trace.error = "mcp_invalid_message"
        await _json(send, 400, jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST,
                                             "initialize opens a session: send it without "
                                             "Mcp-Session-Id"))
        return
    result = relay.initialize(message.params, server)
    session = sessions.open(principal.id, server, result["protocolVersion"])
    if session is None:
        trace.error = "mcp_too_many_sessions"
        await _json(send, 503, jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR,
                                             "too many MCP sessions; retry later"),
                    [(b"retry-after", b"5")])
        return
    await _json(send, 200, jsonrpc.result(message.id, result),
                [(SESSION_HEADER, session.id.encode())])


async def _request(relay: Relay, session: Session, message: jsonrpc.Message, send: Send,
                   trace: Trace, principal: Principal) -> None:
    assert message.id is not None
    if not session.initialized and message.method != "ping":
        trace.error = "mcp_not_initialized"
        await _json(send, 200, jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST,
                                             "send notifications/initialized first"))
        return
    if message.id in session.inflight:
        trace.error = "mcp_id_in_use"
        await _json(send, 200, jsonrpc.error(message.id, jsonrpc.INVALID_REQUEST,
                                             "this request id is already in flight in this "
                                             "session"))
        return
    answer = Answer(send, [])
    own = _cancellable()
    if own is None:  # no task of our own to cancel: serve the call in one
        session.inflight[message.id] = (None, None, None)
        task = asyncio.ensure_future(relay.handle(session, message, principal, trace,
                                                  answer.emit))
        session.inflight[message.id] = (None, None, task)
        serving: Awaitable[dict[str, Any]] = task
    else:
        # In the request's own task (Granian runs each request in one): a task per call
        # cost two more turns of the event loop. A cancel (notifications/cancelled, the
        # session's end) cancels this task while the call is in flight, and nothing
        # after the `finally` below awaits before the answer is handed over.
        session.inflight[message.id] = (None, None, own)
        serving = relay.handle(session, message, principal, trace, answer.emit)
    try:
        reply = await serving
    except asyncio.CancelledError:
        if own is not None:
            own.uncancel()  # the cancel was ours to take; the answer still goes out
        trace.error = "mcp_cancelled"
        reply = jsonrpc.error(message.id, -32800, "request cancelled")
    except GatewayError as err:
        trace.error = "mcp_error"
        reply = jsonrpc.error(message.id, jsonrpc.INTERNAL_ERROR, str(err)[:300])
    finally:
        session.inflight.pop(message.id, None)
    await answer.finish(reply)


def _cancellable() -> asyncio.Task[Any] | None:
    """The task serving this request, when cancelling it interrupts the call: a plain
    asyncio task (Granian's default task implementation, and any test client's), not a
    scheduler's stand-in whose `cancel` does nothing."""
    task = asyncio.current_task()
    if task is None or type(task).cancel is not asyncio.Task.cancel:
        return None
    return task
