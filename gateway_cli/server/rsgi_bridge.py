"""The gateway's ASGI app served over Granian's RSGI interface.

Granian's ASGI `send` hands each response message to its Rust threads and
resumes the request's task only after a round trip through the event loop's
self-pipe: about 0.1 ms of latency per response on this path, plus the CPU of
building and reading a dict per message (bench/README.md, "RSGI"). Over RSGI
a whole response is handed over in one synchronous call (`response_bytes`)
and the headers need no dict. The app itself stays ASGI (the front door,
the handlers, Litestar and every in-process test speak it); this module is
the only place that knows RSGI.

What differs from Granian's ASGI scope, and why it is safe:

- No `raw_path`. RSGI hands over the path percent-decoded once, without the
  spelling the client sent, so the front door sees `/v1/chat%2Fcompletions`
  as `/v1/chat/completions` and serves it as that path, with every check
  that path has. Spellings that decode to anything else (`//v1/...`,
  `/%2Fv1/...`, dot segments, other case, a trailing `%00`) are still not
  one of the gateway's paths and get 404 (SECURITY.md, "One front door").
- Header values that are not visible ASCII are left out by Granian (they
  cannot be read as text). No header the gateway reads may carry such bytes
  (keys, model names, content types are ASCII), so a request that relied on
  one is refused as if it had left the header out.
- A response header the server cannot send (a name that is not a token, a
  value with a control character) is dropped by Granian instead of sent,
  and a value byte outside ASCII leaves as its UTF-8 form (headers cross as
  text). The answer path already refuses upstream headers with control
  characters; the gateway's own headers are ASCII.
"""

from __future__ import annotations

from typing import Any

from granian._granian import RSGIProtocolClosed as ProtocolClosed

_ASGI = {"version": "3.0", "spec_version": "2.3"}


def _address(text: str) -> tuple[str, str]:
    """`host:port` (IPv6 as `[::1]:port`) as Granian's ASGI scope gives it: host without
    brackets, port as text."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _body_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The body's declared length (0 when none is announced), or None when only the
    server's last part says where it ends: chunked, or a Content-Length repeated or not
    a plain number (the server decides about those)."""
    length: int | None = None
    for name, value in headers:
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            if length is not None or not value.isdigit():
                return None
            length = int(value)
    return 0 if length is None else length


class _Exchange:
    """One request's `receive` and `send`, over its RSGI protocol object."""

    __slots__ = (
        "_body",
        "_closed",
        "_headers",
        "_left",
        "_proto",
        "_status",
        "_stream",
        "done",
    )

    def __init__(self, proto: Any, left: int | None) -> None:
        self._proto = proto
        # The body's bytes still to come (None: until its end, chunked); -1 once its end
        # was reported. A body read to its declared length ends there, without the extra
        # hop to Granian's threads for the empty part that closes it.
        self._left = left
        self._body: Any = None
        self._status = 500
        self._headers: list[tuple[str, str]] = []
        self._stream: Any = None
        self._closed = False
        self.done = False

    async def receive(self) -> dict[str, Any]:
        left = self._left
        if left == -1:
            # The body is over: what is left to learn is when the client goes.
            await self._proto.client_disconnect()
            return {"type": "http.disconnect"}
        if left == 0:
            self._left = -1
            return {"type": "http.request", "body": b"", "more_body": False}
        if self._body is None:
            self._body = self._proto.__aiter__()
        try:
            chunk = await self._body.__anext__()
        except StopAsyncIteration:
            chunk = b""
        if not chunk:  # Granian ends a body with an empty chunk
            self._left = -1
            return {"type": "http.request", "body": b"", "more_body": False}
        if left is not None:
            left -= len(chunk)
            if left <= 0:
                self._left = -1
                return {"type": "http.request", "body": chunk, "more_body": False}
            self._left = left
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._status = message["status"]
            self._headers = [(name.decode("latin-1"), value.decode("latin-1"))
                             for name, value in message.get("headers", ())]
            return
        if kind != "http.response.body" or self.done:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for this response")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self._stream is None:
            if not more:
                self.done = True
                self._proto.response_bytes(self._status, self._headers, body)
                return
            self._stream = self._proto.response_stream(self._status, self._headers)
        if not more:
            self.done = True
        if body and not self._closed:
            try:
                await self._stream.send_bytes(body)
            except ProtocolClosed:
                # The client left. Granian's ASGI send drops what follows without a
                # word; the handlers learn of it from `receive` (http.disconnect).
                self._closed = True


class RsgiBridge:
    """An RSGI application that runs an ASGI one."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, proto: Any) -> None:
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in scope.headers.items()]
        version = scope.http_version
        asgi_scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "method": scope.method,
            "scheme": scope.scheme,
            "path": scope.path,
            "query_string": scope.query_string.encode("latin-1"),
            "root_path": "",
            "headers": headers,
            "client": _address(scope.client),
            "server": _address(scope.server),
            "state": {},
            "extensions": {},
        }
        length = _body_length(headers)
        if length == 0 and version.startswith("2"):
            length = None  # HTTP/2 carries a body in frames no header needs to announce
        exchange = _Exchange(proto, length)
        await self.app(asgi_scope, exchange.receive, exchange.send)
