"""What the limits stage works out once per caller and model, and the windows it remembers,
give exactly what working them out per request gave."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import OPEN, Principal
from gateway_cli.limits import plan, prepared, prices, windows
from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.model import Granted, Period
from gateway_cli.limits.tokens import Usage
from gateway_cli.providers.operations import Op
from gateway_cli.request.limits import Limiter
from gateway_cli.routing.table import Deployment, ModelRoute

CONFIGS: list[dict[str, Any]] = [
    {},
    {"per_key": {"rpm": 60, "tpm": 1000, "concurrent": 2}},
    {"per_key": {"rpm": 60, "monthly_budget": 2.0}},
    {"per_key": {"tpm": 10, "max_input_tokens": 50, "max_output_tokens": 20},
     "keys": [{"name": "ci", "rpm": 5, "daily_budget": 3.0}],
     "teams": [{"name": "research", "daily_budget": 20.0, "concurrent": 4}],
     "models": [{"name": "gpt", "rpm": 100, "tpm": 7, "monthly_budget": 500.0}]},
]
CALLERS = [OPEN, Principal(id="c_1", name="ci", kind="client", team="research"),
           Principal(id="c_2", name="ci", kind="token", rpm=3, budget=1.5),
           Principal(id="c_3", name="app", kind="client", team="other", budget=0.0)]
ASKS = [None, plan.Ask(100, 50, 0.25), plan.Ask(7, 0, None)]


@pytest.mark.parametrize("raw", CONFIGS)
def test_prepared_counters_equal_the_plans(raw: dict[str, Any]) -> None:
    config = msgspec.convert(raw, LimitsConfig)
    for caller in CALLERS:
        for model in ("gpt", "other"):
            found = plan.scopes(config, caller, model)
            ready = prepared.prepare(config, caller, model)
            assert ready.found == found
            assert ready.estimate == plan.needs_estimate(found)
            assert ready.price == plan.needs_price(found)
            assert ready.input_cap == plan.input_cap(found)
            assert ready.output_cap == plan.output_cap(found)
            for ask in ASKS:
                chosen = prepared.layout(ready, ask)
                got = prepared.counters(chosen, ask)
                assert got == plan.counters(found, ask)
                assert list(chosen.kinds) == [c.key.rpartition(":")[2] for c in got]
                zero = [i for i, c in enumerate(got) if c.limit <= 0]
                assert chosen.zero == (zero[0] if zero else None)


def test_fixed_counters_are_built_once_and_shared() -> None:
    config = msgspec.convert(CONFIGS[1], LimitsConfig)
    ready = prepared.prepare(config, CALLERS[1], "gpt")
    one = prepared.counters(ready.with_ask, ASKS[1])
    two = prepared.counters(ready.with_ask, plan.Ask(1, 1, None))
    assert one[0] is two[0] and one[2] is two[2]  # requests, in flight
    assert (one[1].amount, two[1].amount) == (150, 2)  # tokens: each request's own


@pytest.mark.parametrize("period", ["minute", "day", "month"])
def test_remembered_windows_equal_the_calendars(period: Period) -> None:
    rng = random.Random(16)
    edges = [1_767_225_600.0, 1_769_904_000.0, 1_772_323_200.0]  # 2026-01/02/03-01 UTC
    nows = [e + d for e in edges for d in (-1e-6, -0.5, 0.0, 0.25, 59.999, 60.0, 86_399.9)]
    nows += [rng.uniform(1.6e9, 1.9e9) for _ in range(300)]
    rng.shuffle(nows)  # out of order: a remembered window must never answer for another
    for now in nows:
        name, start, end = windows._compute(period, now)
        assert start <= now < end
        assert windows.window(period, now) == (name, end)


def test_fresh_cost_is_the_cost_of_usage_without_cache() -> None:
    rng = random.Random(3)
    for _ in range(200):
        price = prices.Price(rng.uniform(0, 80), rng.uniform(0, 8), rng.uniform(0, 200),
                             rng.choice([None, rng.uniform(0, 100)]))
        i, o = rng.randint(-5, 300_000), rng.randint(-5, 100_000)
        assert prices.fresh_cost(i, o, price) == prices.cost(Usage(i, o), price)


def test_granted_remaining_is_worked_out_when_asked() -> None:
    from gateway_cli.limits.model import Counter

    async def go() -> Granted:
        store = MemoryStore()
        return await store.reserve([Counter("a:requests", 10, 1, "minute", "a"),  # type: ignore[return-value]
                                    Counter("a:inflight", 3, 1, "none", "a")], 1000.0)

    got = asyncio.run(go())
    first, gauge = got.remaining
    assert (first.remaining, first.resets_at) == (9, 1020.0)
    assert (gauge.remaining, gauge.resets_at) == (2, 1000.0)


DEP = Deployment(id="oa/gpt-4o", provider=None, model="gpt-4o", weight=1.0, priority=0,
                 timeout=10.0)
ROUTE = ModelRoute("gpt", "priority", (DEP,), "oa")


def test_the_stage_headers_and_settling_are_unchanged_by_the_caches() -> None:
    """Two limiters, one whose caches are warm: the same headers, the same counts."""
    raw = {"per_key": {"rpm": 50, "tpm": 100_000, "concurrent": 3},
           "models": [{"name": "gpt", "rpm": 7}],
           "prices": [{"model": "gpt-4o", "input": 1.0, "output": 2.0}]}
    who = Principal(id="c_1", name="ci", kind="client", budget=100.0)
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi there"}]}

    async def go() -> None:
        lim = Limiter(msgspec.convert(raw, LimitsConfig), MemoryStore())
        per_window: dict[str, int] = {}
        for n in range(1, 8):
            admission, _ = await lim.admit(who, Op.CHAT, body, 60, ROUTE)
            assert admission is not None
            headers = dict(admission.headers)
            if admission.held[4].slot not in per_window:  # a minute just began
                per_window = {admission.held[4].slot: 0}
            per_window[admission.held[4].slot] += 1
            assert headers[b"x-ratelimit-limit-requests"] == b"7"  # the model's, tighter
            assert headers[b"x-ratelimit-remaining-requests"] == \
                str(7 - per_window[admission.held[4].slot]).encode()
            assert headers[b"x-ratelimit-limit-tokens"] == b"100000"
            await lim.settle(admission, Usage(10, 5), DEP)
            used = await lim.store.usage(admission.counters, admission.held[0].expires_at - 1)
            assert used[1] == 15 * per_window[admission.held[4].slot]  # settled to usage
            assert used[2] == 0  # in flight given back
            assert used[3] == pytest.approx(n * (10 * 1.0 + 5 * 2.0) / 1e6)  # this month

    asyncio.run(go())


def test_granted_headers_are_the_tightest_of_the_remaining() -> None:
    """The headers read from a prepared layout equal rate_headers over every Remaining."""
    from gateway_cli.limits.model import Held
    from gateway_cli.request.limits import _granted_headers, rate_headers

    rng = random.Random(22)
    raw = {"per_key": {"rpm": 60, "tpm": 1000, "concurrent": 2},
           "teams": [{"name": "research", "rpm": 30, "tpm": 5000}],
           "models": [{"name": "gpt", "rpm": 100, "tpm": 900, "monthly_budget": 5.0}]}
    ready = prepared.prepare(msgspec.convert(raw, LimitsConfig), CALLERS[1], "gpt")
    chosen = prepared.layout(ready, ASKS[1])
    counters = prepared.counters(chosen, ASKS[1])
    seen = set()
    for _ in range(300):
        now = rng.uniform(1.7e9, 1.8e9)
        values = [rng.choice([0.0, 1.0, c.limit / 2, c.limit, c.limit + 3]) for c in counters]
        held = tuple(Held(f"{c.key}@w", c.amount, now + rng.choice([0.2, 1.0, 59.5, 61.0]))
                     for c in counters)
        got = _granted_headers(chosen.rated, values, held, now)
        assert got == rate_headers(Granted(held, counters, values, now).remaining, now)
        seen.add(dict(got)[b"x-ratelimit-limit-requests"])
    assert seen == {b"60", b"30", b"100"}  # each party's limit was the tightest at times
    assert not chosen.single  # three parties rate requests: the tightest-of search runs


def test_one_partys_headers_skip_the_search_and_say_the_same() -> None:
    """A layout where no kind is rated twice takes the short path, with the same headers
    as rate_headers over every Remaining, resets past a minute and in the past included."""
    from gateway_cli.limits.model import Held
    from gateway_cli.request.limits import _granted_headers, _single_headers, rate_headers

    rng = random.Random(23)
    raw = {"per_key": {"rpm": 60, "tpm": 1000, "concurrent": 2, "monthly_budget": 5.0}}
    ready = prepared.prepare(msgspec.convert(raw, LimitsConfig), CALLERS[1], "gpt")
    chosen = prepared.layout(ready, ASKS[1])
    assert chosen.single and len(chosen.rated) == 2
    counters = prepared.counters(chosen, ASKS[1])
    for _ in range(300):
        now = rng.uniform(1.7e9, 1.8e9)
        values = [rng.choice([0.0, 1.0, c.limit / 2, c.limit, c.limit + 3]) for c in counters]
        held = tuple(Held(f"{c.key}@w", c.amount,
                          now + rng.choice([-3.0, 0.0, 0.2, 1.0, 59.5, 60.0, 61.0, 3600.5]))
                     for c in counters)
        got = _granted_headers(chosen.rated, values, held, now, chosen.single)
        assert got == rate_headers(Granted(held, counters, values, now).remaining, now)
        assert got == _granted_headers(chosen.rated, values, held, now)
        assert got == _single_headers(chosen.headed, values, held, now)  # the admit path's



def test_a_callers_changed_team_or_limits_are_not_served_from_the_cache() -> None:
    raw = {"teams": [{"name": "a", "rpm": 10}, {"name": "b", "rpm": 10}]}
    lim = Limiter(msgspec.convert(raw, LimitsConfig), MemoryStore())
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}

    async def keys(who: Principal) -> list[str]:
        admission, _ = await lim.admit(who, Op.CHAT, body, 60, ROUTE)
        assert admission is not None
        return [c.key for c in admission.counters]

    async def go() -> None:
        assert await keys(Principal(id="c_1", name="ci", kind="client", team="a")) == \
            ["team:a:requests"]
        # The same key moved to team b (a reloaded key table): b's counter, not a's.
        assert await keys(Principal(id="c_1", name="ci", kind="client", team="b")) == \
            ["team:b:requests"]
        # Given an rpm of its own: its own counter comes first.
        assert await keys(Principal(id="c_1", name="ci", kind="client", team="a", rpm=5)) \
            == ["client:ci:requests", "team:a:requests"]
        # A token of the same name is another party.
        assert await keys(Principal(id="t_1", name="ci", kind="token", rpm=5)) \
            == ["token:ci:requests"]

    asyncio.run(go())
