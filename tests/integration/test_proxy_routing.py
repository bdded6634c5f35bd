"""Failover, retries, Retry-After, circuit breaker, timeouts, dropped connections,
streaming without buffering, and client disconnects: each against real sockets."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import (
    FakeUpstream,
    drop,
    drop_mid_stream,
    ok,
    slow_stream,
    stall,
    status,
)

KEY = "sk-test-routing-" + "r" * 20
MESSAGES = [{"role": "user", "content": "route me"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    started = {name: FakeUpstream(name, api_key=KEY).start() for name in ("a", "b", "c", "d")}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(autouse=True)
def _reset(fakes: dict[str, FakeUpstream]) -> None:
    for fake in fakes.values():
        fake.always(None)
        fake.clear()


def _providers(fakes: dict[str, FakeUpstream], *names: str) -> GatewayConfig:
    """The fakes `names` as OpenAI providers of the same name, signed with ROUTING_KEY."""
    config = GatewayConfig()
    for name in names:
        config.provider(name, "openai", base_url=f"{fakes[name].url}/v1",
                        secret="env:ROUTING_KEY")
    return config


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeUpstream],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = (_providers(fakes, *fakes)
              .section("server", log_level="debug")
              .section("routing", retries=2, backoff_initial=0.05, backoff_max=0.2,
                       max_retry_after=2, breaker_failures=6, breaker_cooldown=3600)
              .model("failover", deployment("a", "m", priority=0),
                     deployment("b", "m", priority=1))
              .model("single", deployment("c", "m", timeout=1.0))
              .model("breaker", deployment("d", "m", priority=0),
                     deployment("b", "m", priority=1), strategy="priority")
              .model("timeout-failover", deployment("a", "slow", priority=0, timeout=0.5),
                     deployment("b", "m", priority=1)))
    gateway = start_gateway(tmp_path_factory.mktemp("routing"), config=config.toml(),
                            env={**os.environ, "ROUTING_KEY": KEY})
    yield gateway
    stop_gateway(gateway)
    assert KEY not in gateway.log()


def _post(gw: Gateway, model: str, **extra: object) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions",
                      json={"model": model, "messages": MESSAGES, **extra}, timeout=30)


def test_priority_failover_on_5xx(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["a"].script(status(500))
    r = _post(gw, "failover")
    assert r.status_code == 200
    assert r.headers["x-gateway-deployment"] == "b/m"
    assert r.headers["x-gateway-attempts"] == "2"
    assert r.json()["choices"][0]["message"]["content"] == "b: route me"


def test_retry_same_deployment_with_backoff(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    before = len(fakes["c"].requests)
    fakes["c"].script(status(503), status(502))
    r = _post(gw, "single")
    assert r.status_code == 200
    assert r.headers["x-gateway-attempts"] == "3"
    assert len(fakes["c"].requests) == before + 3


def test_retries_are_bounded(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    before = len(fakes["c"].requests)
    fakes["c"].script(status(500), status(500), status(500), status(500))
    r = _post(gw, "single")
    assert r.status_code == 502  # the upstream's 500, as a gateway error status
    assert r.json()["error"]["message"]  # the upstream's own explanation survives
    assert len(fakes["c"].requests) == before + 3  # 1 + retries
    fakes["c"].clear()


def test_retry_after_is_honoured(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].script(status(429, retry_after=1))
    started = time.monotonic()
    r = _post(gw, "single")
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert elapsed >= 1.0
    assert r.headers["x-gateway-attempts"] == "2"


def test_long_retry_after_goes_back_to_client(gw: Gateway,
                                              fakes: dict[str, FakeUpstream]) -> None:
    before = len(fakes["c"].requests)
    fakes["c"].script(status(429, retry_after=60))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="single", messages=MESSAGES)  # type: ignore[arg-type]
    assert time.monotonic() - started < 2
    assert info.value.response.headers["retry-after"] == "60"
    assert len(fakes["c"].requests) == before + 1


def test_non_retryable_4xx_is_not_retried(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    before = len(fakes["c"].requests)
    fakes["c"].script(status(404))
    r = _post(gw, "single")
    assert r.status_code == 404
    assert len(fakes["c"].requests) == before + 1


def test_timeout_is_504(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].always(stall(10))
    started = time.monotonic()
    r = _post(gw, "single")
    elapsed = time.monotonic() - started
    assert r.status_code == 504
    assert "did not answer within 1 s" in r.json()["error"]["message"]
    assert elapsed < 6  # 3 attempts of 1 s plus short backoff, not 3 x 10 s


def test_timeout_fails_over(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["a"].script(stall(5))
    r = _post(gw, "timeout-failover")
    assert r.status_code == 200
    assert r.headers["x-gateway-deployment"] == "b/m"


def test_dropped_connection_fails_over(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["a"].script(drop())
    r = _post(gw, "failover")
    assert r.status_code == 200
    assert r.headers["x-gateway-deployment"] == "b/m"


def test_connection_refused_is_502(gw: Gateway, tmp_path: Path) -> None:
    from tests.conftest import free_port

    port = free_port()
    config = (GatewayConfig()
              .provider("gone", "openai-compatible", base_url=f"http://127.0.0.1:{port}/v1")
              .section("routing", retries=1, backoff_initial=0)
              .model("gone", deployment("gone", "m")))
    lone = start_gateway(tmp_path, config=config.toml())
    try:
        r = _post(lone, "gone")
    finally:
        stop_gateway(lone)
    assert r.status_code == 502
    assert "unreachable" in r.json()["error"]["message"]


def test_circuit_breaker_skips_failing_deployment(gw: Gateway,
                                                  fakes: dict[str, FakeUpstream]) -> None:
    fakes["d"].always(status(500))
    for _ in range(6):  # breaker_failures
        assert _post(gw, "breaker").headers["x-gateway-deployment"] == "b/m"
    hits = len(fakes["d"].requests)
    assert hits == 6
    for _ in range(3):
        r = _post(gw, "breaker")
        assert r.headers["x-gateway-deployment"] == "b/m"
        assert r.headers["x-gateway-attempts"] == "1"   # d is skipped, not tried
    assert len(fakes["d"].requests) == hits
    log = gw.log()
    assert "WARNING gateway.relay: deployment d/m failed 6 time(s) in a row: its circuit " \
        "breaker is open for 3600 s" in log
    # Retries and failovers: a line a minute per deployment, not one per request.
    assert log.count("attempt on deployment d/m failed, trying again") == 1
    health = httpx.get(gw.url + "/health", timeout=5).json()
    assert "deployment d/m: circuit breaker open" in health["warnings"]


def test_no_retry_once_stream_started(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    before = len(fakes["c"].requests)
    fakes["c"].script(drop_mid_stream(after_events=2))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    received = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="single", messages=MESSAGES,  # type: ignore[arg-type]
                                                    stream=True):
            received.append(chunk)
    assert "broke off" in str(info.value)
    assert len(received) >= 1
    assert len(fakes["c"].requests) == before + 1


def test_stream_is_not_buffered(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].script(slow_stream(0.3))
    arrivals = []
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30,
                      json={"model": "single", "messages": MESSAGES, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 5
    # events arrive spread over time as the upstream sends them, not all at the end
    assert arrivals[-1] - arrivals[0] >= 0.3 * (len(arrivals) - 2)


def test_client_disconnect_cancels_upstream(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].script(stall(20))
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gw.url + "/v1/chat/completions", timeout=0.5,
                   json={"model": "single", "messages": MESSAGES})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if "client left; request" in gw.log():
            break
        time.sleep(0.05)
    assert "client left; request" in gw.log()
    # the gateway is still healthy and serving
    assert _post(gw, "failover").status_code == 200


def test_upstream_slow_headers_within_timeout(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].script(ok(delay=0.3))
    assert _post(gw, "single").status_code == 200


def test_client_leaving_mid_stream_stops_the_relay(gw: Gateway,
                                                   fakes: dict[str, FakeUpstream]) -> None:
    fakes["c"].script(slow_stream(0.5))
    before = gw.log().count("client left; request")
    with httpx.stream("POST", gw.url + "/v1/chat/completions", timeout=30,
                      json={"model": "single", "messages": MESSAGES, "stream": True}) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                break  # leave after the first event; closing the stream drops the connection
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and gw.log().count("client left; request") == before:
        time.sleep(0.05)
    assert gw.log().count("client left; request") == before + 1


def test_a_failure_while_the_fallback_cools_down_is_503_not_the_upstream_body(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    """The fallback rests after an earlier failure; the primary fails now and its breaker
    opens too: the client hears 503 with Retry-After (wait), not the primary's raw 502."""
    config = (_providers(fakes, "a", "b")
              .section("routing", retries=2, backoff_initial=0.01, backoff_max=0.05,
                       breaker_failures=1, breaker_cooldown=3600)
              .model("pair", deployment("a", "m", priority=0), deployment("b", "m", priority=1))
              .model("b-only", deployment("b", "m")))
    gw = start_gateway(tmp_path, config=config.toml(), env={**os.environ, "ROUTING_KEY": KEY})
    try:
        fakes["b"].script(status(500, body={"error": {"message": "fallback exploded"}}))
        rested = _post(gw, "b-only")  # b fails once and rests for the cooldown
        assert rested.status_code == 503 and "exploded" not in rested.text
        fakes["a"].script(status(500, body={"error": {"message": "primary exploded"}}))
        r = _post(gw, "pair")
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "no_healthy_deployment"
        assert "exploded" not in r.text
        assert 3000 < int(r.headers["retry-after"]) <= 3600
        hits = len(fakes["a"].requests) + len(fakes["b"].requests)
        again = _post(gw, "pair")
        assert again.status_code == 503
        assert len(fakes["a"].requests) + len(fakes["b"].requests) == hits  # nothing tried
    finally:
        stop_gateway(gw)
