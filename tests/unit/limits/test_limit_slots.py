"""The slots a prepared layout keeps per window are the ones worked out per request: across a
window's edge, out of order, and never from a config that a reload replaced."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.limits import outcome, plan, prepared
from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.model import Counter, Period, Store
from gateway_cli.limits.redis_store import RedisStore
from gateway_cli.limits.slots import Slots
from gateway_cli.limits.stores import open_store
from gateway_cli.providers.operations import Op
from gateway_cli.request.limits import Admission, Limiter
from gateway_cli.routing.table import Deployment, ModelRoute
from tests.fakes.redis_server import redis_running

DEP = Deployment(id="oa/gpt-4o", provider=None, model="gpt-4o", weight=1.0, priority=0,
                 timeout=10.0)
ROUTE = ModelRoute("gpt", "priority", (DEP,), "oa")
WHO = Principal(id="c_1", name="ci", kind="client")
BODY = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
MINUTE_END = 1_767_225_600.0  # 2026-01-01 00:00 UTC: a minute's, a day's and a month's end


def _counters(periods: list[Period]) -> list[Counter]:
    return [Counter(f"k{i}:x", 10, 1, p, f"label {i}") for i, p in enumerate(periods)]


@pytest.mark.parametrize("periods", [["minute"], ["none"], ["minute", "none", "month"],
                                     ["day", "minute", "none", "none", "month"]])
def test_slots_equal_the_windows_at_every_now(periods: list[Period]) -> None:
    rng = random.Random(10)
    counters = _counters(periods)
    kept = Slots([(c.key, c.period) for c in counters])
    edges = [MINUTE_END, 1_769_904_000.0, 1_772_323_200.0]  # 2026-01/02/03-01 UTC
    nows = [e + d for e in edges for d in (-60.0, -1e-6, -0.5, 0.0, 0.25, 59.999, 60.0)]
    nows += [rng.uniform(1.6e9, 1.9e9) for _ in range(200)]
    nows += [MINUTE_END - 1.0 + i / 7 for i in range(20)]  # in order, over an edge
    rng.shuffle(nows[:-20])  # out of order too: a kept window must never answer for another
    for now in nows:
        assert kept.at(now) == outcome.slots(counters, now)


def test_a_kept_list_is_the_callers_to_change() -> None:
    kept = Slots([("a:x", "minute"), ("b:x", "none")])
    first = kept.at(MINUTE_END + 1)
    first[0] = ("changed", 0.0)
    assert kept.at(MINUTE_END + 2) == [(f"a:x@{int(MINUTE_END)}", MINUTE_END + 60),
                                       ("b:x@now", MINUTE_END + 2 + 900.0)]


def _limiter(raw: dict[str, Any], store: Any = None) -> Limiter:
    return Limiter(msgspec.convert(raw, LimitsConfig), store or MemoryStore())


async def _admit(lim: Limiter, now: float, monkeypatch: pytest.MonkeyPatch) -> Admission:
    monkeypatch.setattr(time, "time", lambda: now)
    admission, _ = await lim.admit(WHO, Op.CHAT, BODY, 60, ROUTE)
    assert admission is not None
    return admission


def test_a_request_after_the_minutes_edge_counts_in_the_new_minute(
        monkeypatch: pytest.MonkeyPatch) -> None:
    lim = _limiter({"per_key": {"rpm": 2, "tpm": 10**6, "concurrent": 5}})

    async def go() -> None:
        for _ in range(2):  # the last moments of a minute: its two requests
            last = await _admit(lim, MINUTE_END - 1e-3, monkeypatch)
        assert last.held[0].slot == f"client:ci:requests@{int(MINUTE_END) - 60}"
        assert dict(last.headers)[b"x-ratelimit-remaining-requests"] == b"0"
        assert dict(last.headers)[b"x-ratelimit-reset-requests"] == b"1s"
        # The same prepared layout, the next instant: a new minute, its own slots and room.
        first = await _admit(lim, MINUTE_END, monkeypatch)
        assert [h.slot for h in first.held] == [f"client:ci:requests@{int(MINUTE_END)}",
                                                f"client:ci:tokens@{int(MINUTE_END)}",
                                                "client:ci:inflight@now"]
        assert [h.expires_at for h in first.held] == [MINUTE_END + 60, MINUTE_END + 60,
                                                      MINUTE_END + 900.0]
        assert dict(first.headers)[b"x-ratelimit-remaining-requests"] == b"1"
        assert dict(first.headers)[b"x-ratelimit-reset-requests"] == b"1m0s"
        # Back over the edge (a clock set back): the old minute's slots again (which the
        # store forgot when the minute ended: counting starts afresh in them).
        back = await _admit(lim, MINUTE_END - 0.5, monkeypatch)
        assert back.held[0].slot == f"client:ci:requests@{int(MINUTE_END) - 60}"
        assert back.held[0].expires_at == MINUTE_END

    asyncio.run(go())


def test_a_reload_counts_on_with_the_new_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    old = _limiter({"per_key": {"rpm": 2, "concurrent": 9}})

    async def go() -> None:
        for _ in range(2):
            await _admit(old, MINUTE_END + 1, monkeypatch)
        with pytest.raises(Exception, match="rate limit reached"):
            await _admit(old, MINUTE_END + 2, monkeypatch)
        new = old.reconfigured(msgspec.convert({"per_key": {"rpm": 4, "concurrent": 9}},
                                               LimitsConfig))
        got = await _admit(new, MINUTE_END + 3, monkeypatch)  # the same minute, counted on
        assert dict(got.headers)[b"x-ratelimit-limit-requests"] == b"4"
        assert dict(got.headers)[b"x-ratelimit-remaining-requests"] == b"1"
        await _admit(new, MINUTE_END + 4, monkeypatch)
        with pytest.raises(Exception, match="requests per minute of client key 'ci' is 4"):
            await _admit(new, MINUTE_END + 5, monkeypatch)
        with pytest.raises(Exception, match="is 2;"):  # the old limiter keeps its own
            await _admit(old, MINUTE_END + 6, monkeypatch)

    asyncio.run(go())


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_a_fast_path_grant_equals_the_stores_own(kind: str, tmp_path: Path) -> None:
    """The request path's reservation (kept slots, amounts checked once) and a store's own
    `reserve` leave the same counts and say the same, in every store, across a minute's
    edge and up to a refusal."""
    raw = {"per_key": {"rpm": 3, "tpm": 1000, "concurrent": 9, "monthly_budget": 3.0},
           "prices": [{"model": "gpt-4o", "input": 1.0, "output": 2.0}]}
    ready = prepared.prepare(msgspec.convert(raw, LimitsConfig), WHO, "gpt")
    ask = plan.Ask(100, 50, 0.25)
    chosen = prepared.layout(ready, ask)
    counters = prepared.counters(chosen, ask)
    assert chosen.finite
    stack = contextlib.ExitStack()
    if kind == "redis":
        server = stack.enter_context(contextlib.contextmanager(redis_running)(tmp_path))

    def make(name: str) -> Store:
        if kind == "redis":
            return RedisStore.from_url(f"redis://127.0.0.1:{server.port}/0", prefix=name)
        return open_store(kind, path=tmp_path / f"{name}.db")

    async def go() -> None:
        fast, own = make("fast:"), make("own:")
        answers = []
        for step in range(6):  # two in the old minute, then four in the new: one refused
            now = MINUTE_END - 1.5 + step
            a = await fast.reserve_at(counters, chosen.slots.at(now), now) \
                if not isinstance(fast, MemoryStore) \
                else fast.reserve_now(counters, chosen.slots.at(now), now)
            assert a == await own.reserve(counters, now)
            answers.append(type(a).__name__)
        assert answers == ["Granted"] * 5 + ["Refused"]
        assert await fast.usage(counters, MINUTE_END) == await own.usage(counters, MINUTE_END)
        await fast.close()
        await own.close()

    with stack:
        asyncio.run(go())


def test_a_budget_that_is_not_a_finite_number_is_still_refused_by_the_store() -> None:
    """The fast path skips only what was checked; an infinite budget (a key's own, not
    bounded by the config) takes the store's check and its error, as before."""
    lim = _limiter({"per_key": {"rpm": 5}})
    odd = Principal(id="c_9", name="odd", kind="client", budget=float("inf"))

    async def go() -> None:
        with pytest.raises(ValueError, match="'client:odd:spend': amount and limit must be"):
            await lim.admit(odd, Op.CHAT, BODY, 60, ROUTE)

    asyncio.run(go())
