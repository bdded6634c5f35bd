"""A Streamable HTTP upstream's answer is passed on as soon as its SSE event is whole; the
rest of the stream is read afterwards, bounded, so the connection is kept, or closed when
the stream does not end. Against a raw loopback server that controls every byte."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from gateway_cli.mcp import transport
from gateway_cli.mcp.transport import HttpTransport


class Upstream:
    """Answers each POST with an SSE stream: a progress notification, the answer, then
    `hold` seconds of silence (None: never ends) before the stream's end."""

    def __init__(self, hold: float | None) -> None:
        self.hold = hold
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                request = json.loads(await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"transfer-encoding: chunked\r\n\r\n")
                for message in ({"jsonrpc": "2.0", "method": "notifications/progress",
                                 "params": {"progressToken": 1, "progress": 1}},
                                {"jsonrpc": "2.0", "id": request["id"],
                                 "result": {"content": [{"type": "text", "text": "done"}]}}):
                    event = b"event: message\ndata: " + json.dumps(message).encode() + b"\n\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
                if self.hold is None:
                    await asyncio.sleep(3600)
                await asyncio.sleep(self.hold)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def _call(upstream: HttpTransport, ident: int) -> tuple[dict[str, Any], float]:
    start = time.monotonic()
    answer = await upstream.request({"jsonrpc": "2.0", "id": ident, "method": "tools/call",
                                     "params": {"name": "x", "arguments": {}}}, None, 10)
    return answer, time.monotonic() - start


def test_the_answer_leaves_before_the_stream_ends_and_the_connection_is_kept() -> None:
    async def run() -> None:
        fake = Upstream(hold=0.6)
        port = await fake.start()
        seen: list[dict[str, Any]] = []

        async def on_message(message: dict[str, Any], handler: object) -> None:
            seen.append(message)

        upstream = HttpTransport("t", f"http://127.0.0.1:{port}/mcp", None, on_message,
                                 1 << 20)
        await upstream.start()
        answer, took = await _call(upstream, 1)
        assert answer["result"]["content"][0]["text"] == "done"
        assert took < 0.4  # the stream itself ends 0.6 s after the answer
        assert [m["method"] for m in seen] == ["notifications/progress"]
        await asyncio.sleep(0.9)  # the rest read: the connection is back in the pool
        answer, _ = await _call(upstream, 2)
        assert answer["id"] == 2
        assert fake.connections == 1
        await upstream.close()
        fake.stop()

    asyncio.run(run())


def test_a_stream_that_never_ends_after_its_answer_is_closed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "FINISH_WITHIN", 0.3)

    async def run() -> None:
        fake = Upstream(hold=None)
        port = await fake.start()

        async def on_message(message: dict[str, Any], handler: object) -> None:
            pass

        upstream = HttpTransport("t", f"http://127.0.0.1:{port}/mcp", None, on_message,
                                 1 << 20)
        await upstream.start()
        answer, took = await _call(upstream, 1)
        assert answer["id"] == 1 and took < 0.3
        await asyncio.sleep(0.6)
        assert not upstream._finishing  # given up on, not left running
        answer, _ = await _call(upstream, 2)  # on a new connection
        assert answer["id"] == 2
        assert fake.connections == 2
        await upstream.close()
        fake.stop()

    asyncio.run(run())
