"""A small strict HTTP/1.1 client for the gateway's upstreams (providers and MCP servers):
kept-alive connections to one origin, one request at a time on each, bounded in number.

Why not aiohttp: a proxied call is one POST and its answer, and aiohttp's request
machinery cost about 0.2-0.3 ms of CPU per call on top of the exchange itself
(bench/mcp/README.md, measured in one process against the same upstream; for the
provider path, bench/README.md "2026-12-07: the provider upstream on the lean HTTP/1.1
client"). What this client leaves out on purpose: redirects (never followed: a 3xx comes
back as it is, and the gateway's credential must not reach another host), proxies (where
a request goes is gateway.toml's decision alone, whatever HTTP_PROXY the process
inherited), cookies (an upstream's are never kept or sent back), HTTP/2.

Compression: the caller decides whether to ask for it (the provider pool sends
`accept-encoding: gzip, deflate`, as aiohttp did; the MCP client asks for none); an
answer in gzip or zlib deflate is decoded whether asked for or not, in bounded pieces
(inflate.py), so a size cap counts decoded bytes and a zip bomb stops at it. Any other
coding is a ProtocolError.

An upstream is not trusted to be well-formed, so the framing is read strictly: a
Transfer-Encoding other than exactly `chunked`, a Content-Length that is not one decimal
number, and both together (RFC 9112 section 6.3, a request-smuggling pattern) are
errors; the status line, header lines, their number and chunk-size lines are bounded.
The headers that frame the request (content-length, transfer-encoding, connection) are
the client's own and refused from a caller; a caller's Host (lower-case `host`, e.g. a
provider's configured headers) replaces the URL's.

A connection goes back to the pool only when its answer was read to the end and neither
side asked to close; an answer closed early (a client that went away, a policy cut)
drops its connection. A request is never sent twice (a POST is not idempotent): an idle
connection is checked before use, and one the upstream closed (or that has bytes no
request asked for) is dropped and another taken, before any byte of the request is
written. A close that arrives after that check, while the request is on its way, is an
error for the caller (the upstream may have read the request); the provider path's
retry budget decides what then happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import select
import ssl
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from gateway_cli.net.chunked import Dechunker
from gateway_cli.net.connect import open_socket
from gateway_cli.net.errors import ConnectTimeout, ProtocolError, TooLarge
from gateway_cli.net.inflate import Inflater, inflater_for

__all__ = ["Client", "ConnectTimeout", "ProtocolError", "Response", "TooLarge"]

LINE_LIMIT = 16 * 1024  # one status, header or chunk-size line
HEAD_LIMIT = 64 * 1024  # the whole response head
MAX_HEADERS = 100
MAX_TRAILERS = 32
READ_SIZE = 65536
IDLE_KEPT = 15.0  # seconds an idle connection is kept (aiohttp's default keep-alive)
MAX_IDLE = 8
HEADS_KEPT = 64  # distinct request heads kept built (`Client._head`); then started anew
MAX_OPEN = 100  # connections to one upstream at once (aiohttp's default); more calls wait
# A host with IPv6 and IPv4 addresses: the next address is tried after this long rather
# than after the connect timeout (RFC 8305, as aiohttp did), so a dead route costs 0.25 s.
HAPPY_EYEBALLS = 0.25
_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LENGTH = re.compile(r"[0-9]{1,18}")
_FORBIDDEN = re.compile(r"[\r\n\x00]")
# RFC 9110 field values: visible characters, obs-text, space and tab. A bare CR, NUL or
# other control character in an answer's header is refused: its value may be handed to
# the client (content-type, retry-after) and to logs.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_OWN = frozenset({"content-length", "transfer-encoding", "connection"})


class _Conn:
    __slots__ = ("poller", "reader", "since", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.since = 0.0
        sock = writer.get_extra_info("socket")
        # Made once per connection (its socket's fd is fixed for the connection's life),
        # not once per reuse: `usable` runs before every request on a kept connection.
        self.poller: select.poll | None = None
        if sock is not None:
            self.poller = select.poll()
            self.poller.register(sock.fileno(), select.POLLIN)

    def usable(self, now: float, keep: float) -> bool:
        if self.reader.at_eof() or self.writer.is_closing() or now - self.since >= keep:
            return False
        if self.poller is None:
            return True
        # The event loop may not have read a FIN that already arrived. An idle connection
        # has nothing to read: anything readable (its end, or bytes no request asked
        # for) means it cannot carry the next request.
        return not self.poller.poll(0)


class Response:
    """An answer whose head was read. It holds its connection (and a pool slot) until
    `release()` or `close()`: the caller must call one of them (a response lost without
    either is closed when collected)."""

    def __init__(self, conn: _Conn, client: Client, status: int, headers: dict[str, str],
                 length: int | None, chunked: bool, keep_alive: bool,
                 inflate: Inflater | None) -> None:
        self.status = status
        self.headers = headers  # lower-case names; a repeated header's values joined by ", "
        self.length = length  # as declared (before decoding); None: chunked or until closed
        self._conn: _Conn | None = conn
        self._client = client
        self._dechunk = Dechunker(LINE_LIMIT, MAX_TRAILERS) if chunked else None
        self._left = length  # of a Content-Length body
        self._inflate = inflate
        self._pending: Iterator[bytes] | None = None  # decoded pieces of the last read
        self.keep_alive = keep_alive and (chunked or length is not None)
        self.done = length == 0

    async def read_some(self) -> bytes:
        """The next piece of the body as it arrives (dechunked, decoded), at most one
        socket read's worth; b"" at its end, and `done` from then on."""
        if self._pending is not None:
            piece = next(self._pending, None)
            if piece is not None:
                return piece
            self._pending = None
        while not self.done:
            raw = await self._framed()
            if raw is None:
                if self._inflate is not None:
                    self._inflate.finish()
                self.done = True
                break
            if self._inflate is None:
                return raw
            self._pending = self._inflate.feed(raw, READ_SIZE)
            piece = next(self._pending, None)
            if piece is not None:
                return piece
            self._pending = None
        return b""

    async def _framed(self) -> bytes | None:
        """What one socket read gives of the body (framing removed); None at its end."""
        assert self._conn is not None, "the response was released"
        reader = self._conn.reader
        dechunk = self._dechunk
        if dechunk is not None:
            while not dechunk.done:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise ProtocolError(dechunk.ended_early())
                data = dechunk.feed(data)
                if data:
                    return data
            if dechunk.extra:
                self.keep_alive = False
            return None
        left = self._left
        if left is not None:
            if not left:
                return None
            data = await reader.read(min(READ_SIZE, left))
            if not data:
                raise ProtocolError("the answer ended before its Content-Length")
            self._left = left - len(data)
            return data
        return await reader.read(READ_SIZE) or None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (dechunked, decoded); `done` once read to its end."""
        while data := await self.read_some():
            yield data

    async def read(self, limit: int) -> bytes:
        """The whole body; TooLarge past `limit` bytes (decoded)."""
        parts: list[bytes] = []
        size = 0
        while data := await self.read_some():
            size += len(data)
            if size > limit:
                raise TooLarge(f"the answer is over {limit} bytes")
            parts.append(data)
        return b"".join(parts)

    def release(self) -> None:
        """Done with the answer: the connection is kept if it was read to its end."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._give_back(conn, self.done and self.keep_alive)

    def close(self) -> None:
        """Done with the answer, read or not: the connection is dropped."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._client._give_back(conn, False)

    def __del__(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # the loop may be gone at exit
                self.close()


async def _until(reader: asyncio.StreamReader, separator: bytes) -> bytes:
    try:
        return await reader.readuntil(separator)
    except asyncio.LimitOverrunError:
        raise ProtocolError("a line of the answer is too long") from None
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed in the middle of the answer") from None


async def _line(reader: asyncio.StreamReader) -> bytes:
    return (await _until(reader, b"\r\n"))[:-2]


def _header(line: bytes, headers: dict[str, str]) -> None:
    name, sep, value = line.partition(b":")
    if not sep or not _TOKEN.fullmatch(name):
        raise ProtocolError("a header line of the answer is malformed")
    if _CONTROL.search(value):
        raise ProtocolError("a header value of the answer holds a control character")
    key = name.decode("ascii").lower()
    text = value.strip(b" \t").decode("latin-1")
    headers[key] = f"{headers[key]}, {text}" if key in headers else text


async def _header_lines(reader: asyncio.StreamReader, total: int) -> list[bytes] | None:
    """The header lines after a status line whose CR was read, from one read of the
    reader's buffer rather than a read per line (~10 awaits per answer); None when they
    are longer than the reader's limit (the caller then reads them line by line, so the
    per-line and whole-head limits apply as they always did).

    The head ends at the first LF CR LF after the status line's CR: only an empty line
    ends with it, and a bare CR or LF inside a line is refused by `_header` as before,
    since the lines are split at CRLF only, exactly where the line reader split them."""
    try:
        rest = await reader.readuntil(b"\n\r\n")
    except asyncio.LimitOverrunError:
        if await _until_one(reader) != b"\n":
            raise ProtocolError("the answer does not start with an HTTP/1.x status line") \
                from None
        return None
    except asyncio.IncompleteReadError as err:
        # What the line reader would have refused before the end is refused the same way.
        partial = err.partial
        if not partial.startswith(b"\n"):
            if b"\r\n" in partial:
                raise ProtocolError("the answer does not start with an HTTP/1.x status "
                                    "line") from None
        else:
            _check(partial[1:].split(b"\r\n")[:-1], total, {})
        raise ProtocolError("the connection closed in the middle of the answer") from None
    if rest[0] != 0x0A:  # a bare CR in the status line
        raise ProtocolError("the answer does not start with an HTTP/1.x status line")
    lines = rest[1:-2].split(b"\r\n")
    if not lines[-1]:
        lines.pop()  # after the last line's CRLF (a last line with a bare LF stays)
    return lines


def _check(lines: list[bytes], total: int, headers: dict[str, str]) -> int:
    """Header lines read at once, checked (and added to `headers`) in order, as the line
    reader checked them; the head's size so far."""
    for count, line in enumerate(lines):
        total += len(line) + 2
        if not line:  # cannot be here: an empty line ends the head
            raise ProtocolError("a header line of the answer is malformed")
        if count == MAX_HEADERS or total > HEAD_LIMIT:
            raise ProtocolError("the answer's head is too large")
        _header(line, headers)
    return total


async def _until_one(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readexactly(1)
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed in the middle of the answer") from None


async def read_head(reader: asyncio.StreamReader) -> tuple[bytes, int, dict[str, str]]:
    """The final answer's HTTP minor version, status and headers (lower-case names, a
    repeated header's values joined by ", "), interim 1xx answers skipped."""
    total = 0
    while True:
        # The status line is checked as soon as it is here (an upstream that is not
        # HTTP is refused at once), up to its CR; its LF starts the header block.
        status_line = (await _until(reader, b"\r"))[:-1]
        matched = _STATUS.fullmatch(status_line)
        if matched is None:
            raise ProtocolError("the answer does not start with an HTTP/1.x status line")
        minor, status = matched[1], int(matched[2])
        headers: dict[str, str] = {}
        lines = await _header_lines(reader, total)
        if lines is None:  # over the reader's limit in all: line by line, as it comes
            for count in range(MAX_HEADERS + 1):
                line = await _line(reader)
                total += len(line) + 2
                if not line:
                    break
                if count == MAX_HEADERS or total > HEAD_LIMIT:
                    raise ProtocolError("the answer's head is too large")
                _header(line, headers)
        else:
            total = _check(lines, total, headers) + 2
        if not 100 <= status < 200:
            break
        if status == 101:
            raise ProtocolError("the upstream switched protocols")
    return minor, status, headers


async def _read_head(conn: _Conn, client: Client, method: str) -> Response:
    """The status line and headers (interim 1xx answers skipped), framing checked."""
    minor, status, headers = await read_head(conn.reader)
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
    inflate = inflater_for(headers.get("content-encoding")) if length != 0 else None
    connection = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    keep_alive = minor == b"1" and "close" not in connection
    return Response(conn, client, status, headers, length, chunked, keep_alive, inflate)


class Client:
    """Connections to the origin of `url` (scheme, host, port); requests go to `url`'s
    path unless `send` is given another URL of the same origin.

    `max_open` caps the connections open at once, in use and idle together; a caller
    beyond it waits for one to come back (bound that wait with the caller's own timeout).
    `headers` are sent with every request unless the request names them itself."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0, max_open: int | None = None,
                 max_idle: int | None = None, keep_idle: float = IDLE_KEPT,
                 headers: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an upstream URL is http:// or https:// with a host")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = name if parts.port is None else f"{name}:{parts.port}"
        self.target = _target(parts.path, parts.query)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.connect_timeout = connect_timeout
        self.keep_idle = keep_idle
        self.max_open = MAX_OPEN if max_open is None else max_open
        self.max_idle = min(MAX_IDLE if max_idle is None else max_idle, self.max_open)
        self.idle: list[_Conn] = []
        self.closed = False
        self.slots = asyncio.Semaphore(self.max_open)
        self._targets: dict[str, str] = {url: self.target}
        # Heads checked and built, up to their content-length (`_head`); may hold a
        # credential, as the caller's own headers do for the client's life.
        self._heads: dict[tuple[object, ...], bytes] = {}
        self._fixed = [(name.lower(), value) for name, value in (headers or {}).items()]
        _lines(self._fixed)  # checked once, here

    def target_of(self, url: str) -> str:
        """`url`'s request target; ValueError if it is not this client's origin."""
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            if (parts.scheme, parts.hostname, parts.port or (
                    443 if parts.scheme == "https" else 80)) != (
                    self.scheme, self.host, self.port):
                raise ValueError("the URL is not this client's origin")
            target = _target(parts.path, parts.query)
            if len(self._targets) < 1024:
                self._targets[url] = target
        return target

    def _head(self, method: str, target: str, headers: Mapping[str, str], size: int) -> bytes:
        # A caller sends the same headers again and again (an MCP session's: its
        # credential, session id and protocol version): the head up to its length is a
        # pure function of them, checked and built once. Any header that differs in any
        # byte is another key, checked anew.
        key = (method, target, *headers.items())
        start = self._heads.get(key)
        if start is None:
            start = self._head_start(method, target, headers)
            if len(self._heads) >= HEADS_KEPT:
                self._heads.clear()
            self._heads[key] = start
        return start + b"content-length: %d\r\n\r\n" % size

    def _head_start(self, method: str, target: str, headers: Mapping[str, str]) -> bytes:
        lines = [f"{method} {target} HTTP/1.1"]
        if "host" not in headers:  # a configured Host (a virtual host behind a proxy) wins
            lines.append(f"host: {self.authority}")
        lines += _lines(headers.items())
        lines += [f"{name}: {value}" for name, value in self._fixed if name not in headers]
        try:
            return ("\r\n".join(lines) + "\r\n").encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError("a header value is not Latin-1 text") from None

    async def _connection(self) -> _Conn:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.usable(now, self.keep_idle):
                return conn
            conn.writer.close()
        try:
            async with asyncio.timeout(self.connect_timeout):
                sock = await open_socket(self.host, self.port, HAPPY_EYEBALLS)
                # From here the transport owns the socket and closes it on any failure.
                reader, writer = await asyncio.open_connection(
                    sock=sock, ssl=self.tls,
                    server_hostname=self.host if self.tls is not None else None,
                    limit=LINE_LIMIT)
        except TimeoutError:  # this timeout's own (a caller's would be a CancelledError)
            raise ConnectTimeout(f"no connection within {self.connect_timeout:g} s") from None
        return _Conn(reader, writer)

    async def send(self, method: str, headers: Mapping[str, str], body: bytes = b"",
                   url: str | None = None) -> Response:
        """Send one request and read the answer's head. The Response holds the connection
        and its slot until released or closed."""
        head = self._head(method, self.target if url is None else self.target_of(url),
                          headers, len(body))
        await self.slots.acquire()
        conn: _Conn | None = None
        try:
            conn = await self._connection()
            conn.writer.write(head + body)
            await conn.writer.drain()
            return await _read_head(conn, self, method)
        except BaseException:
            if conn is not None:
                conn.writer.close()
            self.slots.release()
            raise

    @contextlib.asynccontextmanager
    async def request(self, method: str, headers: Mapping[str, str], body: bytes = b""
                      ) -> AsyncIterator[Response]:
        """One exchange; the connection is kept for the next one only if the caller read
        the answer to its end."""
        response = await self.send(method, headers, body)
        try:
            yield response
        finally:
            response.release()

    def _give_back(self, conn: _Conn, reusable: bool) -> None:
        if reusable and not self.closed and len(self.idle) < self.max_idle:
            conn.since = time.monotonic()
            self.idle.append(conn)
        else:
            conn.writer.close()
        self.slots.release()

    async def close(self) -> None:
        """Close the idle connections; those in use close when their answer is released."""
        self.closed = True
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.writer.close()
        for conn in idle:
            with contextlib.suppress(Exception):
                await conn.writer.wait_closed()


def _target(path: str, query: str) -> str:
    return (path or "/") + (f"?{query}" if query else "")


def _lines(headers: Iterable[tuple[str, str]]) -> list[str]:
    """`name: value` lines; ValueError for what could split a header or frame the
    request (the message names the header, never its value)."""
    lines = []
    for name, value in headers:
        if _FORBIDDEN.search(value) or not _TOKEN.fullmatch(name.encode("latin-1")):
            raise ValueError(f"header {name!r} cannot be sent (a line break or NUL in "
                             "its value, or a bad name)")
        if name.lower() in _OWN:
            raise ValueError(f"header {name!r} is set by the client itself")
        lines.append(f"{name}: {value}")
    return lines
