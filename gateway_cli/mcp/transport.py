"""How the gateway talks to one upstream MCP server: a stdio child or Streamable HTTP.

Both transports move whole JSON-RPC messages. A response to one of our
requests resolves that request; anything else the server sends (a
notification, a request of its own such as sampling) goes to `on_message`
with the handler of the request whose stream carried it (Streamable HTTP
knows; stdio does not, and passes None).

The stdio child gets exactly the environment it is given (see
connection.child_env): never the gateway's own. Its stderr is drained all the
time, kept bounded and redacted, and logged (stderr.py). The HTTP upstream gets the
gateway's own credential for it and nothing of the client's: no header of a
client request is ever copied here. Redirects are not followed (a credential
must not be sent on to another host), no proxy is taken from the environment
and no cookie is kept (http1.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from gateway_cli.formats.sse import SSEError, SSEParser
from gateway_cli.keys.refs import Secret
from gateway_cli.mcp import jsonrpc
from gateway_cli.mcp.stderr import Tail
from gateway_cli.mcp.stderr import loud as stderr_loud
from gateway_cli.net import http1
from gateway_cli.net.deadline import deadline

log = logging.getLogger("gateway.mcp")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]]
OnMessage = Callable[[dict[str, Any], Handler | None], Coroutine[Any, Any, None]]
PROTOCOL_VERSION = "2025-11-25"
LOG_BURST = 20  # stderr lines logged per LOG_WINDOW seconds and server; the rest counted
LOG_WINDOW = 10.0
# Seconds the rest of an answered SSE stream is read for before its connection is closed
# instead of kept (servers end the stream just after the answer).
FINISH_WITHIN = 5.0


class UpstreamError(Exception):
    """The upstream could not answer; the message is safe to show a client."""


class Transport(Protocol):
    @property
    def alive(self) -> bool: ...

    async def start(self) -> None: ...

    async def request(self, body: dict[str, Any], handler: Handler | None,
                      timeout: float) -> dict[str, Any]: ...

    async def send(self, body: dict[str, Any]) -> None: ...

    async def close(self) -> None: ...


class StdioTransport:
    """A child process speaking newline-delimited JSON-RPC on stdin/stdout."""

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str],
                 cwd: str | None, on_message: OnMessage, limit: int,
                 known: tuple[str, ...] = ()) -> None:
        self.name = name
        self.stderr = Tail(known)  # the last lines the child wrote on stderr, redacted
        self.err_reader: asyncio.Task[None] | None = None
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.on_message = on_message
        self.limit = limit
        self.process: asyncio.subprocess.Process | None = None
        self.pending: dict[jsonrpc.Id, asyncio.Future[dict[str, Any]]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return (self.process is not None and self.process.returncode is None
                and self.reader is not None and not self.reader.done())

    async def start(self) -> None:
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self.env, cwd=self.cwd,
                start_new_session=True, limit=self.limit)
        except OSError as err:
            raise UpstreamError(f"MCP server {self.name!r} could not be started "
                                f"({err.strerror or type(err).__name__})") from None
        self.reader = asyncio.create_task(self._read())
        self.err_reader = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        """Drain the child's stderr as it comes (a full pipe would block the child), keep
        the last lines redacted, and log them under the server's name: at most
        LOG_BURST lines per LOG_WINDOW seconds, then a count of those left out."""
        assert self.process is not None and self.process.stderr is not None
        stream = self.process.stderr
        window, logged, skipped = 0.0, 0, 0
        loop = asyncio.get_running_loop()
        while True:
            chunk = await stream.read(65536)
            lines = self.stderr.feed(chunk) if chunk else self.stderr.end()
            now = loop.time()
            if now - window > LOG_WINDOW:
                if skipped:
                    log.warning("MCP server %r wrote %d more stderr line(s), not logged "
                                "(`gateway mcp list` shows the last ones)", self.name, skipped)
                window, logged, skipped = now, 0, 0
            for line in lines:
                if logged >= LOG_BURST:
                    if not skipped:
                        log.warning("MCP server %r writes a lot on stderr: its lines are "
                                    "counted, not logged, for up to %g s", self.name,
                                    LOG_WINDOW)
                    skipped += 1
                    continue
                logged += 1
                log.log(logging.WARNING if stderr_loud(line) else logging.INFO,
                        "MCP server %r stderr: %s", self.name, line)
            if not chunk:
                if skipped:
                    log.warning("MCP server %r wrote %d more stderr line(s), not logged",
                                self.name, skipped)
                return

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            while True:
                try:
                    line = await stdout.readline()
                except ValueError:  # a line over the limit: the stream cannot be resynced
                    log.warning("MCP server %r sent a message over %d bytes; stopping it",
                                self.name, self.limit)
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                try:
                    message = _decode(line)
                except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                    log.warning("MCP server %r wrote a line that is not JSON; ignored",
                                self.name)
                    continue
                self._dispatch(message)
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(UpstreamError(f"MCP server {self.name!r} stopped"))
            self.pending.clear()

    def _dispatch(self, message: object) -> None:
        if not isinstance(message, dict):
            return
        if "method" not in message and "id" in message:
            future = self.pending.pop(message["id"], None) \
                if isinstance(message["id"], int | str) else None
            if future is not None and not future.done():
                future.set_result(message)
            return
        task = asyncio.create_task(self.on_message(message, None))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def send(self, body: dict[str, Any]) -> None:
        process = self.process
        if process is None or process.stdin is None or not self.alive:
            raise UpstreamError(f"MCP server {self.name!r} is not running")
        try:
            process.stdin.write(_encode(body) + b"\n")
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            raise UpstreamError(f"MCP server {self.name!r} stopped") from None

    async def request(self, body: dict[str, Any], handler: Handler | None,
                      timeout: float) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[body["id"]] = future
        try:
            await self.send(body)
            with deadline(timeout):
                return await future
        except TimeoutError:
            raise UpstreamError(f"MCP server {self.name!r} did not answer within "
                                f"{timeout:g} s") from None
        finally:
            self.pending.pop(body["id"], None)

    async def close(self) -> None:
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                async with asyncio.timeout(3):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in (self.reader, self.err_reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class HttpTransport:
    """A Streamable HTTP upstream (MCP 2025-11-25): one POST per message, JSON or SSE back,
    over the small HTTP/1.1 client of http1.py (no redirects, proxies or cookies)."""

    def __init__(self, name: str, url: str, secret: Secret | None, on_message: OnMessage,
                 limit: int) -> None:
        self.name = name
        self.url = url
        self.secret = secret
        self.on_message = on_message
        self.limit = limit
        self.client: http1.Client | None = None  # made when started
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self.dead = False
        self._finishing: set[asyncio.Task[None]] = set()  # streams read after their answer

    @property
    def alive(self) -> bool:
        return self.client is not None and not self.dead

    async def start(self) -> None:
        try:
            self.client = http1.Client(self.url)
        except ValueError as err:
            raise UpstreamError(f"MCP server {self.name!r}: {err}") from None

    def _headers(self) -> dict[str, str]:
        headers = {"content-type": "application/json",
                   "accept": "application/json, text/event-stream"}
        if self.secret is not None:
            headers["authorization"] = f"Bearer {self.secret.reveal()}"
        if self.session_id is not None:
            headers["mcp-session-id"] = self.session_id
        if self.protocol_version is not None:
            headers["mcp-protocol-version"] = self.protocol_version
        return headers

    async def _exchange(self, body: dict[str, Any], handler: Handler | None
                        ) -> dict[str, Any] | None:
        client = self.client
        if client is None:
            raise UpstreamError(f"MCP server {self.name!r} is not connected")
        want = body.get("id") if "method" in body else None
        try:
            resp = await client.send("POST", self._headers(), _encode(body))
            try:
                answer = await self._answer(resp, want, handler)
            except BaseException:
                resp.close()
                raise
            if resp.done:
                resp.release()
            else:
                self._finish_later(resp)
            return answer
        except ValueError:  # a header the client would not send (the credential's text)
            raise UpstreamError(f"MCP server {self.name!r}: its credential cannot be sent "
                                "in an HTTP header") from None
        except http1.ProtocolError as err:  # its text names no value of the answer
            raise UpstreamError(f"MCP server {self.name!r} sent a bad answer: {err}") \
                from None
        except (OSError, msgspec.DecodeError, UnicodeDecodeError, RecursionError,
                SSEError) as err:
            raise UpstreamError(f"MCP server {self.name!r} cannot be reached or sent a bad "
                                f"answer ({type(err).__name__})") from None

    async def _answer(self, resp: http1.Response, want: object, handler: Handler | None
                      ) -> dict[str, Any] | None:
        if resp.status == 404 and self.session_id is not None:
            self.dead = True  # the upstream ended our session: start a new one
            raise UpstreamError(f"MCP server {self.name!r} ended the session")
        if resp.status >= 300:
            raise UpstreamError(f"MCP server {self.name!r} answered HTTP {resp.status}")
        session_id = resp.headers.get("mcp-session-id")
        if session_id and self.session_id is None:
            self.session_id = session_id
        if resp.status in (202, 204):
            await resp.read(self.limit)  # nothing, read so the connection can be kept
            return None
        kind = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "text/event-stream":
            return await self._events(resp, want, handler)
        data = await resp.read(self.limit)
        message = _decode(data) if data else None
        return message if isinstance(message, dict) else None

    async def _events(self, resp: http1.Response, want: object, handler: Handler | None
                      ) -> dict[str, Any] | None:
        """The answer to `want` from an SSE stream, returned as soon as its event is whole.

        What the server sends before it (progress, its own requests) is handled as it
        comes; what it sends after it was never relayed, and the rest of the stream is
        read by `_finish_later` once the client has its answer: the SDK's servers end
        the stream ~0.15 ms after the answer (bench/mcp/README.md)."""
        parser = SSEParser(max_event_bytes=self.limit)
        # read_some, not the `chunks()` generator: a generator left at the answer is
        # finalised by the event loop (a thread-safe wake-up and a task per call).
        while chunk := await resp.read_some():
            for event in parser.feed(chunk):
                if not event.data:
                    continue
                message = _decode(event.data)
                if not isinstance(message, dict):
                    continue
                if "method" not in message and message.get("id") == want:
                    return message
                await self.on_message(message, handler)
        return None

    def _finish_later(self, resp: http1.Response) -> None:
        """Read what is left of an answered stream off the call's path, bounded, so the
        connection can be kept; a stream that goes on is closed instead."""
        task = asyncio.get_running_loop().create_task(self._finish(resp))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, resp: http1.Response) -> None:
        read = 0
        try:
            with deadline(FINISH_WITHIN):
                while data := await resp.read_some():
                    read += len(data)
                    if read > self.limit:
                        break
        except (TimeoutError, OSError, http1.ProtocolError):
            pass
        finally:
            if resp.done:
                resp.release()
            else:
                resp.close()

    async def request(self, body: dict[str, Any], handler: Handler | None,
                      timeout: float) -> dict[str, Any]:
        try:
            with deadline(timeout):  # asyncio.timeout's semantics, cheaper (deadline.py)
                answer = await self._exchange(body, handler)
        except TimeoutError:
            raise UpstreamError(f"MCP server {self.name!r} did not answer within "
                                f"{timeout:g} s") from None
        if answer is None:
            raise UpstreamError(f"MCP server {self.name!r} gave no answer")
        return answer

    async def send(self, body: dict[str, Any]) -> None:
        await self._exchange(body, None)

    async def close(self) -> None:
        for task in list(self._finishing):
            task.cancel()
        client = self.client
        if client is None:
            return
        if self.session_id is not None and not self.dead:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2), client.request("DELETE", self._headers()) \
                        as resp:
                    await resp.read(65536)
        await client.close()
        self.dead = True
