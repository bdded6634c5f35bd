"""Two gateway processes sharing limits through one real redis-server: counts and budgets
are shared, never overshot under concurrent load; Redis killed mid-load gives 503s (closed)
or per-instance limits (local), never an unlimited gateway; both recover when it returns."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, clear_of_minute_edge, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.redis_server import RedisServer, redis_running
from tests.fakes.upstream import FakeUpstream

KEY = "sk-test-shared-" + "s" * 24
MESSAGES = [{"role": "user", "content": "shared"}]


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream("up", api_key=KEY).start()
    yield fake
    fake.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    yield from redis_running(workdir)


def _config(upstream: FakeUpstream, redis: RedisServer, **limits: object) -> str:
    return (GatewayConfig()
            .provider("up", "openai", base_url=f"{upstream.url}/v1", secret="env:SHARED_KEY")
            .model("gpt", deployment("up", "gpt-4o-mini"))
            .section("routing", retries=0)
            .section("limits", store="redis", redis_url=f"redis://127.0.0.1:{redis.port}/0",
                     **limits)  # type: ignore[arg-type]
            .toml())


def _pair(tmp: Path, config: str) -> tuple[Gateway, Gateway]:
    # Two hosts: each its own state directory (one request log each), one Redis.
    env = {**os.environ, "SHARED_KEY": KEY}
    first = start_gateway(tmp / "one", config=config,
                          env={**env, "GATEWAY_HOME": str(tmp / "one" / "home")})
    try:
        second = start_gateway(tmp / "two", config=config,
                               env={**env, "GATEWAY_HOME": str(tmp / "two" / "home")})
    except BaseException:
        stop_gateway(first)
        raise
    return first, second


def _post(gw: Gateway, **extra: object) -> int:
    try:
        return httpx.post(gw.url + "/v1/chat/completions",
                          json={"model": "gpt", "messages": MESSAGES, **extra},
                          timeout=10).status_code
    except httpx.HTTPError:
        return 0


def test_two_instances_share_one_rate_limit_under_load(
        upstream: FakeUpstream, redis: RedisServer, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = _pair(tmp_path, _config(upstream, redis, per_key={"rpm": 30}))
    try:
        # Fixed calendar-minute windows: across an edge both minutes would admit 30.
        clear_of_minute_edge()
        before = len(upstream.requests)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(_post, [one, two] * 40))
        assert codes.count(200) == 30, codes  # exactly the limit, across both instances
        assert set(codes) == {200, 429}
        assert len(upstream.requests) - before == 30
    finally:
        stop_gateway(one)
        stop_gateway(two)


def test_a_shared_budget_is_not_overshot_by_more_than_one_request(
        upstream: FakeUpstream, redis: RedisServer, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    # $1000 per million tokens: the fake reports 5 tokens per answer ($0.005); a request
    # asking for 5 output tokens reserves its estimate first (some $0.04).
    config = _config(upstream, redis, per_key={"monthly_budget": 0.05},
                     prices=[{"model": "gpt-4o-mini", "input": 1000.0, "output": 1000.0}])
    one, two = _pair(tmp_path, config)
    try:
        before = len(upstream.requests)
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(lambda gw: _post(gw, max_tokens=5), [one, two] * 50))
        served = len(upstream.requests) - before
        assert codes.count(200) == served and set(codes) == {200, 402}, codes
        # Spent: served x $0.005. Each request reserved its estimate (more than it used)
        # before going upstream, so the budget is never overshot; and it was used: a
        # request was refused only once the spend plus its own estimate would pass it.
        assert served >= 2 and served * 0.005 <= 0.05, served
    finally:
        stop_gateway(one)
        stop_gateway(two)


@pytest.mark.parametrize("policy", ["closed", "local"])
def test_redis_down_is_never_unlimited_and_recovers(
        upstream: FakeUpstream, redis: RedisServer, tmp_path: Path, policy: str) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one, two = _pair(tmp_path, _config(upstream, redis, per_key={"rpm": 5},
                                       on_store_failure=policy))
    try:
        clear_of_minute_edge(25)
        assert _post(one) == 200
        redis.stop()
        codes = [_post(gw) for gw in [one, two] * 6]
        if policy == "closed":
            assert set(codes) == {503}
        else:  # each instance counts alone: at most 5 each, then 429
            assert codes.count(200) <= 10 and 429 in codes
            assert "counting per instance" in one.log()
        redis.start()  # the same port: both reconnect by themselves
        deadline = time.monotonic() + 10
        while "reachable again" not in one.log() or "reachable again" not in two.log():
            assert time.monotonic() < deadline, one.log() + two.log()
            _post(one), _post(two)
            time.sleep(0.2)
        # Shared again (a fresh Redis: counted from its return): 5 across both, then 429.
        codes = [_post(gw) for gw in [one, two] * 4]
        assert codes.count(200) <= 5 and codes[-2:] == [429, 429], codes
    finally:
        stop_gateway(one)
        stop_gateway(two)
