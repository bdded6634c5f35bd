"""The gateway's HTTP client to providers, seen from the upstream's side of the socket: a
kept-alive connection reused, a connection the upstream closes after each answer never
a client-visible failure, a stream the client left dropped (never pooled half-read), the
per-provider cap under concurrency, compressed answers decoded within the size cap, a
declared oversize answer refused before its body. Real gateway processes, raw sockets."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.socket_upstream import (
    CHAT,
    SocketUpstream,
    answer,
    chunk,
    close_with_answer,
    sse_event,
)

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}
CAP = 64 * 1024 * 1024


def _gateway(tmp_path: Path, upstream: SocketUpstream, **provider: int | float) -> Gateway:
    config = (GatewayConfig()
              .provider("p", "openai-compatible", base_url=f"{upstream.url}/v1", **provider)
              .model("m", deployment("p", "m"))
              # No retry: a failed attempt would show as the client's failure.
              .section("routing", retries=0, breaker_failures=1000))
    return start_gateway(tmp_path, config=config.toml())


@contextmanager
def _run(tmp_path: Path, upstream: SocketUpstream, **provider: int | float
         ) -> Iterator[Gateway]:
    with upstream:
        gateway = _gateway(tmp_path, upstream, **provider)
        try:
            yield gateway
        finally:
            stop_gateway(gateway)
        assert "Traceback" not in gateway.log()


def _post(gateway: Gateway, body: dict[str, object] = BODY) -> httpx.Response:
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)


def keep_alive(conn: socket.socket, up: SocketUpstream) -> None:
    while up.read_request(conn) is not None:
        conn.sendall(answer(CHAT))


def test_sequential_requests_share_one_kept_alive_connection(tmp_path: Path) -> None:
    up = SocketUpstream(keep_alive)
    with _run(tmp_path, up) as gateway:
        for _ in range(5):
            r = _post(gateway)
            assert r.status_code == 200, r.text
            assert r.json()["choices"][0]["message"]["content"] == "fine"
    assert len(up.requests) == 5 and up.connections == 1
    head = up.requests[0].split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"post /v1/chat/completions http/1.1\r\n")
    assert b"\r\nuser-agent: gateway/" in head
    assert b"\r\naccept-encoding: gzip, deflate\r\n" in head


def test_an_upstream_closing_after_each_answer_is_never_a_failure(tmp_path: Path) -> None:
    """No `connection: close`, the socket simply closed after the answer: the next request
    must go on a new connection, each request sent exactly once."""

    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        if up.read_request(conn) is not None:
            close_with_answer(conn, answer(CHAT))

    up = SocketUpstream(serve)
    with _run(tmp_path, up) as gateway:
        statuses = [_post(gateway).status_code for _ in range(12)]
        time.sleep(0.3)  # and after a pause, when the close was long seen
        statuses.append(_post(gateway).status_code)
    assert statuses == [200] * 13
    assert len(up.requests) == 13 and up.connections == 13


def test_a_stream_the_client_left_drops_its_connection(tmp_path: Path) -> None:
    """The upstream sees its connection closed mid-stream (never returned to the pool
    half-read); a stream read to its end keeps its connection for the next request."""
    left = threading.Event()

    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        while (request := up.read_request(conn)) is not None:
            if b'"stream":true' not in request.replace(b" ", b""):
                conn.sendall(answer(CHAT))
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")
            endless = b"endless" in request
            for n in range(400 if endless else 3):
                try:
                    conn.sendall(chunk(sse_event(f"part {n} " + "x" * 200)))
                except OSError:
                    up.note("closed by the gateway mid-stream")
                    left.set()
                    return
                if endless:
                    time.sleep(0.02)
            if endless:
                up.note("stream sent to its end")
                return
            conn.sendall(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    up = SocketUpstream(serve)
    with _run(tmp_path, up) as gateway:
        whole = httpx.post(gateway.url + "/v1/chat/completions", timeout=30,
                           json={**BODY, "stream": True})
        assert whole.status_code == 200 and "part 2" in whole.text
        assert _post(gateway).status_code == 200
        assert up.connections == 1  # the stream read to its end kept it

        cut = {**BODY, "stream": True, "messages": [{"role": "user", "content": "endless"}]}
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=cut,
                          timeout=30) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                if "part 1 " in line:
                    break  # the client leaves
        assert left.wait(15), up.events
        assert _post(gateway).status_code == 200
    assert up.events == ["closed by the gateway mid-stream"]
    assert up.connections == 2  # the cut stream's connection was not reused


def test_the_per_provider_connection_cap_holds_under_concurrency(tmp_path: Path) -> None:
    def slow(conn: socket.socket, up: SocketUpstream) -> None:
        while up.read_request(conn) is not None:
            time.sleep(0.3)
            conn.sendall(answer(CHAT))

    up = SocketUpstream(slow)
    with _run(tmp_path, up, max_connections=2) as gateway:
        results: list[int] = []

        def one() -> None:
            results.append(_post(gateway).status_code)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert results == [200] * 8
    assert len(up.requests) == 8
    assert up.most_open == 2  # the cap was reached and never passed


def test_a_gzip_answer_sent_unasked_is_decoded(tmp_path: Path) -> None:
    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        while (request := up.read_request(conn)) is not None:
            if b'"stream":true' in request.replace(b" ", b""):
                events = gzip.compress(sse_event("zipped") + b"data: [DONE]\n\n")
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
                             + b"".join(chunk(events[i:i + 7])
                                        for i in range(0, len(events), 7)) + b"0\r\n\r\n")
            else:
                conn.sendall(answer(gzip.compress(CHAT), headers=b"content-encoding: gzip\r\n"))

    up = SocketUpstream(serve)
    with _run(tmp_path, up) as gateway:
        r = _post(gateway)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"] == "fine"
        s = httpx.post(gateway.url + "/v1/chat/completions", json={**BODY, "stream": True},
                       timeout=30)
        assert s.status_code == 200 and '"zipped"' in s.text and "[DONE]" in s.text
    assert up.connections == 1


def test_a_zip_bomb_stops_at_the_size_cap(tmp_path: Path) -> None:
    bomb = gzip.compress(b"{" + b" " * (CAP + 1024) + b"}", compresslevel=9)
    assert len(bomb) < 200_000

    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        if up.read_request(conn) is not None:
            conn.sendall(answer(bomb, headers=b"content-encoding: gzip\r\n"))

    up = SocketUpstream(serve)
    with _run(tmp_path, up) as gateway:
        r = _post(gateway)
    assert r.status_code == 502
    assert f"sent a response over {CAP} bytes" in r.json()["error"]["message"]


def test_a_declared_oversize_answer_is_refused_before_its_body(tmp_path: Path) -> None:
    held = threading.Event()

    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        if up.read_request(conn) is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         b"content-length: %d\r\n\r\n{" % (CAP + 1))
            held.wait(20)  # the body never comes: only the declared length can refuse it

    up = SocketUpstream(serve)
    with _run(tmp_path, up, timeout=20) as gateway:
        started = time.monotonic()
        r = _post(gateway)
        took = time.monotonic() - started
        held.set()
    assert r.status_code == 502
    assert f"sent a response over {CAP} bytes" in r.json()["error"]["message"]
    assert took < 10


@pytest.mark.parametrize(("raw", "problem"), [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}",
     "both Transfer-Encoding and Content-Length"),
    (b"HTTP/1.1 200 OK\r\ncontent-encoding: br\r\ncontent-length: 2\r\n\r\n{}",
     "Content-Encoding is not gzip or deflate"),
    (b"HTTTP/1.1 200 OK\r\n\r\n", "HTTP/1.x status line"),
])
def test_a_malformed_answer_is_a_502_naming_the_problem(tmp_path: Path, raw: bytes,
                                                         problem: str) -> None:
    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        if up.read_request(conn) is not None:
            conn.sendall(raw)

    up = SocketUpstream(serve)
    with _run(tmp_path, up) as gateway:
        r = _post(gateway)
    assert r.status_code == 502
    assert problem in r.json()["error"]["message"]


def test_a_stream_gone_silent_ends_after_the_idle_limit(tmp_path: Path) -> None:
    """Two events, then nothing: the stream ends with an error event after the
    deployment's timeout of silence, and its connection is dropped."""
    release = threading.Event()

    def serve(conn: socket.socket, up: SocketUpstream) -> None:
        while (request := up.read_request(conn)) is not None:
            if b'"stream":true' not in request.replace(b" ", b""):
                conn.sendall(answer(CHAT))
                continue
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n" +
                         chunk(sse_event("first " + "word " * 100)) +
                         chunk(sse_event("second " + "word " * 100)))
            release.wait(20)
            return

    up = SocketUpstream(serve)
    with _run(tmp_path, up, timeout=1) as gateway:
        started = time.monotonic()
        r = httpx.post(gateway.url + "/v1/chat/completions", json={**BODY, "stream": True},
                       timeout=30)
        took = time.monotonic() - started
        release.set()
        assert _post(gateway).status_code == 200
    assert r.status_code == 200
    assert "first word" in r.text  # what the output policy had released before
    assert "the upstream stream stalled; the answer is incomplete" in r.text
    assert 0.9 < took < 8
    assert up.connections == 2  # the stalled stream's connection was not reused


def test_a_connect_timeout_says_so(tmp_path: Path) -> None:
    """A listener whose backlog is full never completes the handshake: the attempt fails
    after the provider's connect timeout, not its (much longer) answer timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    config = (GatewayConfig()
              .provider("p", "openai-compatible", base_url=f"http://127.0.0.1:{port}/v1",
                        connect_timeout=0.5, timeout=30)
              .model("m", deployment("p", "m"))
              .section("routing", retries=0))
    gateway = start_gateway(tmp_path, config=config.toml())
    try:
        started = time.monotonic()
        r = _post(gateway)
        took = time.monotonic() - started
    finally:
        stop_gateway(gateway)
        for filler in fillers:
            filler.close()
        listener.close()
    assert r.status_code == 502
    assert "deployment p/m unreachable (no connection within 0.5 s)" in \
        r.json()["error"]["message"]
    assert took < 10


def test_proxy_variables_in_the_environment_are_ignored(tmp_path: Path) -> None:
    """Where a request goes is gateway.toml's decision: a proxy the process inherited
    sees nothing."""
    import os

    def nothing(conn: socket.socket, up: SocketUpstream) -> None:
        up.read_request(conn)

    up, proxy = SocketUpstream(keep_alive), SocketUpstream(nothing)
    with up, proxy:
        config = (GatewayConfig()
                  .provider("p", "openai-compatible", base_url=f"{up.url}/v1")
                  .model("m", deployment("p", "m"))
                  .section("routing", retries=0))
        env = {**os.environ, **{name: proxy.url for name in (
            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
            "all_proxy")}, "NO_PROXY": "", "no_proxy": ""}
        gateway = start_gateway(tmp_path, config=config.toml(), env=env)
        try:
            r = _post(gateway)
        finally:
            stop_gateway(gateway)
    assert r.status_code == 200, r.text
    assert len(up.requests) == 1 and proxy.connections == 0
