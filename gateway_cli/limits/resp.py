"""A small asyncio Redis client (RESP2), on the standard library alone.

Why not a client library: none is in the lock, and every dependency is
attack surface that runs inside the process holding the provider keys. The
gateway needs a handful of commands (EVALSHA/EVAL, MGET, PUBLISH, SUBSCRIBE,
AUTH, SELECT, PING), which take a few hundred lines to speak correctly.

What it does:

* one TCP connection per client, opened on first use, with AUTH and SELECT
  sent in one pipelined write; a dedicated connection per subscription;
* pipelining: a call writes all its commands at once, and calls from many
  tasks share the connection, their replies matched to them in order
  (Redis answers each connection in order), so a cancelled caller cannot
  leave a reply behind for the next one;
* a connect timeout and a per-call timeout. Any connection error, timeout or
  malformed reply drops the connection and raises RedisUnavailable (a
  StoreUnavailable); the next call reconnects, but no sooner than
  `retry_after` seconds after a failed connect, so an unreachable server
  costs one connect attempt per interval rather than one per request;
* replies: simple strings (str), errors (ReplyError, returned inside a
  pipeline, raised by `execute`), integers, bulk strings (bytes, or None),
  arrays (list, or None). Sizes and nesting are bounded;
* scripts by SHA1 with EVALSHA, falling back to EVAL (which also loads the
  script) when the server answers NOSCRIPT, e.g. after a restart;
* PUBLISH, and `subscribe`: an async iterator of messages that reconnects and
  resubscribes by itself, and says so (`Subscribed(resumed=True)`: messages
  published meanwhile were missed), pinging an idle connection to notice a
  dead one.

The password is held only to send AUTH: it is never logged, never put in an
exception or a repr (a server error answering AUTH is reduced to its code).
No TLS: the server is expected on loopback or a private network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union, cast
from urllib.parse import unquote, urlsplit

from gateway_cli.limits.model import StoreUnavailable

Arg = bytes | str | int | float
Reply = Union[None, int, bytes, str, list["Reply"], "ReplyError"]

MAX_BULK = 16 * 1024 * 1024  # bytes in one bulk string
MAX_ARRAY = 1024 * 1024  # elements in one array
MAX_DEPTH = 8  # arrays within arrays
MAX_LINE = 64 * 1024  # a header line (type byte, number or simple string)
_INTEGER = re.compile(rb"-?[0-9]{1,19}")


class RedisUnavailable(StoreUnavailable):
    """The server cannot be reached, did not answer in time, or answered nonsense."""


class ReplyError(Exception):
    """An error reply from the server (`-ERR ...`, `-NOSCRIPT ...`)."""

    @property
    def code(self) -> str:
        return str(self).split(" ", 1)[0]


class ProtocolError(Exception):
    """A reply that is not RESP2, or exceeds the bounds above."""


class _Incomplete(Exception):
    """The buffer ends before the reply does: wait for more bytes."""


def _encode_arg(arg: Arg) -> bytes:
    if type(arg) is str:  # the common case first: keys, script hashes
        return arg.encode()
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        raise TypeError("a redis argument cannot be a bool")
    if isinstance(arg, int):
        return str(arg).encode()
    if not math.isfinite(arg):
        raise ValueError("a redis argument must be a finite number")
    return repr(arg).encode()


def encode(command: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(command)]
    for arg in command:
        data = _encode_arg(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _integer(line: bytes) -> int:
    if not _INTEGER.fullmatch(line):
        raise ProtocolError("malformed integer in reply")
    return int(line)


def parse(buf: bytes | bytearray, pos: int = 0, depth: int = 0) -> tuple[Reply, int]:
    """The reply starting at `pos` and the position after it; _Incomplete if it is not all there."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        if len(buf) - pos > MAX_LINE:
            raise ProtocolError("reply line too long")
        raise _Incomplete
    if end == pos:
        raise ProtocolError("empty reply line")
    if end - pos > MAX_LINE:
        raise ProtocolError("reply line too long")
    kind = buf[pos]
    line = bytes(buf[pos + 1:end])
    after = end + 2
    if kind == 0x2B:  # + simple string
        return line.decode("utf-8", "replace"), after
    if kind == 0x2D:  # - error
        return ReplyError(line.decode("utf-8", "replace")), after
    if kind == 0x3A:  # : integer
        return _integer(line), after
    if kind == 0x24:  # $ bulk string
        n = _integer(line)
        if n == -1:
            return None, after
        if not 0 <= n <= MAX_BULK:
            raise ProtocolError("bulk string length out of bounds")
        if len(buf) < after + n + 2:
            raise _Incomplete
        if buf[after + n:after + n + 2] != b"\r\n":
            raise ProtocolError("bulk string not terminated")
        return bytes(buf[after:after + n]), after + n + 2
    if kind == 0x2A:  # * array
        n = _integer(line)
        if n == -1:
            return None, after
        if not 0 <= n <= MAX_ARRAY:
            raise ProtocolError("array length out of bounds")
        if depth >= MAX_DEPTH:
            raise ProtocolError("arrays nested too deep")
        items: list[Reply] = []
        for _ in range(n):
            item, after = parse(buf, after, depth + 1)
            items.append(item)
        return items, after
    raise ProtocolError("unknown reply type")


@dataclass(frozen=True)
class Script:
    """A Lua script, run by its SHA1 once the server has it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


@dataclass(frozen=True)
class Address:
    """Where a server is, from a `redis://[[user]:password@]host[:port][/db]` URL."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_url(url: str) -> Address:
    """The parts of a redis:// URL. Errors never repeat the URL: it may hold a password."""
    shape = "expected redis://[:password@]host[:port][/db]"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"redis URL: {shape}") from None
    if parts.scheme != "redis":
        raise ValueError(f"redis URL: {shape} (other schemes, e.g. rediss://, are not supported)")
    if not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"redis URL: {shape}")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"redis URL: {shape}; the database is a number")
    return Address(
        host=parts.hostname, port=port or 6379, db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None)


class _Batch:
    __slots__ = ("deadline", "future", "replies", "want")

    def __init__(self, future: asyncio.Future[list[Reply]], want: int, deadline: float) -> None:
        self.future = future
        self.replies: list[Reply] = []
        self.want = want
        self.deadline = deadline  # loop time by which its replies must have come


def _retrieved(future: asyncio.Future[list[Reply]]) -> None:
    """Mark a batch's failure as seen, so a caller that was cancelled meanwhile logs nothing."""
    if not future.cancelled():
        future.exception()


class _Connection(asyncio.Protocol):
    """One TCP connection: writes commands, parses replies, hands each to whoever asked.

    With `push` set (a subscription), every reply goes to it instead, and a lost
    connection is pushed as the exception.

    A batch not answered by its deadline drops the connection (failing it and every
    batch behind it). One timer watches the oldest batch, rather than a timer per call:
    Redis answers in order, so while the oldest is within its deadline so are the rest,
    and a call costs no timer of its own (arming and cancelling one per call was a
    tenth of what a reservation cost this process).
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiting: deque[_Batch] = deque()
        self.lost: BaseException | None = None
        self.push: Callable[[Reply | BaseException], None] | None = None
        self._watch: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (create_connection gives nothing else); not an isinstance
        # check: uvloop's transports do not derive from asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                try:
                    reply, pos = parse(buf, pos)
                except _Incomplete:
                    break
                self._deliver(reply)
        except ProtocolError as exc:
            self.fail(exc)
            return
        del buf[:pos]
        if len(buf) > MAX_BULK + MAX_LINE:
            self.fail(ProtocolError("reply too large"))

    def _deliver(self, reply: Reply) -> None:
        if self.push is not None:
            self.push(reply)
            return
        if not self.waiting:
            raise ProtocolError("a reply nobody asked for")
        batch = self.waiting[0]
        batch.replies.append(reply)
        if len(batch.replies) == batch.want:
            self.waiting.popleft()
            if not batch.future.done():
                batch.future.set_result(batch.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or ConnectionResetError("the server closed the connection"))

    def fail(self, exc: BaseException) -> None:
        """Drop the connection; every call still waiting on it fails."""
        if self.lost is None:
            self.lost = exc
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self.transport is not None:
            self.transport.abort()
        error = unavailable(self.where, self.lost)
        while self.waiting:
            batch = self.waiting.popleft()
            if not batch.future.done():
                batch.future.set_exception(error)
        if self.push is not None:
            push, self.push = self.push, None
            push(error)

    def write(self, payload: bytes) -> None:
        """Send without waiting for a reply (a subscription's commands: replies are pushed)."""
        if self.lost is not None or self.transport is None:
            raise unavailable(self.where, self.lost)
        self.transport.write(payload)

    def send(self, payload: bytes, want: int,
             timeout: float | None = None) -> asyncio.Future[list[Reply]]:
        """Send `want` commands; the future is their replies, in order, or RedisUnavailable
        when they have not all come within `timeout` seconds (None: the caller times it)."""
        if self.lost is not None or self.transport is None:
            raise unavailable(self.where, self.lost)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Reply]] = loop.create_future()
        future.add_done_callback(_retrieved)
        batch = _Batch(future, want, math.inf if timeout is None else loop.time() + timeout)
        self.waiting.append(batch)
        if self._watch is None and timeout is not None:
            self._watch = loop.call_at(batch.deadline, self._check, timeout)
        self.transport.write(payload)
        return future

    def _check(self, timeout: float) -> None:
        """The watch timer: fail the connection if its oldest batch is overdue, else wait
        for that batch's deadline."""
        self._watch = None
        if self.lost is not None or not self.waiting:
            return
        loop = asyncio.get_running_loop()
        oldest = min(b.deadline for b in self.waiting) if self.waiting[0].deadline == math.inf \
            else self.waiting[0].deadline  # a batch the caller times (AUTH) can come first
        if oldest <= loop.time():
            self.fail(RedisUnavailable(f"redis at {self.where}: no answer within {timeout} s"))
        elif oldest != math.inf:
            self._watch = loop.call_at(oldest, self._check, timeout)


def unavailable(where: str, why: BaseException | None) -> RedisUnavailable:
    if isinstance(why, RedisUnavailable):
        return why
    if isinstance(why, TimeoutError):
        reason = "timed out"
    elif isinstance(why, ProtocolError):
        reason = f"malformed reply ({why})"
    elif isinstance(why, OSError):
        reason = why.strerror or type(why).__name__
    else:
        reason = type(why).__name__ if why is not None else "not connected"
    return RedisUnavailable(f"redis at {where}: {reason}")


@dataclass(frozen=True)
class Message:
    channel: bytes
    data: bytes


@dataclass(frozen=True)
class Subscribed:
    """The subscription is (again) in place. `resumed`: it had been lost, so messages
    published while it was down were missed; a consumer reloads what it follows."""

    resumed: bool


class RedisClient:
    def __init__(self, host: str, port: int = 6379, *, db: int = 0,
                 username: str | None = None, password: str | None = None,
                 connect_timeout: float = 1.0, command_timeout: float = 0.5,
                 retry_after: float = 0.5) -> None:
        if db < 0:
            raise ValueError("redis database numbers start at 0")
        self.host, self.port, self.db = host, port, db
        self.where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        self._username = username
        self._password = password
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.retry_after = retry_after
        self._conn: _Connection | None = None
        self._connecting = asyncio.Lock()
        self._next_attempt = 0.0

    @classmethod
    def from_address(cls, address: Address, *, password: str | None = None,
                     **options: float) -> RedisClient:
        """A client for `address`; `password`, when given, wins over the URL's."""
        return cls(address.host, address.port, db=address.db, username=address.username,
                   password=password if password is not None else address.password,
                   **options)

    def __repr__(self) -> str:
        return f"RedisClient({self.where}, db={self.db})"

    async def _open(self) -> _Connection:
        """A new connection, authenticated and on the right database."""
        loop = asyncio.get_running_loop()
        hello: list[tuple[Arg, ...]] = []
        if self._password is not None:
            hello.append(("AUTH", self._username, self._password) if self._username
                         else ("AUTH", self._password))
        if self.db:
            hello.append(("SELECT", self.db))
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(lambda: _Connection(self.where),
                                                       self.host, self.port)
                if hello:
                    replies = await conn.send(b"".join(encode(c) for c in hello), len(hello))
                    for command, reply in zip(hello, replies, strict=True):
                        if isinstance(reply, ReplyError):
                            doing = "authentication" if command[0] == "AUTH" else \
                                f"SELECT {self.db}"
                            raise RedisUnavailable(
                                f"redis at {self.where}: {doing} refused ({reply.code})")
        except BaseException as exc:
            if conn is not None:
                conn.fail(exc)
            if isinstance(exc, OSError | TimeoutError):
                raise unavailable(self.where, exc) from None
            raise
        return conn

    async def _connection(self) -> _Connection:
        conn = self._conn
        if conn is not None and conn.lost is None:
            return conn
        async with self._connecting:
            conn = self._conn
            if conn is not None and conn.lost is None:
                return conn
            self._conn = None
            wait = self._next_attempt - time.monotonic()
            if wait > 0:
                raise RedisUnavailable(
                    f"redis at {self.where}: unreachable, next attempt in {wait:.2f} s")
            try:
                self._conn = await self._open()
            except RedisUnavailable:
                self._next_attempt = time.monotonic() + self.retry_after
                raise
            return self._conn

    async def pipeline(self, commands: Sequence[Sequence[Arg]]) -> list[Reply]:
        """Send `commands` in one write and return their replies, errors included as
        ReplyError values."""
        payload = b"".join([encode(c) for c in commands])
        conn = self._conn
        if conn is None or conn.lost is not None:
            conn = await self._connection()
        return await conn.send(payload, len(commands), self.command_timeout)

    async def execute(self, *command: Arg) -> Reply:
        """One command's reply; an error reply is raised as ReplyError."""
        reply = (await self.pipeline([command]))[0]
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Reply:
        """Run `script` by its SHA1; if the server does not have it, send it (EVAL)."""
        reply = (await self.pipeline([("EVALSHA", script.sha, len(keys), *keys, *args)]))[0]
        if isinstance(reply, ReplyError) and reply.code == "NOSCRIPT":
            reply = (await self.pipeline([("EVAL", script.source, len(keys), *keys, *args)]))[0]
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def publish(self, channel: Arg, message: Arg) -> int:
        """Publish `message`; how many subscribers received it."""
        reply = await self.execute("PUBLISH", channel, message)
        if not isinstance(reply, int):
            raise RedisUnavailable(f"redis at {self.where}: unexpected reply to PUBLISH")
        return reply

    def subscribe(self, *channels: str, ping_interval: float = 30.0,
                  max_backoff: float = 5.0) -> Subscription:
        """Messages on `channels`, on a connection of their own (see Subscription)."""
        return Subscription(self, channels, ping_interval=ping_interval,
                            max_backoff=max_backoff)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.fail(ConnectionAbortedError("closed"))
            self._conn = None


class Subscription:
    """An async iterator of Message, and Subscribed each time the subscription is in place.

    It never ends by itself: a lost connection is reopened (after 0.1 s, doubling
    up to `max_backoff`) and the channels subscribed again. An idle connection is
    pinged every `ping_interval` seconds; no answer within the client's command
    timeout counts as lost. Use `async with` or call `aclose()` to stop it.
    """

    def __init__(self, client: RedisClient, channels: Sequence[str], *,
                 ping_interval: float, max_backoff: float, queue_size: int = 10_000) -> None:
        if not channels:
            raise ValueError("subscribe to at least one channel")
        self._client = client
        self._channels = tuple(channels)
        self._ping_interval = ping_interval
        self._max_backoff = max_backoff
        self._queue_size = queue_size
        self._conn: _Connection | None = None
        self._queue: asyncio.Queue[Reply | BaseException] = asyncio.Queue()
        self._ready: deque[Message] = deque()
        self._subscribed_before = False
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.fail(ConnectionAbortedError("closed"))
            self._conn = None

    def _push(self, queue: asyncio.Queue[Reply | BaseException],
              item: Reply | BaseException) -> None:
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:  # the consumer fell behind: start over, saying so
            if self._conn is not None:
                self._conn.fail(ProtocolError("subscriber queue full"))

    async def _subscribe(self) -> None:
        conn = await self._client._open()
        queue: asyncio.Queue[Reply | BaseException] = asyncio.Queue(self._queue_size)
        conn.push = lambda item: self._push(queue, item)
        self._conn, self._queue = conn, queue
        conn.write(encode(("SUBSCRIBE", *self._channels)))
        confirmed = 0
        async with asyncio.timeout(self._client.command_timeout):
            while confirmed < len(self._channels):
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise unavailable(self._client.where, item)
                message = self._message(item)
                if message is not None:
                    self._ready.append(message)
                elif isinstance(item, list) and item and item[0] == b"subscribe":
                    confirmed += 1
                elif isinstance(item, ReplyError):
                    raise RedisUnavailable(
                        f"redis at {self._client.where}: SUBSCRIBE refused ({item.code})")

    @staticmethod
    def _message(item: Reply | BaseException) -> Message | None:
        if (isinstance(item, list) and len(item) == 3 and item[0] == b"message"
                and isinstance(item[1], bytes) and isinstance(item[2], bytes)):
            return Message(item[1], item[2])
        return None

    async def __anext__(self) -> Message | Subscribed:
        backoff = 0.1
        pinged = False
        while not self._closed:
            if self._ready:
                return self._ready.popleft()
            if self._conn is None or self._conn.lost is not None:
                try:
                    await self._subscribe()
                except (RedisUnavailable, TimeoutError):
                    if self._conn is not None:
                        self._conn.fail(ConnectionAbortedError("subscribe failed"))
                        self._conn = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                resumed, self._subscribed_before = self._subscribed_before, True
                return Subscribed(resumed)
            conn = self._conn
            wait = self._client.command_timeout if pinged else self._ping_interval
            try:
                async with asyncio.timeout(wait):
                    item = await self._queue.get()
            except TimeoutError:
                if pinged:
                    conn.fail(TimeoutError())
                else:
                    pinged = True
                    with contextlib.suppress(RedisUnavailable):
                        conn.write(encode(("PING",)))
                continue
            pinged = False
            if isinstance(item, BaseException):
                continue  # the connection is lost: the loop reconnects
            message = self._message(item)
            if message is not None:
                return message
        raise StopAsyncIteration
