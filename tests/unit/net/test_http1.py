"""The MCP upstream's HTTP/1.1 client against a real loopback server that answers with
exactly the bytes each test gives it: framing read strictly, connections kept only when
an answer was read to its end, nothing sent that could split a header."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gateway_cli.net import http1
from tests.fakes.pki import make_pki

# Each test on both loops the served gateway can run on (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("on_each_loop")

Answer = Callable[[bytes], bytes | None]  # the request's bytes -> the raw answer
CLOSE = b"<then close>"  # at the end of an answer: the server closes after writing it


class Server:
    """Reads one request head and body per exchange, answers with `answer(request)`;
    None closes the connection without a word, an answer ending in CLOSE closes it after
    writing the rest. Counts connections."""

    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{port}/mcp?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                raw = self.answer(request)
                if raw is None:
                    break
                writer.write(raw.removesuffix(CLOSE))
                await writer.drain()
                if raw.endswith(CLOSE):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def run(answer: Answer, body: Callable[[http1.Client, Server], Awaitable[None]]) -> Server:
    async def main() -> Server:
        server = Server(answer)
        client = http1.Client(await server.start())
        try:
            await body(client, server)
        finally:
            await client.close()
            await server.stop()
        return server

    return asyncio.run(main())


async def fetch(client: http1.Client, limit: int = 1 << 20) -> tuple[int, bytes]:
    async with client.request("POST", {"content-type": "application/json"}, b"{}") as resp:
        return resp.status, await resp.read(limit)


def fixed(raw: bytes) -> Answer:
    return lambda _request: raw


def test_content_length_answers_reuse_one_connection() -> None:
    async def body(client: http1.Client, server: Server) -> None:
        for _ in range(3):
            assert await fetch(client) == (200, b'{"ok":1}')

    server = run(fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\n{\"ok\":1}"), body)
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /mcp?x=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\ncontent-length: 2\r\n\r\n{}" in first
    assert b"cookie" not in first.lower() and b"accept-encoding" not in first.lower()


def test_chunked_answers_are_dechunked_with_extensions_and_trailers() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ncontent-type: text/event-stream"
           b"\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: y\r\n\r\n")

    async def body(client: http1.Client, server: Server) -> None:
        assert await fetch(client) == (200, b"hello world")
        assert await fetch(client) == (200, b"hello world")

    assert run(fixed(raw), body).connections == 1


def test_interim_answers_are_skipped_and_headers_joined() -> None:
    raw = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nX-A: 1\r\nx-a: 2\r\n"
           b"content-length: 0\r\n\r\n")

    async def body(client: http1.Client, server: Server) -> None:
        async with client.request("POST", {}, b"{}") as resp:
            assert resp.status == 202 and resp.headers["x-a"] == "1, 2"
            assert resp.done and await resp.read(10) == b""

    run(fixed(raw), body)


def test_close_delimited_and_connection_close_answers_are_not_kept() -> None:
    answers = iter([b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\na",
                    b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nb",
                    b"HTTP/1.1 200 OK\r\n\r\nuntil the end"])

    def answer(_request: bytes) -> bytes | None:
        return next(answers, None)

    seen: list[tuple[int, bytes]] = []

    async def body(client: http1.Client, server: Server) -> None:
        seen.append(await fetch(client))
        seen.append(await fetch(client))
        async with client.request("POST", {}, b"{}") as resp:
            # A close-delimited body: read what came, then the server closes (the next
            # `answer` gives None on this connection's next request, never made).
            parts = []
            async for data in resp.chunks():
                parts.append(data)
                if b"".join(parts) == b"until the end":
                    break
            seen.append((resp.status, b"".join(parts)))
            assert not resp.keep_alive

    server = run(answer, body)
    assert seen == [(200, b"a"), (200, b"b"), (200, b"until the end")]
    assert server.connections == 3


def test_an_answer_not_read_to_its_end_closes_its_connection() -> None:
    async def body(client: http1.Client, server: Server) -> None:
        async with client.request("POST", {}, b"{}") as resp:
            assert resp.status == 500  # not read
        assert await fetch(client) == (500, b"oops")

    server = run(fixed(b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\noops"), body)
    assert server.connections == 2


@pytest.mark.parametrize(("raw", "error"), [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n",
     "both Transfer-Encoding and Content-Length"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n", "not chunked"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 3, 3\r\n\r\nabc", "not one number"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "not one number"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "not a hex number"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n",
     "does not end with CRLF"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabc" + CLOSE,
     "in the middle of a chunk"),
    (b"HTTP/2 200\r\n\r\n", "HTTP/1.x status line"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.x status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed"),
    (b"HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n", "malformed"),
    (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", "malformed"),
    (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\rx-evil: 1\r\n\r\n", "control character"),
    (b"HTTP/1.1 200 OK\r\nretry-after: 1\x00\r\n\r\n", "control character"),
    (b"HTTP/1.1 200 OK\r\nx-a: \x1b[31m\r\n\r\n", "control character"),
    (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", "switched protocols"),
    (b"HTTP/1.1 200 OK\r\n" + b"x-h: v\r\n" * 101 + b"\r\n", "head is too large"),
    (b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 20000 + b"\r\n\r\n", "line of the answer is too long"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"a" * 100, "over 50 bytes"),
    (b"HTTP/1.1 200 OK\r\ncontent-le" + CLOSE, "closed in the middle of the answer"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc" + CLOSE,
     "ended before its Content-Length"),
])
def test_malformed_answers_are_errors(raw: bytes, error: str) -> None:
    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(http1.ProtocolError, match=error):
            await fetch(client, limit=50)

    run(fixed(raw), body)


def test_a_chunk_claiming_a_huge_size_is_read_in_pieces_within_the_limit() -> None:
    raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nfffffffffffffff\r\n" + \
        b"a" * 200000

    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(http1.ProtocolError, match="over 100000 bytes"):
            await fetch(client, limit=100000)

    run(fixed(raw), body)


@pytest.mark.parametrize(("name", "value"), [
    ("authorization", "Bearer a\r\nx-injected: 1"), ("authorization", "Bearer a\nb"),
    ("x-nul", "a\x00b"), ("bad name", "v"), ("x-text", "caf\u00e9\u2603")])
def test_headers_that_could_split_or_cannot_be_sent_are_refused(name: str, value: str) -> None:
    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(ValueError) as refused:
            async with client.request("POST", {name: value}, b"{}"):
                pass
        assert "x-injected" not in str(refused.value) and "Bearer" not in str(refused.value)

    server = run(fixed(b"HTTP/1.1 204 No Content\r\n\r\n"), body)
    assert server.requests == []


def test_a_sessions_headers_are_checked_again_whenever_one_changes() -> None:
    """Heads are built once per distinct set of headers (an MCP session sends the same
    ones on every call): the same headers give the same bytes, and a header changed on
    the same client, even only its value, is checked as if it were new."""
    session = {"content-type": "application/json", "authorization": "Bearer k",
               "mcp-session-id": "s1", "mcp-protocol-version": "2025-11-25"}

    async def body(client: http1.Client, server: Server) -> None:
        for size in (b"{}", b"{}", b'{"a":1}'):
            async with client.request("POST", session, size) as resp:
                await resp.read(10)
        with pytest.raises(ValueError, match="mcp-session-id") as refused:
            async with client.request("POST", {**session, "mcp-session-id": "s1\r\nx: 1"},
                                      b"{}"):
                pass
        assert "s1" not in str(refused.value)
        with pytest.raises(ValueError, match="authorization"):
            async with client.request("POST", {**session, "authorization": "Bearer k\n"},
                                      b"{}"):
                pass
        with pytest.raises(ValueError, match="Latin-1"):
            async with client.request("POST", {**session, "mcp-session-id": "\u2603"},
                                      b"{}"):
                pass
        async with client.request("POST", {**session, "mcp-session-id": "s2"}, b"{}") as resp:
            await resp.read(10)
        for n in range(http1.HEADS_KEPT + 5):  # past the bound: started anew, still right
            async with client.request("POST", {**session, "mcp-session-id": f"n{n}"},
                                      b"{}") as resp:
                await resp.read(10)
        with pytest.raises(ValueError, match="mcp-session-id"):
            async with client.request("POST", {**session, "mcp-session-id": "s1\x00"},
                                      b"{}"):
                pass

    server = run(fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), body)
    first, second, third, changed = server.requests[:4]
    assert first == second
    assert first.endswith(b"\r\nauthorization: Bearer k\r\nmcp-session-id: s1\r\n"
                          b"mcp-protocol-version: 2025-11-25\r\ncontent-length: 2\r\n\r\n{}")
    assert third == first.replace(b"content-length: 2\r\n\r\n{}",
                                  b'content-length: 7\r\n\r\n{"a":1}')
    assert changed == first.replace(b"mcp-session-id: s1", b"mcp-session-id: s2")
    assert len(server.requests) == 4 + http1.HEADS_KEPT + 5
    assert server.requests[-1] == first.replace(
        b"mcp-session-id: s1", f"mcp-session-id: n{http1.HEADS_KEPT + 4}".encode())


@pytest.mark.parametrize("url", ["ftp://host/x", "http:///nohost", "file:///etc/passwd"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(ValueError, match="http:// or https:// with a host"):
        http1.Client(url)


def test_ipv6_and_default_port_authority() -> None:
    assert http1.Client("http://[::1]:8080/mcp").authority == "[::1]:8080"
    client = http1.Client("https://example.test/mcp")
    assert (client.authority, client.port, client.target) == ("example.test", 443, "/mcp")
    assert client.tls is not None


def test_an_idle_connection_the_server_closed_is_not_used() -> None:
    """The server closes a kept connection while it is idle: the next request goes on a
    new connection and is sent once (a POST is never repeated)."""
    answers = iter([b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na",
                    b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"])

    async def body(client: http1.Client, server: Server) -> None:
        assert await fetch(client) == (200, b"a")
        [conn] = client.idle
        server_end = server.writers[0]
        server_end.close()
        for _ in range(100):  # until the loop has seen the FIN
            if conn.reader.at_eof():
                break
            await asyncio.sleep(0.01)
        assert conn.reader.at_eof()
        assert await fetch(client) == (200, b"b")

    served = run(lambda _request: next(answers), body)
    assert served.connections == 2 and len(served.requests) == 2


def _tls_run(tmp_path: Path, trusted: bool, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    tmp_path.mkdir()
    pki = make_pki(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(pki.cert, pki.key)
    if trusted:  # the system's trust, extended the standard way (OpenSSL reads it)
        monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca))
    else:
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-bundle.pem"))
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    seen: list[object] = []

    async def main() -> None:
        server = Server(fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), served)
        client = http1.Client(await server.start())
        try:
            seen.append(await fetch(client))
        except ssl.SSLError as err:
            seen.append(err)
        finally:
            await client.close()
            await server.stop()

    asyncio.run(main())
    return seen


def test_https_upstreams_are_verified(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _tls_run(tmp_path / "a", True, monkeypatch) == [(200, b"ok")]
    [refused] = _tls_run(tmp_path / "b", False, monkeypatch)
    assert isinstance(refused, ssl.SSLCertVerificationError), refused


def test_connections_to_one_upstream_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_OPEN", 2)
    most = 0

    async def body(client: http1.Client, server: Server) -> None:
        nonlocal most

        async def one() -> tuple[int, bytes]:
            return await fetch(client)

        calls = [asyncio.ensure_future(one()) for _ in range(5)]
        for _ in range(50):
            await asyncio.sleep(0.01)
            most = max(most, server.connections)
        assert await asyncio.gather(*calls) == [(200, b"x")] * 5

    run(fixed(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx"), body)
    assert most <= 2
