"""The SQLite store decides as the memory store does, on its one-statement paths and the
read-then-write ones: the same grants, refusals, values and clamping, over a long random
run with windows ending, slots forgotten and adjustments of every sign, written at once or
queued for the next transaction (`adjust_soon`)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.model import Counter, Granted, Held, Period, Refused
from gateway_cli.limits.sqlite_store import SqliteStore
from gateway_cli.limits.windows import GAUGE_TTL

START = 1_767_225_600.0  # a minute, day and month edge: 2026-01-01 00:00 UTC
KEYS: list[tuple[str, Period]] = [("k:req", "minute"), ("k:tok", "minute"), ("k:day", "day"),
                                  ("k:usd", "month"), ("k:fly", "none"), ("t:req", "minute")]


def outcome_of(got: Granted | Refused) -> tuple[object, ...]:
    if isinstance(got, Refused):
        return ("refused", got.counter.key, got.used, got.resets_at)
    return ("granted", tuple(got.values), got.held, got.remaining)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sqlite_agrees_with_memory_over_a_random_run(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)

    async def run() -> None:
        memory, sqlite = MemoryStore(), SqliteStore(tmp_path / "limits.sqlite")
        held: list[Held] = []
        failures: list[Exception] = []
        now = START - 30
        try:
            for _ in range(600):
                now += rng.choice([0.0, 0.5, 7.0, 61.0, GAUGE_TTL / 3])
                if held and rng.random() < 0.35:
                    # With repeats: one slot adjusted twice in a call, clamped after each.
                    picked = rng.choices(held, k=rng.randint(1, 4))
                    changes = [(h, rng.choice([-1.0, -2.5, 0.0, 3.0, 0.25])) for h in picked]
                    await memory.adjust(changes)
                    if rng.random() < 0.5:
                        await sqlite.adjust(changes)
                    else:  # queued: written by the next reservation, usage or adjust
                        sqlite.adjust_soon(changes, failures.append)
                else:
                    chosen = rng.sample(KEYS, rng.randint(1, 4))
                    counters = [Counter(k, rng.choice([1, 2, 5, 10.5]),
                                        rng.choice([1, 0.5, 2, 0.1]), p, k)
                                for k, p in chosen]
                    a = await memory.reserve(counters, now)
                    b = await sqlite.reserve(counters, now)
                    assert outcome_of(a) == outcome_of(b)
                    if isinstance(a, Granted):
                        held += a.held
                        held = held[-12:]
                if rng.random() < 0.05:
                    sqlite.sweep(now)  # the memory store forgets as it goes
                if rng.random() < 0.3:
                    probe = [Counter(k, 1, 1, p, k) for k, p in KEYS]
                    assert await memory.usage(probe, now) == await sqlite.usage(probe, now)
            assert failures == []
        finally:
            await memory.close()
            await sqlite.close()

    asyncio.run(run())


def test_adjusting_a_forgotten_slot_counts_only_what_was_added(tmp_path: Path) -> None:
    async def run() -> None:
        store = SqliteStore(tmp_path / "limits.sqlite")
        try:
            gone = Held("k:gone@now", 1.0, START + 100)
            kept = Held("k:kept@now", 1.0, START + 100)
            await store.reserve([Counter("k:kept", 10, 4, "none", "kept")], START - 800)
            assert store.sweep(START) == 0  # kept expires at START - 800 + GAUGE_TTL
            await store.adjust([(gone, -1.0), (kept, -1.0)])  # gone: nothing written
            rows = store._db.execute("SELECT slot, value, expires_at FROM counters").fetchall()
            assert rows == [("k:kept@now", 3.0, START - 800 + GAUGE_TTL)]
            await store.adjust([(gone, 2.0), (kept, -9.0)])  # gone: written until it ends
            rows = store._db.execute(
                "SELECT slot, value, expires_at FROM counters ORDER BY slot").fetchall()
            assert rows == [("k:gone@now", 2.0, START + 100),
                            ("k:kept@now", 0.0, START - 800 + GAUGE_TTL)]
        finally:
            await store.close()

    asyncio.run(run())


def test_a_refused_reservation_leaves_every_slot_as_it_was(tmp_path: Path) -> None:
    async def run() -> None:
        store = SqliteStore(tmp_path / "limits.sqlite")
        try:
            room = Counter("k:room", 100, 5, "minute", "room")
            full = Counter("k:full", 1, 1, "month", "full")
            assert isinstance(await store.reserve([full], START), Granted)
            refused = await store.reserve([room, full], START)
            assert refused == Refused(full, 1.0, 1_769_904_000.0)  # used before: 1, not 2
            assert await store.usage([room, full], START) == [0.0, 1.0]
        finally:
            await store.close()

    asyncio.run(run())
