"""What the provider path added to the HTTP/1.1 client, against loopback servers: answers
released or closed by their holder, an idle connection the upstream closed found before a
byte is written, the connection cap and its waiters, the connect timeout, compressed
answers decoded in bounded pieces."""

from __future__ import annotations

import asyncio
import gc
import gzip
import socket
import threading
import time
import zlib

import pytest

from gateway_cli.net import http1, inflate
from tests.unit.net.test_http1 import CLOSE, Server, fetch, fixed, run

# Each test on both loops the served gateway can run on (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("on_each_loop")

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


def test_a_released_answer_read_to_its_end_keeps_its_connection() -> None:
    async def body(client: http1.Client, server: Server) -> None:
        for _ in range(3):
            response = await client.send("POST", {}, b"{}")
            assert await response.read(10) == b"ok"
            response.release()
            response.release()  # twice is once
        assert len(client.idle) == 1

    assert run(fixed(OK), body).connections == 1


def test_a_closed_or_half_read_answer_drops_its_connection() -> None:
    text = b"x" * 200_000  # more than one read
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text)

    async def body(client: http1.Client, server: Server) -> None:
        whole = await client.send("POST", {}, b"{}")
        assert await whole.read(len(text)) == text
        whole.close()  # read to its end, but closed: dropped all the same
        half = await client.send("POST", {}, b"{}")
        first = await half.read_some()
        assert 0 < len(first) <= http1.READ_SIZE and not half.done
        half.release()  # a client that went away, a policy cut
        assert client.idle == [] and client.slots._value == client.max_open
        assert await fetch(client, limit=len(text)) == (200, text)

    assert run(fixed(raw), body).connections == 3


def test_a_stream_arrives_piece_by_piece() -> None:
    """The first event is the caller's before the upstream sends the second."""
    second = asyncio.Event()

    async def body(client: http1.Client, server: Server) -> None:
        response = await client.send("POST", {}, b"{}")
        pieces = response.chunks()
        assert await anext(pieces) == b"data: 1\n\n"
        second.set()
        assert await anext(pieces) == b"data: 2\n\n"
        assert await anext(pieces, None) is None and response.done
        response.release()

    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n{}")
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"9\r\ndata: 1\n\n\r\n")
            await second.wait()
            writer.write(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")
            await writer.drain()
            await reader.read()
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = http1.Client(f"http://127.0.0.1:{port}/")
        try:
            await asyncio.wait_for(body(client, Server(fixed(b""))), 10)
        finally:
            await client.close()
            server.close()

    asyncio.run(main())


def _closing_server() -> tuple[socket.socket, list[int], threading.Event]:
    """A thread serving each connection one answer, then closing it without saying so."""
    listener = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []
    closed = threading.Event()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"{}"):
                    more = conn.recv(4096)
                    if not more:
                        break
                    data += more
                served.append(len(data))
                conn.sendall(OK)
            closed.set()

    threading.Thread(target=serve, daemon=True).start()
    return listener, served, closed


def test_an_idle_connection_closed_unseen_by_the_loop_is_not_used() -> None:
    """The upstream's FIN reached the socket but the event loop has not run since: the
    check before use finds it, and the request goes once, on a new connection."""
    listener, served, closed = _closing_server()

    async def main() -> None:
        port = listener.getsockname()[1]
        client = http1.Client(f"http://127.0.0.1:{port}/v1")
        try:
            assert await fetch(client) == (200, b"ok")
            [conn] = client.idle
            assert closed.wait(5)  # blocking: the loop does not run, so it reads no FIN
            time.sleep(0.05)
            assert not conn.reader.at_eof()
            assert await fetch(client) == (200, b"ok")
        finally:
            await client.close()

    try:
        asyncio.run(main())
    finally:
        listener.close()
    assert len(served) == 2


def test_the_cap_counts_connections_and_waiters_wait_within_their_timeout() -> None:
    """`max_open` connections at most, idle ones included; a caller beyond it waits, for
    as long as its own timeout allows, and a timed-out waiter takes no slot with it."""
    gate = asyncio.Event()
    most = 0
    open_now = 0

    async def main() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal most, open_now
            open_now += 1
            most = max(most, open_now)
            try:
                while True:
                    await reader.readuntil(b"\r\n\r\n{}")
                    await gate.wait()
                    writer.write(OK)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                open_now -= 1
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = http1.Client(f"http://127.0.0.1:{port}/", max_open=3)
        try:
            calls = [asyncio.ensure_future(fetch(client)) for _ in range(9)]
            await asyncio.sleep(0.2)
            assert most == 3
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await fetch(client)
            gate.set()
            assert await asyncio.gather(*calls) == [(200, b"ok")] * 9
            assert most == 3 and len(client.idle) == 3
            assert client.slots._value == 3  # every slot back, the waiter's too
        finally:
            await client.close()
            server.close()

    asyncio.run(main())


def test_a_connect_timeout_is_its_own_error() -> None:
    """A listener whose backlog is full never completes the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):  # fill the accept queue (never accepted)
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.1)

    async def main() -> None:
        client = http1.Client(f"http://127.0.0.1:{port}/", connect_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(http1.ConnectTimeout, match=r"no connection within 0\.3 s"):
            await fetch(client)
        assert time.monotonic() - started < 3
        assert client.slots._value == client.max_open

    try:
        asyncio.run(main())
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize("name", ["Content-Length", "transfer-encoding", "connection"])
def test_the_framing_headers_are_the_clients_own(name: str) -> None:
    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(ValueError, match="set by the client itself"):
            await client.send("POST", {name: "1"}, b"{}")
        assert client.slots._value == client.max_open

    assert run(fixed(OK), body).requests == []


def test_fixed_headers_go_with_every_request_unless_it_names_them() -> None:
    async def main() -> list[bytes]:
        server = Server(fixed(OK))
        client = http1.Client(await server.start(), headers={"User-Agent": "gw/1"})
        try:
            await fetch(client)
            async with client.request("POST", {"user-agent": "other"}, b"{}") as r:
                await r.read(10)
        finally:
            await client.close()
            await server.stop()
        return server.requests

    first, second = asyncio.run(main())
    assert b"\r\nuser-agent: gw/1\r\n" in first
    assert b"\r\nuser-agent: other\r\n" in second and b"gw/1" not in second


def test_a_callers_host_replaces_the_urls_once() -> None:
    async def main() -> list[bytes]:
        server = Server(fixed(OK))
        client = http1.Client(await server.start())
        try:
            async with client.request("POST", {"host": "inside.example"}, b"{}") as r:
                await r.read(10)
        finally:
            await client.close()
            await server.stop()
        return server.requests

    [request] = asyncio.run(main())
    assert request.lower().count(b"\r\nhost:") == 1
    assert b"\r\nhost: inside.example\r\n" in request


def test_an_answer_lost_without_release_frees_its_slot() -> None:
    async def body(client: http1.Client, server: Server) -> None:
        response = await client.send("POST", {}, b"{}")
        assert client.slots._value == client.max_open - 1
        del response
        gc.collect()
        assert client.slots._value == client.max_open and client.idle == []

    run(fixed(OK), body)


def _encoded(data: bytes, coding: bytes, *, chunked: bool = False) -> bytes:
    if chunked:
        pieces = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 5]), data[i:i + 5])
                          for i in range(0, len(data), 5))
        return (b"HTTP/1.1 200 OK\r\ncontent-encoding: %s\r\ntransfer-encoding: chunked"
                b"\r\n\r\n%s0\r\n\r\n" % (coding, pieces))
    return b"HTTP/1.1 200 OK\r\ncontent-encoding: %s\r\ncontent-length: %d\r\n\r\n%s" % (
        coding, len(data), data)


TEXT = b'{"answer": "' + b"compressible " * 200 + b'"}'


@pytest.mark.parametrize("raw", [
    _encoded(gzip.compress(TEXT), b"gzip"), _encoded(gzip.compress(TEXT), b"GZIP ", chunked=True),
    _encoded(gzip.compress(TEXT), b"x-gzip"), _encoded(zlib.compress(TEXT), b"deflate"),
    _encoded(TEXT, b"identity")])
def test_compressed_answers_are_decoded_and_the_connection_kept(raw: bytes) -> None:
    async def body(client: http1.Client, server: Server) -> None:
        assert await fetch(client, limit=len(TEXT)) == (200, TEXT)
        assert await fetch(client, limit=len(TEXT)) == (200, TEXT)

    assert run(fixed(raw), body).connections == 1


@pytest.mark.parametrize(("raw", "error"), [
    (_encoded(gzip.compress(TEXT)[:-9], b"gzip"), "ends before its end"),
    (_encoded(gzip.compress(TEXT) + b"junk", b"gzip"), "data after its end"),
    (_encoded(b"not gzip at all", b"gzip"), "corrupt"),
    (_encoded(zlib.compress(TEXT)[2:], b"deflate"), "corrupt"),  # raw deflate
    (_encoded(TEXT, b"br"), "not gzip or deflate"),
    (_encoded(TEXT, b"gzip, gzip"), "not gzip or deflate"),
    (_encoded(gzip.compress(TEXT), b"gzip"), f"over {len(TEXT) - 1} bytes"),
])
def test_bad_or_oversize_compressed_answers_are_errors(raw: bytes, error: str) -> None:
    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(http1.ProtocolError, match=error):
            await fetch(client, limit=len(TEXT) - 1 if "over" in error else len(TEXT))
        assert client.idle == []

    run(fixed(raw), body)


def test_a_zip_bomb_is_decoded_in_bounded_pieces() -> None:
    """100 MiB of zeros in about 100 KiB: no piece is over READ_SIZE, and the reader's cap
    stops it a piece past the limit."""
    bomb = gzip.compress(bytes(100 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 200_000
    decoder = inflate.inflater_for("gzip")
    assert decoder is not None
    sizes = [len(piece) for piece in decoder.feed(bomb[:50_000], http1.READ_SIZE)]
    assert sizes and max(sizes) <= http1.READ_SIZE

    async def body(client: http1.Client, server: Server) -> None:
        with pytest.raises(http1.TooLarge, match="over 1048576 bytes"):
            await fetch(client, limit=1024 * 1024)

    run(fixed(_encoded(bomb, b"gzip") + CLOSE), body)
