"""The gateway is served over Granian's RSGI interface through server/rsgi_bridge.py: what
the bridge must carry across exactly, on a live server with raw sockets (a body in many
chunks, header order and repeats, bytes Granian cannot read as text, a client that
leaves mid-stream, the client's address)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream, slow_stream

KEY = "sk-test-bridge-" + "b" * 24


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("up", api_key=KEY) as started:
        yield started


@pytest.fixture(scope="module")
def gw(fake: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = (GatewayConfig()
              .provider("up", "openai", base_url=f"{fake.url}/v1", secret="env:BRIDGE_KEY")
              .section("server", log_level="debug", access_log=True)
              .model("m", deployment("up", "m")))
    gateway = start_gateway(tmp_path_factory.mktemp("bridge"), config=config.toml(),
                            env={**os.environ, "BRIDGE_KEY": KEY})
    yield gateway
    stop_gateway(gateway)
    assert KEY not in gateway.log()


@pytest.fixture(autouse=True)
def _reset(fake: FakeUpstream) -> None:
    fake.always(None)
    fake.clear()


def _exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send raw bytes; read one response to its end (the request says Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def _chunked(data: bytes, size: int) -> bytes:
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_body_sent_in_many_chunks_reaches_the_upstream_whole(gw: Gateway,
                                                               fake: FakeUpstream) -> None:
    body = json.dumps({"model": "m", "messages": [
        {"role": "user", "content": "piece by piece " * 200}]}).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n")
    status, _ = _exchange(gw.port, head, _chunked(body, 97))
    assert status == 200
    assert fake.requests[-1].json["messages"] == json.loads(body)["messages"]


def test_an_empty_declared_body_is_a_clear_400(gw: Gateway, fake: FakeUpstream) -> None:
    before = len(fake.requests)
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    status, answer = _exchange(gw.port, head)
    assert status == 400
    assert json.loads(answer)["error"]["message"]
    assert len(fake.requests) == before


def test_a_header_repeated_reaches_the_gate_as_sent(gw: Gateway, fake: FakeUpstream) -> None:
    """Two Host headers are refused as before (the gate reads every line, in order)."""
    before = len(fake.requests)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(body))
    status, _ = _exchange(gw.port, head, body)
    assert status in (400, 403)
    assert len(fake.requests) == before


def test_header_bytes_outside_ascii_are_left_out_not_a_crash(gw: Gateway,
                                                            fake: FakeUpstream) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-Title: caf\xe9\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    status, _ = _exchange(gw.port, head, body)
    assert status == 200
    # The same bytes in a content type: the header is unreadable, so the request has none.
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\xe9\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    status, answer = _exchange(gw.port, head, body)
    assert status == 415 and b"application/json" in answer
    assert "Traceback" not in gw.log()


def test_a_client_leaving_mid_stream_is_no_error(gw: Gateway, fake: FakeUpstream) -> None:
    fake.script(slow_stream(0.2))
    before = gw.log().count("client left; request")
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30, json={
            "model": "m", "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six"}]}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and gw.log().count("client left; request") == before:
        time.sleep(0.05)
    assert gw.log().count("client left; request") == before + 1
    log = gw.log()
    assert "Traceback" not in log and "Application callable raised" not in log
    answer = httpx.post(gw.url + "/v1/chat/completions", timeout=30, json={
        "model": "m", "messages": [{"role": "user", "content": "still there?"}]})
    assert answer.status_code == 200


def test_the_access_log_names_the_client_address(gw: Gateway) -> None:
    assert httpx.get(gw.url + "/v1/models", timeout=10).status_code == 200
    line = 'access: 127.0.0.1 "GET /v1/models" 200'
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and line not in gw.log():
        time.sleep(0.05)
    assert line in gw.log()
