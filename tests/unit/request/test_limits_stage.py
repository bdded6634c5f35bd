"""The limits stage over a real memory store: refusals in order, Retry-After, the key's own
limits, grace tokens sharing a key's counts, budgets of zero, settling to reported usage."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from gateway_cli.config import LimitsConfig
from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal
from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.tokens import Usage
from gateway_cli.providers.operations import Op
from gateway_cli.request.limits import Limiter, rate_headers
from gateway_cli.routing.table import Deployment, ModelRoute

DEP = Deployment(id="oa/gpt-4o", provider=None, model="gpt-4o", weight=1.0, priority=0,
                 timeout=10.0)
ROUTE = ModelRoute("gpt", "priority", (DEP,), "oa")
BODY: dict[str, Any] = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
APP = Principal(id="c_1", name="app", kind="client", rpm=2)


def limiter(**raw: object) -> Limiter:
    return Limiter(msgspec.convert(raw, LimitsConfig), MemoryStore())


def admit(lim: Limiter, who: Principal, body: dict[str, Any] | None = None) -> Any:
    chosen = dict(body or BODY)
    return asyncio.run(lim.admit(who, Op.CHAT, chosen, len(msgspec.json.encode(chosen)), ROUTE))


def test_nothing_configured_costs_no_reservation() -> None:
    admission, body = admit(limiter(), Principal(id="x", name="x", kind="client"))
    assert admission is None and body == BODY


def test_the_keys_own_rpm_refuses_the_third_with_retry_after() -> None:
    lim = limiter()
    admit(lim, APP)
    second, _ = admit(lim, APP)
    assert dict(second.headers)[b"x-ratelimit-remaining-requests"] == b"0"
    with pytest.raises(HttpError) as info:
        admit(lim, APP)
    assert info.value.status == 429 and info.value.code == "rate_limit_exceeded"
    assert "requests per minute of client key 'app' is 2" in info.value.message
    wait = int(dict(info.value.headers)[b"retry-after"])
    assert 1 <= wait <= 60


def test_grace_tokens_of_one_key_share_its_counts() -> None:
    lim = limiter()
    admit(lim, APP)
    admit(lim, Principal(id="c_2", name="app", kind="client", rpm=2))  # the reissued token
    with pytest.raises(HttpError):
        admit(lim, APP)


def test_a_zero_budget_refuses_with_402_and_when_it_resets() -> None:
    lim = limiter(prices=[{"model": "gpt-4o", "input": 1.0, "output": 1.0}])
    with pytest.raises(HttpError) as info:
        admit(lim, Principal(id="c", name="broke", kind="client", budget=0.0))
    assert info.value.status == 402 and info.value.code == "budget_exceeded"
    assert "resets at" in info.value.message and "UTC" in info.value.message


def test_a_budget_without_a_price_is_refused_not_counted_as_free() -> None:
    lim = limiter(per_key={"monthly_budget": 5.0})
    route = ModelRoute("x", "priority", (Deployment(id="p/unknown-model", provider=None,
                                                    model="unknown-model", weight=1.0,
                                                    priority=0, timeout=1.0),), "p")
    with pytest.raises(HttpError) as info:
        asyncio.run(lim.admit(APP, Op.CHAT, dict(BODY), 100, route))
    assert info.value.status == 403 and info.value.code == "budget_unpriced"


def test_tokens_are_settled_to_the_reported_usage() -> None:
    lim = limiter(per_key={"tpm": 1000})
    who = Principal(id="c", name="t", kind="client")
    admission, _ = admit(lim, who, {**BODY, "max_tokens": 500})
    reserved = admission.ask.tokens
    assert reserved >= 500
    asyncio.run(lim.settle(admission, Usage(input=10, output=20), DEP))
    again, _ = admit(lim, who, {**BODY, "max_tokens": 10})
    tokens = dict(again.headers)[b"x-ratelimit-remaining-tokens"]
    assert 1000 - 30 - again.ask.tokens - 1 <= int(tokens) <= 1000 - 30 - again.ask.tokens


def test_requests_in_flight_are_given_back() -> None:
    lim = limiter(per_key={"concurrent": 1})
    who = Principal(id="c", name="busy", kind="client")
    first, _ = admit(lim, who)
    with pytest.raises(HttpError) as info:
        admit(lim, who)
    assert "requests in flight" in info.value.message
    asyncio.run(lim.settle(first, None, None))
    admit(lim, who)


def test_output_cap_clamps_or_refuses() -> None:
    _, body = admit(limiter(per_key={"max_output_tokens": 100}), APP, {**BODY,
                                                                        "max_tokens": 900})
    assert body["max_tokens"] == 100
    with pytest.raises(HttpError) as info:
        admit(limiter(per_key={"max_output_tokens": 100}, on_excess_output="refuse"), APP,
              {**BODY, "max_tokens": 900})
    assert info.value.status == 400 and info.value.code == "output_tokens_exceeded"


def test_input_cap_refuses_a_long_prompt() -> None:
    long = {**BODY, "messages": [{"role": "user", "content": "word " * 2000}]}
    with pytest.raises(HttpError) as info:
        admit(limiter(per_key={"max_input_tokens": 100}), APP, long)
    assert info.value.code == "input_tokens_exceeded"


def test_rate_headers_pick_the_tightest() -> None:
    from gateway_cli.limits.model import Counter, Remaining

    loose = Remaining(Counter("a:requests", 100, 1, "minute", "a"), 90, 60.0)
    tight = Remaining(Counter("b:requests", 10, 1, "minute", "b"), 2, 30.0)
    headers = dict(rate_headers([loose, tight], 0.0))
    assert headers[b"x-ratelimit-limit-requests"] == b"10"
    assert headers[b"x-ratelimit-remaining-requests"] == b"2"
    assert headers[b"x-ratelimit-reset-requests"] == b"30s"


def test_retry_after_is_the_whole_seconds_until_the_window_ends() -> None:
    from gateway_cli.limits.model import Counter, Refused
    from gateway_cli.limits.windows import window
    from gateway_cli.request.limits import refusal

    counter = Counter("client:app:requests", 1, 1, "minute", "requests per minute of x")
    ends = window("minute", 1000.0)[1]
    waits = [int(dict(refusal(Refused(counter, 1, ends), now).headers)[b"retry-after"])
             for now in (ends - 58.0, ends - 1.0, ends - 0.5, ends)]
    assert waits == [58, 1, 1, 1]  # rounded up, at least 1
