"""Limits through the real server with the official SDKs: rates, tokens, requests in flight,
budgets, per-request caps, deployment capacity; only requests that reach a model count."""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from tests.conftest import Gateway, clear_of_minute_edge, stop_gateway
from tests.fakes.config import GatewayConfig, deployment
from tests.fakes.upstream import FakeUpstream, ok
from tests.integration.test_client_keys import Home, create_client, make_home

KEY = "sk-test-limits-" + "l" * 24
MESSAGES = [{"role": "user", "content": "count me"}]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    started = {"a": FakeUpstream("a", api_key=KEY).start(),
               "b": FakeUpstream("b", api_key=KEY).start(),
               "an": FakeUpstream("an", api_key=KEY, kind="anthropic").start()}
    yield started
    for fake in started.values():
        fake.stop()


@pytest.fixture(autouse=True)
def _reset(fakes: dict[str, FakeUpstream]) -> None:
    for fake in fakes.values():
        fake.clear()


def _config(fakes: dict[str, FakeUpstream], **limits: object) -> str:
    cfg = (GatewayConfig()
           .provider("a", "openai", base_url=f"{fakes['a'].url}/v1", secret="env:LIMITS_KEY")
           .provider("b", "openai", base_url=f"{fakes['b'].url}/v1", secret="env:LIMITS_KEY")
           .provider("an", "anthropic", base_url=fakes["an"].url, secret="env:LIMITS_KEY")
           .model("gpt", deployment("a", "gpt-4o-mini"))
           .model("pair", deployment("a", "gpt-4o", priority=0, rpm=1),
                  deployment("b", "gpt-4o", priority=1))
           .model("claude", deployment("an", "claude-sonnet-4-5"))
           .model("narrow", deployment("a", "gpt-4.1", priority=0, concurrent=1),
                  deployment("b", "gpt-4.1", priority=1))
           .section("routing", retries=0))
    if limits:
        cfg.section("limits", **limits)  # type: ignore[arg-type]
    return cfg.toml()


def _serve(home: Home, tmp: Path, config: str) -> Gateway:
    home.env["LIMITS_KEY"] = KEY
    return home.serve(tmp, config=config)


def _sdk(gw: Gateway, token: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=token, max_retries=0)


def _chat(client: openai.OpenAI, model: str = "gpt", **extra: object) -> str:
    answer = client.chat.completions.create(model=model, messages=MESSAGES, **extra)  # type: ignore[call-overload]
    return str(answer.choices[0].message.content)


def test_requests_per_minute_with_headers_and_retry_after(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    home = make_home(tmp_path)
    token = create_client(home, "ci")
    scoped = create_client(home, "scoped", "--models", "gpt", "--rpm", "1")
    gw = _serve(home, tmp_path, _config(fakes, per_key={"rpm": 2}))
    try:
        clear_of_minute_edge()
        client = _sdk(gw, token)
        raw = client.chat.completions.with_raw_response.create(model="gpt",
                                                               messages=MESSAGES)  # type: ignore[arg-type]
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == "1"
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        # Neither a model listing nor a refusal before the model counts.
        client.models.list()
        with pytest.raises(openai.NotFoundError):
            _chat(client, "no-such-model")
        assert _chat(client) == "a: count me"
        with pytest.raises(openai.RateLimitError) as info:
            _chat(client)
        assert info.value.code == "rate_limit_exceeded"
        assert "requests per minute of client key 'ci'" in info.value.message
        assert 1 <= int(info.value.response.headers["retry-after"]) <= 60
        # The key's own --rpm wins over the default; a 403 for another model costs nothing.
        limited = _sdk(gw, scoped)
        with pytest.raises(openai.PermissionDeniedError):
            _chat(limited, "claude")
        assert _chat(limited) == "a: count me"
        with pytest.raises(openai.RateLimitError):
            _chat(limited)
        # The anthropic SDK hears the same in its own format.
        other = create_client(home, "other", "--rpm", "1")
        # (created while serving: `clients create` told the running gateway at once)
        messages = anthropic.Anthropic(base_url=gw.url, api_key=other, max_retries=0)
        messages.messages.create(model="claude", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]
        with pytest.raises(anthropic.RateLimitError) as refused:
            messages.messages.create(model="claude", max_tokens=20, messages=MESSAGES)  # type: ignore[arg-type]
        assert refused.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    finally:
        stop_gateway(gw)


def test_budgets_are_enforced_and_a_zero_budget_refuses(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    home = make_home(tmp_path)
    broke = create_client(home, "broke", "--budget", "0")
    spender = create_client(home, "spender", "--budget", "0.0005")
    gw = _serve(home, tmp_path, _config(
        fakes, prices=[{"model": "gpt-4o-mini", "input": 10.0, "output": 10.0}]))
    before = len(fakes["a"].requests)
    try:
        with pytest.raises(openai.APIStatusError) as info:
            _chat(_sdk(gw, broke))
        assert info.value.status_code == 402
        assert info.value.code == "budget_exceeded"
        assert "monthly budget of client key 'broke'" in info.value.message
        assert len(fakes["a"].requests) == before  # refused before it went upstream
        # $10 per million tokens: a request of some 20 tokens costs about $0.0002, so the
        # $0.0005 budget pays for a few, settled at the usage the provider reported.
        spend = _sdk(gw, spender)
        outcomes = []
        for _ in range(8):
            try:
                _chat(spend, max_tokens=5)
                outcomes.append("ok")
            except openai.APIStatusError as err:
                assert err.status_code == 402 and err.code == "budget_exceeded"
                outcomes.append("refused")
        assert outcomes[:2] == ["ok", "ok"] and outcomes[-1] == "refused", outcomes
        assert "ok" not in outcomes[outcomes.index("refused"):]  # spent stays spent
        assert len(fakes["a"].requests) - before == outcomes.count("ok")
    finally:
        stop_gateway(gw)


def test_max_output_tokens_is_clamped_or_refused(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    home = make_home(tmp_path)
    token = create_client(home, "ci")
    gw = _serve(home, tmp_path, _config(fakes, per_key={"max_output_tokens": 100}))
    try:
        _chat(_sdk(gw, token), max_tokens=5000)
        assert fakes["a"].requests[-1].json["max_tokens"] == 100
        _chat(_sdk(gw, token))
        sent = fakes["a"].requests[-1].json
        assert (sent.get("max_completion_tokens") or sent.get("max_tokens")) == 100
    finally:
        stop_gateway(gw)
    gw = _serve(home, tmp_path, _config(fakes, per_key={"max_output_tokens": 100},
                                        on_excess_output="refuse"))
    try:
        with pytest.raises(openai.BadRequestError) as info:
            _chat(_sdk(gw, token), max_tokens=5000)
        assert info.value.code == "output_tokens_exceeded"
    finally:
        stop_gateway(gw)


def test_tokens_per_minute_count_streamed_usage(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    home = make_home(tmp_path)
    token = create_client(home, "ci")
    gw = _serve(home, tmp_path, _config(fakes, per_key={"tpm": 400}))
    try:
        clear_of_minute_edge()
        client = _sdk(gw, token)
        events = list(client.chat.completions.create(model="gpt", messages=MESSAGES,  # type: ignore[arg-type]
                                                     stream=True, max_tokens=50))
        # The gateway asked upstream for usage; the client, which did not, gets no usage chunk.
        assert fakes["a"].requests[-1].json["stream_options"] == {"include_usage": True}
        assert all(e.usage is None for e in events) and all(e.choices for e in events)
        text = "".join(e.choices[0].delta.content or "" for e in events)
        assert text == "a: count me"
        # Settled to the reported usage, far below the 50 reserved: more requests fit.
        raw = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES,  # type: ignore[arg-type]
                                                               max_tokens=50)
        remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
        assert 200 < remaining < 400
        with pytest.raises(openai.RateLimitError):
            _chat(client, max_tokens=1000)
    finally:
        stop_gateway(gw)


def test_requests_in_flight(fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    home = make_home(tmp_path)
    token = create_client(home, "ci")
    gw = _serve(home, tmp_path, _config(fakes, per_key={"concurrent": 1}))
    try:
        fakes["a"].script(ok(delay=1.0))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            slow = pool.submit(_chat, _sdk(gw, token))
            time.sleep(0.3)
            with pytest.raises(openai.RateLimitError) as info:
                _chat(_sdk(gw, token))
            assert "requests in flight" in info.value.message
            assert slow.result(timeout=10) == "a: count me"
        assert _chat(_sdk(gw, token)) == "a: count me"  # given back when it ended
    finally:
        stop_gateway(gw)


def test_a_deployment_at_capacity_fails_over(fakes: dict[str, FakeUpstream],
                                             tmp_path: Path) -> None:
    gw = _serve(make_home(tmp_path), tmp_path, _config(fakes))
    try:
        clear_of_minute_edge()
        first = httpx.post(gw.url + "/v1/chat/completions",
                           json={"model": "pair", "messages": MESSAGES}, timeout=10)
        second = httpx.post(gw.url + "/v1/chat/completions",
                            json={"model": "pair", "messages": MESSAGES}, timeout=10)
        assert first.headers["x-gateway-deployment"] == "a/gpt-4o"
        assert second.status_code == 200
        assert second.headers["x-gateway-deployment"] == "b/gpt-4o"
    finally:
        stop_gateway(gw)


def test_a_deployment_with_a_call_in_flight_passes_the_next_to_the_fallback(
        fakes: dict[str, FakeUpstream], tmp_path: Path) -> None:
    gw = _serve(make_home(tmp_path), tmp_path, _config(fakes))

    def ask() -> httpx.Response:
        return httpx.post(gw.url + "/v1/chat/completions",
                          json={"model": "narrow", "messages": MESSAGES}, timeout=10)
    try:
        fakes["a"].script(ok(delay=1.0))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            slow = pool.submit(ask)
            time.sleep(0.3)
            second = ask()
            assert second.status_code == 200
            assert second.headers["x-gateway-deployment"] == "b/gpt-4.1"
            assert slow.result(timeout=10).headers["x-gateway-deployment"] == "a/gpt-4.1"
        # Given back when the attempt ended: the next call goes to the primary again.
        assert ask().headers["x-gateway-deployment"] == "a/gpt-4.1"
    finally:
        stop_gateway(gw)


def test_no_secret_of_the_limits_store_in_the_log(fakes: dict[str, FakeUpstream],
                                                  tmp_path: Path) -> None:
    home = make_home(tmp_path)
    home.env["LIMITS_REDIS_PASSWORD"] = "redis-pass-" + "p" * 20
    limits: dict[str, object] = {
        "store": "redis", "redis_url": "redis://127.0.0.1:9/0",
        "redis_password": "env:LIMITS_REDIS_PASSWORD", "per_key": {"rpm": 5}}
    # Closed: with the shared client-key table out of reach, the gateway does not start.
    with pytest.raises(RuntimeError) as info:
        _serve(home, tmp_path, _config(fakes, **limits))
    assert "cannot load the shared client-key table" in str(info.value)
    assert "redis-pass-" not in str(info.value)
    # Local: it starts on its own table and counts per instance, the password still unseen.
    gw = _serve(home, tmp_path, _config(fakes, **limits, on_store_failure="local"))
    try:
        served = httpx.post(gw.url + "/v1/chat/completions",
                            json={"model": "gpt", "messages": MESSAGES}, timeout=10)
        assert served.status_code == 200, served.text
        assert environ_of(gw).count(b"redis-pass-") == 0
    finally:
        stop_gateway(gw)
    assert "redis-pass-" not in gw.log()


def environ_of(gw: Gateway) -> bytes:
    return Path(f"/proc/{gw.process.pid}/environ").read_bytes() if os.path.exists(
        f"/proc/{gw.process.pid}/environ") else b""
