"""SQLite's settlements carried by its next transaction (sqlite_store.py, `adjust_soon`).

A request's settlement is queued rather than written in a transaction of its own:
these tests hold the store to what makes that safe. This process never decides
on counts without it (the next reservation applies it first, also when that
reservation is refused); other processes sharing the file see it within
SETTLE_DELAY, or at once after `usage` or `close`; a settlement that cannot be
written is reported, as a failed `adjust` is. Another SqliteStore on the same
file stands for another worker.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

import msgspec

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.limits import sqlite_store
from gateway_cli.limits.model import Counter, Granted, Held, Refused, StoreUnavailable
from gateway_cli.limits.sqlite_store import SqliteStore
from gateway_cli.limits.tokens import Usage
from gateway_cli.providers.operations import Op
from gateway_cli.request.limits import Limiter
from gateway_cli.routing.table import Deployment, ModelRoute

GAUGE = Counter("k:gauge:inflight", 1, 1, "none", "requests in flight of k")
FULL = Counter("k:full:requests", 1, 1, "minute", "requests per minute of k")


def now() -> float:
    return float(int(time.time()) // 60 * 60) + 5


def test_the_next_reservation_applies_a_queued_settlement_first(tmp_path: Path) -> None:
    async def main() -> None:
        here, other = SqliteStore(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
        t = now()
        first = await here.reserve([GAUGE], t)
        assert isinstance(first, Granted)
        here.adjust_soon([(first.held[0], -1.0)], lambda exc: None)
        assert await other.usage([GAUGE], t) == [1.0]  # queued, not written yet
        # The only place in flight was given back: this process admits the next at once.
        again = await here.reserve([GAUGE], t)
        assert isinstance(again, Granted)
        assert await other.usage([GAUGE], t) == [1.0]  # given back, then taken again
        await here.close()
        await other.close()

    asyncio.run(main())


def test_a_refused_reservation_still_writes_the_queued_settlements(tmp_path: Path) -> None:
    async def main() -> None:
        here, other = SqliteStore(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
        t = now()
        held = await here.reserve([GAUGE, FULL], t)
        assert isinstance(held, Granted)
        here.adjust_soon([(held.held[0], -1.0)], lambda exc: None)
        refused = await here.reserve([FULL], t)
        assert isinstance(refused, Refused) and refused.counter == FULL
        assert await other.usage([GAUGE, FULL], t) == [0.0, 1.0]
        await here.close()
        await other.close()

    asyncio.run(main())


def test_queued_settlements_reach_other_processes_within_the_delay(tmp_path: Path) -> None:
    async def main() -> None:
        here, other = SqliteStore(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
        t = now()
        got = await here.reserve([GAUGE], t)
        assert isinstance(got, Granted)
        here.adjust_soon([(got.held[0], -1.0)], lambda exc: None)
        await asyncio.sleep(sqlite_store.SETTLE_DELAY * 10)
        assert await other.usage([GAUGE], t) == [0.0]
        await here.close()
        await other.close()

    asyncio.run(main())


def test_usage_and_close_write_what_is_queued(tmp_path: Path) -> None:
    async def main() -> None:
        here, other = SqliteStore(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
        t = now()
        got = await here.reserve([GAUGE, FULL], t)
        assert isinstance(got, Granted)
        here.adjust_soon([(got.held[1], 4.0)], lambda exc: None)
        assert await here.usage([FULL], t) == [5.0]
        here.adjust_soon([(got.held[0], -1.0), (got.held[1], -2.0)], lambda exc: None)
        await here.close()
        assert await other.usage([GAUGE, FULL], t) == [0.0, 3.0]
        await other.close()

    asyncio.run(main())


DEP = Deployment(id="oa/gpt", provider=None, model="gpt", weight=1.0, priority=0, timeout=10.0)
ROUTE = ModelRoute("gpt", "priority", (DEP,), "oa")
KEY = Principal(id="c_1", name="app", kind="client")
BODY = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}
TWO_IN_FLIGHT = msgspec.convert({"per_key": {"concurrent": 2, "tpm": 10**6}}, LimitsConfig)


def test_the_limiter_queues_while_others_are_under_way_and_writes_at_once_when_idle(
        tmp_path: Path) -> None:
    async def main() -> None:
        store, other = SqliteStore(tmp_path / "l.db"), SqliteStore(tmp_path / "l.db")
        limiter = Limiter(TWO_IN_FLIGHT, store)
        first, _ = await limiter.admit(KEY, Op.CHAT, BODY, 60, ROUTE)
        second, _ = await limiter.admit(KEY, Op.CHAT, BODY, 60, ROUTE)
        gauge = [c for c in first.counters if c.key.endswith(":inflight")]
        t = time.time()
        assert await other.usage(gauge, t) == [2.0]
        await limiter.settle(first, Usage(10, 5), DEP)  # the second is under way: queued
        assert await other.usage(gauge, t) == [2.0]
        await limiter.settle(second, Usage(10, 5), DEP)  # the last: written with the queue
        assert await other.usage(gauge, t) == [0.0]
        await store.close()
        await other.close()

    asyncio.run(main())


def test_a_settlement_that_cannot_be_written_is_counted_as_a_store_failure(
        tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "l.db", busy_timeout=0.05)
        limiter = Limiter(TWO_IN_FLIGHT, store)
        first, _ = await limiter.admit(KEY, Op.CHAT, BODY, 60, ROUTE)
        second, _ = await limiter.admit(KEY, Op.CHAT, BODY, 60, ROUTE)
        holder = os.open(tmp_path / "l.db.lock", os.O_RDWR)  # another writer never lets go
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            await limiter.settle(first, Usage(10, 5), DEP)
            assert limiter.store_failures == 0  # queued
            await asyncio.sleep(sqlite_store.SETTLE_DELAY + 0.2)
            assert limiter.store_failures == 1
        finally:
            os.close(holder)
        await limiter.settle(second, Usage(10, 5), DEP)  # written: nothing failed again
        assert limiter.store_failures == 1
        gauge = [c for c in second.counters if c.key.endswith(":inflight")]
        # The failed settlement was dropped, as a failed adjust's is: its place stays held.
        assert await store.usage(gauge, time.time()) == [1.0]
        await store.close()

    asyncio.run(main())


def test_bad_deltas_are_refused_before_they_are_queued(tmp_path: Path) -> None:
    async def main() -> None:
        store = SqliteStore(tmp_path / "l.db")
        held = Held("k:x@now", 1.0, now() + 60)
        for bad in (float("nan"), float("inf")):
            try:
                store.adjust_soon([(held, bad)], lambda exc: None)
            except ValueError as exc:
                assert "finite" in str(exc)
            else:
                raise AssertionError(f"{bad} was queued")
        await store.close()

    asyncio.run(main())


def test_a_store_failure_callback_gets_the_error(tmp_path: Path) -> None:
    errors: list[StoreUnavailable] = []

    async def main() -> None:
        store = SqliteStore(tmp_path / "l.db", busy_timeout=0.05)
        held = Held("k:x@now", 1.0, now() + 60)
        holder = os.open(tmp_path / "l.db.lock", os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            store.adjust_soon([(held, 1.0)], errors.append)
            store.flush()
        finally:
            os.close(holder)
        await store.close()

    asyncio.run(main())
    assert len(errors) == 1 and "writers' turn" in str(errors[0])
