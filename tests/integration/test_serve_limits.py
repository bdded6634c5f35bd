"""Input limits of `gateway serve`, with a config that sets them low."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway

LIMIT = 4096


@pytest.fixture(scope="module")
def small_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("small"),
                       config=f"[server]\nmax_body_bytes = {LIMIT}\n")
    yield gw
    stop_gateway(gw)


def _big_body() -> bytes:
    return b'{"model": "mock/echo", "messages": [{"role": "user", "content": "' + \
        b"a" * (LIMIT * 2) + b'"}]}'


def test_oversized_body_is_413(small_gateway: Gateway) -> None:
    r = httpx.post(small_gateway.url + "/v1/chat/completions", content=_big_body(),
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "request_too_large"
    assert str(LIMIT) in r.json()["error"]["message"]


def test_oversized_chunked_body_is_413(small_gateway: Gateway) -> None:
    body = _big_body()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]

    r = httpx.post(small_gateway.url + "/v1/chat/completions", content=chunks(),
                   headers={"content-type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.status_code == 413


def test_sdk_sees_413_as_api_error(small_gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=small_gateway.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="mock/echo",
                                       messages=[{"role": "user", "content": "a" * LIMIT * 2}])
    assert info.value.status_code == 413


def test_under_limit_still_served(small_gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=small_gateway.url + "/v1", api_key="x", max_retries=0)
    answer = client.chat.completions.create(model="mock/echo",
                                            messages=[{"role": "user", "content": "small"}])
    assert answer.choices[0].message.content == "small"


def test_bad_content_length_is_400(small_gateway: Gateway, tmp_path: Path) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", small_gateway.port), timeout=5) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: abc\r\n\r\n")
        reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 400")
