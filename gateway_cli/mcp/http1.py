"""A small HTTP/1.1 client for one Streamable HTTP MCP upstream: kept-alive connections,
one request at a time on each, an answer read to its end.

Why not aiohttp here: an MCP call through the gateway is one small POST and a small
answer, and aiohttp's request machinery cost about 0.2-0.3 ms of CPU per call on top of
the exchange itself (bench/mcp/README.md, measured in one process against the same
upstream), a large part of the latency the gateway adds. What this client leaves out on
purpose: redirects (never followed: the gateway's credential must not reach another
host), proxies (where a request goes is gateway.toml's decision alone), cookies (an
upstream's are never kept or sent back), compression (no Accept-Encoding is sent, so
none comes back), HTTP/2.

An upstream is not trusted to be well-formed, so the framing is read strictly: a
Transfer-Encoding other than exactly `chunked`, a Content-Length that is not one decimal
number, and both together (RFC 9112 section 6.3, a request-smuggling pattern) are
errors; the status line, header lines, their number and chunk-size lines are bounded. A
connection goes back to the pool only when its answer was read to the end and neither
side asked to close; a request is never sent twice (a POST is not idempotent), so an
idle connection the server closed is dropped before use when its end was already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

LINE_LIMIT = 16 * 1024  # one status, header or chunk-size line
HEAD_LIMIT = 64 * 1024  # the whole response head
MAX_HEADERS = 100
MAX_TRAILERS = 32
READ_SIZE = 65536
IDLE_KEPT = 15.0  # seconds an idle connection is kept (aiohttp's default keep-alive)
MAX_IDLE = 8
MAX_OPEN = 100  # connections to one upstream at once (aiohttp's default); more calls wait
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK = re.compile(rb"[0-9A-Fa-f]{1,15}")
_LENGTH = re.compile(r"[0-9]{1,18}")
_FORBIDDEN = re.compile(r"[\r\n\x00]")


class ProtocolError(Exception):
    """The upstream's answer is not well-formed HTTP/1.1 (the message names no value)."""


class _Conn:
    __slots__ = ("reader", "since", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.since = 0.0

    def usable(self, now: float) -> bool:
        return (not self.reader.at_eof() and not self.writer.is_closing()
                and now - self.since < IDLE_KEPT)


class Response:
    def __init__(self, reader: asyncio.StreamReader, status: int, headers: dict[str, str],
                 length: int | None, chunked: bool, keep_alive: bool) -> None:
        self.status = status
        self.headers = headers  # lower-case names; a repeated header's values joined by ", "
        self._reader = reader
        self._length = length  # None: chunked, or until the connection closes
        self._chunked = chunked
        self.keep_alive = keep_alive and (chunked or length is not None)
        self.done = length == 0

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (dechunked); `done` once it was read to its end."""
        if self.done:
            return
        reader = self._reader
        if self._chunked:
            async for data in _dechunk(reader):
                yield data
        elif self._length is not None:
            left = self._length
            while left:
                data = await reader.read(min(READ_SIZE, left))
                if not data:
                    raise ProtocolError("the answer ended before its Content-Length")
                left -= len(data)
                yield data
        else:
            while data := await reader.read(READ_SIZE):
                yield data
        self.done = True

    async def read(self, limit: int) -> bytes:
        """The whole body; ProtocolError past `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        async for data in self.chunks():
            size += len(data)
            if size > limit:
                raise ProtocolError(f"the answer is over {limit} bytes")
            parts.append(data)
        return b"".join(parts)


async def _line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise ProtocolError("a line of the answer is too long") from None
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed in the middle of the answer") from None
    return line[:-2]


async def _dechunk(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while True:
        size_line = (await _line(reader)).split(b";", 1)[0].strip(b" \t")
        if not _CHUNK.fullmatch(size_line):
            raise ProtocolError("a chunk size is not a hex number")
        size = int(size_line, 16)
        if size == 0:
            for _ in range(MAX_TRAILERS + 1):
                if not await _line(reader):
                    return
            raise ProtocolError("too many trailer lines")
        try:
            while size:  # in pieces: a chunk's size is the upstream's to claim
                data = await reader.readexactly(min(size, READ_SIZE))
                size -= len(data)
                yield data
            end = await reader.readexactly(2)
        except asyncio.IncompleteReadError:
            raise ProtocolError("the connection closed in the middle of a chunk") from None
        if end != b"\r\n":
            raise ProtocolError("a chunk does not end with CRLF")


async def read_head(reader: asyncio.StreamReader, method: str) -> Response:
    """The status line and headers (interim 1xx answers skipped), framing checked."""
    total = 0
    while True:
        status_line = await _line(reader)
        matched = _STATUS.fullmatch(status_line)
        if matched is None:
            raise ProtocolError("the answer does not start with an HTTP/1.x status line")
        minor, status = matched[1], int(matched[2])
        headers: dict[str, str] = {}
        for count in range(MAX_HEADERS + 1):
            line = await _line(reader)
            total += len(line) + 2
            if not line:
                break
            if count == MAX_HEADERS or total > HEAD_LIMIT:
                raise ProtocolError("the answer's head is too large")
            name, sep, value = line.partition(b":")
            if not sep or not _TOKEN.fullmatch(name):
                raise ProtocolError("a header line of the answer is malformed")
            key = name.decode("ascii").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if not 100 <= status < 200:
            break
        if status == 101:
            raise ProtocolError("the upstream switched protocols")
    encoding = headers.get("transfer-encoding")
    length_text = headers.get("content-length")
    if encoding is not None and length_text is not None:
        raise ProtocolError("the answer has both Transfer-Encoding and Content-Length")
    chunked = False
    length: int | None = None
    if method == "HEAD" or status in (204, 304):
        length = 0
    elif encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise ProtocolError("the answer's Transfer-Encoding is not chunked")
        chunked = True
    elif length_text is not None:
        if not _LENGTH.fullmatch(length_text):
            raise ProtocolError("the answer's Content-Length is not one number")
        length = int(length_text)
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = minor == b"1" and "close" not in connection
    return Response(reader, status, headers, length, chunked, keep_alive)


class Client:
    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an MCP upstream URL is http:// or https:// with a host")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = name if parts.port is None else f"{name}:{parts.port}"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.idle: list[_Conn] = []
        self.closed = False
        self.slots = asyncio.Semaphore(MAX_OPEN)

    def _head(self, method: str, headers: dict[str, str], size: int) -> bytes:
        lines = [f"{method} {self.target} HTTP/1.1", f"host: {self.authority}"]
        for name, value in headers.items():
            if _FORBIDDEN.search(value) or not _TOKEN.fullmatch(name.encode("latin-1")):
                raise ValueError(f"header {name!r} cannot be sent (a line break or NUL in "
                                 "its value, or a bad name)")
            lines.append(f"{name}: {value}")
        lines.append(f"content-length: {size}")
        try:
            return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("a header value is not Latin-1 text") from None

    async def _connection(self) -> _Conn:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.usable(now):
                return conn
            conn.writer.close()
        async with asyncio.timeout(self.connect_timeout):
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.tls,
                server_hostname=self.host if self.tls is not None else None,
                limit=LINE_LIMIT)
        return _Conn(reader, writer)

    @contextlib.asynccontextmanager
    async def request(self, method: str, headers: dict[str, str], body: bytes = b""
                      ) -> AsyncIterator[Response]:
        """One exchange; the connection is kept for the next one only if the caller read
        the answer to its end."""
        head = self._head(method, headers, len(body))
        async with self.slots:
            conn = await self._connection()
            response: Response | None = None
            try:
                conn.writer.write(head + body)
                await conn.writer.drain()
                response = await read_head(conn.reader, method)
                yield response
            finally:
                if response is not None and response.done and response.keep_alive \
                        and not self.closed and len(self.idle) < MAX_IDLE:
                    conn.since = time.monotonic()
                    self.idle.append(conn)
                else:
                    conn.writer.close()

    async def close(self) -> None:
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.writer.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()
