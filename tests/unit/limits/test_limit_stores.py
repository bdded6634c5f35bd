"""The stores behind rate limits and budgets: memory, SQLite and Redis, one suite for all three.

Redis is a real redis-server on a free loopback port, started here in a temp
dir (no persistence) and killed at the end; without redis-server those tests
skip, except under CI=true where they fail. Misbehaving servers (garbage,
a closed connection, silence) are small asyncio servers in the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from gateway_cli.limits import outcome, resp
from gateway_cli.limits.memory_store import MemoryStore
from gateway_cli.limits.model import Counter, Granted, Period, Refused, Store, StoreUnavailable
from gateway_cli.limits.redis_store import RedisStore
from gateway_cli.limits.sqlite_store import PAGE_SIZE, SqliteStore
from gateway_cli.limits.stores import open_store
from gateway_cli.limits.windows import GAUGE_TTL
from tests.conftest import ROOT, free_port
from tests.fakes.redis_server import RedisServer, redis_running

# Each test on both loops the served gateway can run on (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("on_each_loop")

T = TypeVar("T")
PASSWORD = "pw-" + uuid.uuid4().hex  # what must never show up in an error


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro
    return asyncio.run(main())


def minute_start() -> float:
    """A `now` 5 s into the current minute: real time, so Redis TTLs make sense."""
    return float(int(time.time()) // 60 * 60) + 5


def counter(key: str, limit: float, amount: float = 1, period: Period = "minute") -> Counter:
    return Counter(key, limit, amount, period, f"{key} ({period})")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One server shared by the module's tests; each test uses its own key prefix."""
    yield from redis_running(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of this test's own, to kill, pause and restart."""
    yield from redis_running(tmp_path)


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[RedisServer]:
    yield from redis_running(tmp_path, PASSWORD)


# --- one suite over the three stores ------------------------------------------------------

@dataclass
class Backend:
    kind: str
    make: Callable[[], Store]  # another instance on the same data (memory: a new, empty one)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind = request.param
    if kind == "memory":
        return Backend(kind, MemoryStore)
    if kind == "sqlite":
        return Backend(kind, lambda: SqliteStore(tmp_path / "limits.db"))
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = f"t{uuid.uuid4().hex[:8]}:"
    # Semantics, not the production 0.5 s command timeout: 300 reserves queued on one
    # connection of a loaded CI machine once waited longer than that.
    return Backend(kind, lambda: RedisStore("127.0.0.1", server.port, prefix=prefix,
                                            command_timeout=5.0))


def with_store(backend: Backend, body: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        store = backend.make()
        try:
            return await body(store)
        finally:
            await store.close()
    return asyncio.run(main())


def test_admits_up_to_the_limit_then_refuses_naming_the_counter(backend: Backend) -> None:
    now = minute_start()
    rpm = counter("key:a:requests:minute", 3)
    gauge = counter("key:a:inflight", 2, period="none")

    async def body(store: Store) -> None:
        for i in range(3):
            got = await store.reserve([rpm], now + i)
            assert isinstance(got, Granted)
            assert got.remaining[0].remaining == pytest.approx(2 - i)
            assert got.remaining[0].resets_at == now - 5 + 60
            assert got.held[0].amount == 1 and got.held[0].expires_at == now - 5 + 60
        refused = await store.reserve([rpm], now + 10)
        assert refused == Refused(rpm, 3.0, now - 5 + 60)

        assert isinstance(await store.reserve([gauge], now), Granted)
        got = await store.reserve([gauge], now)
        assert isinstance(got, Granted)
        assert got.remaining[0].resets_at == now  # a gauge: now
        assert got.held[0].expires_at == now + GAUGE_TTL
        refused = await store.reserve([gauge], now + 2)
        assert refused == Refused(gauge, 2.0, now + 3)  # a gauge: now + 1

    with_store(backend, body)


def test_all_or_nothing_and_the_first_counter_without_room_is_named(backend: Backend) -> None:
    now = minute_start()
    one = counter("k:1", 10, 2)
    two = counter("k:2", 10, 3, "day")
    three = counter("k:3", 1, 1, "month")
    four = counter("k:4", 0, 1, "none")

    async def body(store: Store) -> None:
        assert isinstance(await store.reserve([three], now), Granted)
        refused = await store.reserve([one, two, three, four], now)
        assert isinstance(refused, Refused) and refused.counter == three
        assert refused.used == 1.0
        assert await store.usage([one, two, three, four], now) == [0.0, 0.0, 1.0, 0.0]
        # Both 3 and 4 are full: the first in the order given is named.
        refused = await store.reserve([one, four, two, three], now)
        assert isinstance(refused, Refused) and refused.counter == four
        got = await store.reserve([one, two], now)
        assert isinstance(got, Granted)
        assert await store.usage([one, two, three], now) == [2.0, 3.0, 1.0]

    with_store(backend, body)


def test_adjust_corrects_amounts_and_gives_back_gauges(backend: Backend) -> None:
    now = minute_start()
    tokens = counter("k:tokens", 1000, 400)
    spend = counter("k:spend", 5.0, 0.5, "month")
    inflight = counter("k:inflight", 1, 1, "none")

    async def body(store: Store) -> None:
        got = await store.reserve([tokens, spend, inflight], now)
        assert isinstance(got, Granted)
        assert isinstance(await store.reserve([inflight], now), Refused)
        tokens_held, spend_held, inflight_held = got.held
        # The answer used 250 tokens and cost 0.75: correct both, give the gauge back.
        await store.adjust([(tokens_held, -150), (spend_held, 0.25), (inflight_held, -1)])
        assert await store.usage([tokens, spend, inflight], now) == pytest.approx([250, 0.75, 0])
        assert isinstance(await store.reserve([inflight], now), Granted)
        # Giving back more than is held stops at zero (e.g. a store that lost the slot).
        await store.adjust([(inflight_held, -1), (inflight_held, -1)])
        assert await store.usage([inflight], now) == [0.0]
        # Adding to a slot that is gone counts it again.
        other = counter("k:gone", 10, 1)
        held = (await store.reserve([other], now)).held[0]  # type: ignore[union-attr]
        await store.adjust([(held, -5)])
        await store.adjust([(held, 2)])
        assert await store.usage([other], now) == [2.0]
        await store.adjust([])

    with_store(backend, body)


def test_windows_roll_over(backend: Backend) -> None:
    now = minute_start()
    rpm = counter("k:rpm", 1)
    per_day = counter("k:day", 1, 1, "day")

    async def body(store: Store) -> None:
        assert isinstance(await store.reserve([rpm, per_day], now), Granted)
        refused = await store.reserve([rpm], now + 30)
        assert isinstance(refused, Refused) and refused.resets_at == now - 5 + 60
        assert isinstance(await store.reserve([rpm], now + 55), Granted)  # the next minute
        assert await store.usage([rpm], now + 55) == [1.0]
        refused = await store.reserve([per_day], now + 60)
        assert isinstance(refused, Refused) and refused.resets_at % 86400 == 0
        assert isinstance(await store.reserve([per_day], refused.resets_at), Granted)

    with_store(backend, body)


def test_usage_of_counters_never_used_is_zero(backend: Backend) -> None:
    now = minute_start()

    async def body(store: Store) -> None:
        assert await store.usage([counter("k:x", 1), counter("k:y", 1, 1, "none")], now) \
            == [0.0, 0.0]
        assert await store.usage([], now) == []
        assert await store.reserve([], now) == Granted((), ())

    with_store(backend, body)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_number_that_is_not_finite_is_refused_and_nothing_changes(
        backend: Backend, bad: float) -> None:
    """NaN or an infinity would poison a counter for the rest of its window: a reservation
    or an adjustment holding one fails whole, naming the counter or slot."""
    now = minute_start()
    tokens, gauge = counter("k:tokens", 100, 10), counter("k:inflight", 5, 1, "none")

    async def body(store: Store) -> None:
        got = await store.reserve([tokens, gauge], now)
        assert isinstance(got, Granted)
        with pytest.raises(ValueError, match="'k:spend': amount and limit must be finite"):
            await store.reserve([tokens, counter("k:spend", 5, bad)], now)
        with pytest.raises(ValueError, match="'k:spend': amount and limit must be finite"):
            await store.reserve([gauge, counter("k:spend", bad, 1)], now)
        with pytest.raises(ValueError, match=r"slot 'k:inflight@now': an adjustment must be"):
            await store.adjust([(got.held[0], -4.0), (got.held[1], bad)])
        assert await store.usage([tokens, gauge], now) == [10.0, 1.0]  # none of it counted

    with_store(backend, body)


def test_float_amounts_reach_a_budget_exactly(backend: Backend) -> None:
    now = minute_start()
    budget = counter("k:usd", 1.0, 0.1, "month")

    async def body(store: Store) -> None:
        granted = 0
        for _ in range(12):
            if isinstance(await store.reserve([budget], now), Granted):
                granted += 1
        assert granted == 10  # 0.1 ten times is 0.9999999999999999: still within 1.0
        assert (await store.usage([budget], now))[0] == pytest.approx(1.0)
        refused = await store.reserve([counter("k:usd", 1.0, 0.0001, "month")], now)
        assert isinstance(refused, Refused) and refused.used == pytest.approx(1.0)

    with_store(backend, body)


def test_bad_numbers_are_refused_before_the_store(backend: Backend) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(ValueError, match="finite"):
            await store.reserve([counter("k:nan", 1, float("nan"))], minute_start())

    with_store(backend, body)


def test_concurrent_reservations_never_exceed_the_limit(backend: Backend) -> None:
    now = minute_start()
    limit = counter("k:race", 50)

    async def body(store: Store) -> None:
        results = await asyncio.gather(*(store.reserve([limit], now) for _ in range(200)))
        assert sum(isinstance(r, Granted) for r in results) == 50
        assert await store.usage([limit], now) == [50.0]

    with_store(backend, body)


@pytest.mark.parametrize("backend", ["sqlite", "redis"], indirect=True)  # memory: not shared
def test_two_instances_share_counts_and_never_overshoot(backend: Backend) -> None:
    now = minute_start()
    rpm = counter("k:shared", 100)
    tokens = counter("k:shared-tokens", 1e9, 10)

    async def main() -> None:
        first, second = backend.make(), backend.make()
        try:
            assert isinstance(await first.reserve([rpm], now), Granted)
            assert await second.usage([rpm], now) == [1.0]

            async def one(i: int) -> Granted | Refused:
                return await (first if i % 2 else second).reserve([tokens, rpm], now)

            results = await asyncio.gather(*(one(i) for i in range(300)))
            granted = sum(isinstance(r, Granted) for r in results)
            assert granted == 99
            assert await first.usage([rpm, tokens], now) == [100.0, 990.0]
        finally:
            await first.close()
            await second.close()

    run(main())


# --- memory -------------------------------------------------------------------------------

def test_memory_store_forgets_expired_slots() -> None:
    now = minute_start()

    async def main() -> None:
        store = MemoryStore()
        for i in range(5000):
            await store.reserve([counter(f"k:{i}", 10)], now)
        assert len(store) == 5000
        later = now + 120
        for _ in range(400):
            await store.reserve([counter("k:live", 1e9)], later)
        assert len(store) < 10
        # A gauge in use is not forgotten, however old its first use.
        gauge = counter("k:gauge", 5, 1, "none")
        await store.reserve([gauge], later)
        for step in range(1, 5):
            await store.reserve([gauge], later + step * GAUGE_TTL / 2)
        assert await store.usage([gauge], later + 2 * GAUGE_TTL) == [5.0]
        assert await store.usage([gauge], later + 4 * GAUGE_TTL) == [0.0]

    run(main())


# --- SQLite -------------------------------------------------------------------------------

def test_sqlite_keeps_spend_across_restarts_in_a_private_file(tmp_path: Path) -> None:
    now = time.time()
    spend = counter("k:spend", 100.0, 2.5, "month")
    path = tmp_path / "state" / "limits.db"
    path.parent.mkdir()

    async def main() -> None:
        store = SqliteStore(path)
        assert isinstance(await store.reserve([spend], now), Granted)
        await store.close()
        reopened = SqliteStore(path)
        assert await reopened.usage([spend], now) == [2.5]
        await reopened.close()

    run(main())
    for name in ("limits.db", "limits.db-wal", "limits.db-shm"):
        if (path.parent / name).exists():
            assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name


def test_sqlite_tightens_a_loose_file_and_sweeps_expired_rows(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    now = minute_start()

    async def main() -> None:
        store = SqliteStore(path)
        for i in range(50):
            await store.reserve([counter(f"k:{i}", 10)], now)
        assert store.sweep(now) == 0
        assert store.sweep(now + 60) == 50
        await store.close()

    run(main())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _page_size(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA page_size").fetchone()[0])
    finally:
        db.close()


def test_sqlite_new_file_has_small_pages_and_an_old_file_keeps_its_own(tmp_path: Path) -> None:
    """Each commit writes the whole page of its slots to the WAL: a new file is made with
    PAGE_SIZE pages; a file made before (SQLite's 4096) is served as it is, counts kept."""
    now = minute_start()
    spend = counter("k:spend", 100.0, 2.5, "month")
    old = tmp_path / "old.db"
    db = sqlite3.connect(old)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("CREATE TABLE counters (slot TEXT PRIMARY KEY, value REAL NOT NULL, "
               "expires_at REAL NOT NULL) WITHOUT ROWID")
    [(slot, end)] = outcome.slots([spend], now)
    db.execute("INSERT INTO counters VALUES (?, ?, ?)", (slot, 40.0, end))
    db.commit()
    db.close()
    assert _page_size(old) == 4096

    async def main() -> None:
        fresh = SqliteStore(tmp_path / "new.db")
        assert isinstance(await fresh.reserve([spend], now), Granted)
        await fresh.close()
        kept = SqliteStore(old)
        assert await kept.usage([spend], now) == [40.0]
        assert isinstance(await kept.reserve([spend], now), Granted)
        assert await kept.usage([spend], now) == [42.5]
        await kept.close()

    run(main())
    assert PAGE_SIZE < 4096
    assert _page_size(tmp_path / "new.db") == PAGE_SIZE
    assert _page_size(old) == 4096


def test_sqlite_unopenable_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        SqliteStore(tmp_path / "missing-dir" / "limits.db")
    (tmp_path / "garbage.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreUnavailable):
        SqliteStore(tmp_path / "garbage.db")


_RACER = textwrap.dedent("""
    import asyncio, sys, time
    from gateway_cli.limits.model import Counter, Granted
    from gateway_cli.limits.sqlite_store import SqliteStore
    path, start, now = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    c = Counter("k:two-processes", 300, 1, "minute", "rpm")
    async def main():
        store = SqliteStore(path, busy_timeout=10)
        while time.time() < start:
            await asyncio.sleep(0.005)
        granted = sum([isinstance(await store.reserve([c], now), Granted) for _ in range(250)])
        await store.close()
        print(granted)
    asyncio.run(main())
""")


def test_sqlite_two_processes_on_one_file_never_overshoot(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    # The next minute: opening a store sweeps rows expired by the real clock, so a run that
    # crossed a minute boundary read back 0 (seen in CI); a window ahead of the clock cannot.
    now = minute_start() + 60
    run(SqliteStore(path).close())
    start = time.time() + 1.0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(path), str(start), str(now)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
              for _ in range(2)]
    counts = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err.decode()
        counts.append(int(out))
    assert sum(counts) == 300
    c = counter("k:two-processes", 300)
    assert run(SqliteStore(path).usage([c], now)) == [300.0]


def test_sqlite_writers_wait_their_turn_and_give_up_on_a_holder_that_never_lets_go(
        tmp_path: Path) -> None:
    import fcntl
    import threading

    path = tmp_path / "limits.db"
    c = counter("k:turn", 10)
    now = minute_start() + 60

    async def main() -> None:
        store = SqliteStore(path, busy_timeout=0.3)
        turn = tmp_path / "limits.db.lock"
        assert stat.S_IMODE(turn.stat().st_mode) == 0o600
        holder = os.open(turn, os.O_RDWR)  # another process's turn, as far as flock goes
        try:
            fcntl.flock(holder, fcntl.LOCK_EX)
            began = time.monotonic()
            with pytest.raises(StoreUnavailable, match=r"held the writers' turn for 0\.3 s"):
                await store.reserve([c], now)
            assert 0.3 <= time.monotonic() - began < 2
            # Let go a little later: the writer waits rather than failing.
            threading.Timer(0.05, fcntl.flock, (holder, fcntl.LOCK_UN)).start()
            assert isinstance(await store.reserve([c], now), Granted)
        finally:
            os.close(holder)
        assert await store.usage([c], now) == [1.0]  # the refused attempt counted nothing
        await store.close()

    run(main())


# --- Redis --------------------------------------------------------------------------------

def test_redis_survives_a_kill_and_a_restart(own_redis: RedisServer) -> None:
    now = minute_start()
    rpm = counter("k:rpm", 1000)

    async def main() -> None:
        store = RedisStore("127.0.0.1", own_redis.port, command_timeout=0.3,
                           connect_timeout=0.5, retry_after=0.1)
        assert isinstance(await store.reserve([rpm], now), Granted)
        own_redis.stop()
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.reserve([rpm], now)
            assert time.monotonic() - started < 0.6
        own_redis.start()
        await asyncio.sleep(0.15)  # retry_after
        got = await store.reserve([rpm], now)  # the same store object; the script reloaded
        assert isinstance(got, Granted) and got.remaining[0].remaining == 999
        assert await store.usage([rpm], now) == [1.0]
        await store.close()

    run(main())


def test_redis_that_stops_answering_times_out_and_recovers(own_redis: RedisServer) -> None:
    now = minute_start()
    rpm = counter("k:rpm", 1000)

    async def main() -> None:
        store = RedisStore("127.0.0.1", own_redis.port, command_timeout=0.3,
                           connect_timeout=0.3, retry_after=0.0)
        assert isinstance(await store.reserve([rpm], now), Granted)
        own_redis.pause()
        try:
            started = time.monotonic()
            results = await asyncio.gather(*(store.reserve([rpm], now) for _ in range(20)),
                                           return_exceptions=True)
            assert all(isinstance(r, StoreUnavailable) for r in results), results
            assert time.monotonic() - started < 1.0
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):  # reconnecting to a stopped server
                await store.usage([rpm], now)
            assert time.monotonic() - started < 1.0
        finally:
            own_redis.resume()
        # A command that timed out may still run once the server wakes up: the store errs
        # on the side of counting it (the caller was told the store was unavailable).
        used = (await store.usage([rpm], now))[0]
        assert 1 <= used <= 21
        assert isinstance(await store.reserve([rpm], now), Granted)
        await store.close()

    run(main())


def test_redis_auth_and_the_password_never_in_errors(redis_with_password: RedisServer) -> None:
    now = minute_start()
    port = redis_with_password.port
    rpm = counter("k:rpm", 5)

    def text_of(exc: BaseException) -> str:
        return "".join(traceback.format_exception(exc)) + repr(exc)

    async def main() -> None:
        good = RedisStore("127.0.0.1", port, db=2, password=PASSWORD)
        assert isinstance(await good.reserve([rpm], now), Granted)
        assert PASSWORD not in repr(good) and PASSWORD not in repr(good.client)
        via_url = RedisStore.from_url(f"redis://:{PASSWORD}@127.0.0.1:{port}/2")
        assert await via_url.usage([rpm], now) == [1.0]  # same database, same counter
        other_db = open_store("redis", url=f"redis://127.0.0.1:{port}/3", password=PASSWORD)
        assert await other_db.usage([rpm], now) == [0.0]
        for store in (good, via_url, other_db):
            await store.close()

        for password in ("wrong-" + PASSWORD, None):
            bad = RedisStore("127.0.0.1", port, password=password)
            with pytest.raises(StoreUnavailable) as caught:
                await bad.reserve([rpm], now)
            assert PASSWORD not in text_of(caught.value)
            await bad.close()
        with pytest.raises(ValueError) as bad_url:
            RedisStore.from_url(f"redis://:{PASSWORD}@127.0.0.1:notaport/0")
        assert PASSWORD not in text_of(bad_url.value)

    run(main())


def test_redis_reloads_its_scripts_after_a_flush(redis_server: RedisServer) -> None:
    now = minute_start()
    rpm = counter("k:rpm", 5)

    async def main() -> None:
        store = RedisStore("127.0.0.1", redis_server.port, prefix=f"t{uuid.uuid4().hex}:")
        assert isinstance(await store.reserve([rpm], now), Granted)
        assert await store.client.execute("SCRIPT", "FLUSH") == "OK"
        assert isinstance(await store.reserve([rpm], now), Granted)
        got = await store.reserve([rpm], now)
        assert isinstance(got, Granted)
        await store.adjust([(got.held[0], -1)])
        assert await store.usage([rpm], now) == [2.0]
        ttl = await store.client.execute("TTL", store.prefix + got.held[0].slot)
        assert isinstance(ttl, int) and 0 < ttl <= 60
        await store.close()

    run(main())


def test_a_cancelled_caller_leaves_no_reply_behind(redis_server: RedisServer) -> None:
    async def main() -> None:
        client = resp.RedisClient("127.0.0.1", redis_server.port)
        key = f"t{uuid.uuid4().hex}"
        await client.execute("SET", key, "first")
        slow = asyncio.ensure_future(client.execute("GET", key))
        await asyncio.sleep(0)
        slow.cancel()
        await client.execute("SET", key, "second")
        assert await client.execute("GET", key) == b"second"
        replies = await client.pipeline([("PING",), ("GET", key), ("INCR", key)])
        assert replies[0] == "PONG" and replies[1] == b"second"
        assert isinstance(replies[2], resp.ReplyError) and replies[2].code == "ERR"
        with pytest.raises(resp.ReplyError):
            await client.execute("INCR", key)
        assert await client.execute("DEL", key) == 1
        await client.close()

    run(main())


def test_publish_and_a_subscription_that_survives_a_restart(own_redis: RedisServer) -> None:
    async def next_message(subscription: resp.Subscription) -> resp.Message | resp.Subscribed:
        return await asyncio.wait_for(subscription.__anext__(), 5)

    async def main() -> None:
        client = resp.RedisClient("127.0.0.1", own_redis.port, retry_after=0.0)
        async with client.subscribe("revoked", "other", ping_interval=0.5) as subscription:
            assert await next_message(subscription) == resp.Subscribed(resumed=False)
            assert await client.publish("revoked", "c_3f2a") == 1
            assert await next_message(subscription) == resp.Message(b"revoked", b"c_3f2a")
            own_redis.stop()
            own_redis.start()
            assert await next_message(subscription) == resp.Subscribed(resumed=True)
            assert await client.publish("other", b"\x00\xffbinary") == 1
            assert await next_message(subscription) == resp.Message(b"other", b"\x00\xffbinary")
        deadline = time.monotonic() + 5  # the server notices the closed subscriber soon after
        while await client.publish("revoked", "nobody listens") and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await client.publish("revoked", "nobody listens") == 0
        await client.close()

    run(main())


# --- servers that misbehave ---------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def fake_server(answer: Handler) -> AsyncIterator[int]:
    """A server on a free loopback port answering with `answer`; its port. On the way out
    every connection is closed and every handler finished."""
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await answer(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("reply", [
    b"?what is this\r\n",
    b"$5\r\nabc\r\n\r\nxx",  # a bulk string longer than announced
    b"$99999999999\r\n",
    b":12x\r\n",
    b"*-5\r\n",
    b"*1\r\n" * 20,  # nested too deep
    b"\r\n",
    b"+" + b"x" * (resp.MAX_LINE + 10),
    b"*2\r\n:1\r\n",  # half a reply, then the server closes
    b"",  # the server closes without a word
])
def test_a_malformed_reply_or_a_closed_connection_is_unavailable(reply: bytes) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(reply)
        await writer.drain()

    async def main() -> None:
        async with fake_server(answer) as port:
            store = RedisStore("127.0.0.1", port, command_timeout=2)
            started = time.monotonic()
            with pytest.raises(StoreUnavailable):
                await store.reserve([counter("k:x", 1)], minute_start())
            assert time.monotonic() - started < 1.5
            await store.close()

    run(main())


def test_a_reply_of_the_wrong_shape_is_unavailable() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(4096):
            writer.write(b"*2\r\n:1\r\n$3\r\nabc\r\n")  # a "grant" whose value is no number

    async def main() -> None:
        async with fake_server(answer) as port:
            store = RedisStore("127.0.0.1", port)
            with pytest.raises(StoreUnavailable):
                await store.reserve([counter("k:x", 1)], minute_start())
            with pytest.raises(StoreUnavailable):
                await store.reserve([counter("k:x", 1), counter("k:y", 1)], minute_start())
            await store.close()

    run(main())


def test_a_silent_server_times_out() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        await reader.read(1024)  # never answers; returns when the client gives up

    async def main() -> None:
        async with fake_server(answer) as port:
            store = RedisStore("127.0.0.1", port, command_timeout=0.2)
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="no answer"):
                await store.usage([counter("k:x", 1)], minute_start())
            assert time.monotonic() - started < 1.0
            await store.close()

    run(main())


def test_each_call_has_its_own_timeout_on_a_shared_connection() -> None:
    """One timer watches a connection's oldest call: a later call answered within its own
    timeout must not be failed at an earlier call's deadline, and a call never answered
    fails at its own deadline, taking the connection with it."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        asked = 0
        while await reader.read(4096):  # one PING per read: the calls are spaced out
            asked += 1
            if asked == 1:
                writer.write(b"+PONG\r\n")
            elif asked == 2:
                await asyncio.sleep(0.25)  # within 0.4 s of this call, past the first's
                writer.write(b"+PONG\r\n")
            # the third is never answered

    async def main() -> None:
        async with fake_server(answer) as port:
            client = resp.RedisClient("127.0.0.1", port, command_timeout=0.4)
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await client.execute("PING") == "PONG"
            await asyncio.sleep(0.3)
            assert await client.execute("PING") == "PONG"  # at 0.3 + 0.25: after 0.4
            assert loop.time() - started > 0.5
            sent = loop.time()
            with pytest.raises(StoreUnavailable, match=r"no answer within 0\.4 s"):
                await client.execute("PING")
            assert 0.35 < loop.time() - sent < 1.0
            await client.close()

    run(main())


def test_nothing_listening_is_unavailable_at_once() -> None:
    async def main() -> None:
        store = open_store("redis", url=f"redis://127.0.0.1:{free_port()}")
        with pytest.raises(StoreUnavailable):
            await store.reserve([counter("k:x", 1)], minute_start())
        with pytest.raises(StoreUnavailable, match="next attempt"):  # no connect storm
            await store.reserve([counter("k:x", 1)], minute_start())
        await store.close()

    run(main())


# --- the parser and the URL ---------------------------------------------------------------

def test_parse_gives_the_same_reply_however_the_bytes_arrive() -> None:
    wire = (b"*5\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n+OK\r\n-ERR bad thing\r\n*0\r\n"
            b"$0\r\n\r\n")
    whole, end = resp.parse(wire)
    assert end == len(wire) - len(b"$0\r\n\r\n")
    assert isinstance(whole, list) and whole[:3] == [-42, b"hello", None]
    inner = whole[3]
    assert isinstance(inner, list) and inner[0] == "OK"
    assert isinstance(inner[1], resp.ReplyError) and str(inner[1]) == "ERR bad thing"
    assert whole[4] == []
    for cut in range(end):
        with pytest.raises(resp._Incomplete):
            resp.parse(wire[:cut])
    assert resp.parse(wire, end) == (b"", len(wire))


def test_encode() -> None:
    assert resp.encode(("SET", b"k", 1, 0.5)) == \
        b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n$3\r\n0.5\r\n"
    with pytest.raises(ValueError):
        resp.encode(("INCRBYFLOAT", "k", float("inf")))


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://localhost", resp.Address("localhost")),
    ("redis://10.0.0.5:6380/4", resp.Address("10.0.0.5", 6380, 4)),
    ("redis://:p%40ss@h:1/0", resp.Address("h", 1, 0, None, "p@ss")),
    ("redis://user:pw@h", resp.Address("h", 6379, 0, "user", "pw")),
])
def test_parse_url(url: str, expected: resp.Address) -> None:
    assert resp.parse_url(url) == expected
    assert "pw" not in repr(resp.parse_url(url)) or expected.password is None


@pytest.mark.parametrize("url", ["http://h", "rediss://h", "redis://", "redis://h/x",
                                 "redis://h:99999", "redis://h?db=1"])
def test_parse_url_refuses(url: str) -> None:
    with pytest.raises(ValueError, match="redis URL"):
        resp.parse_url(url)


def test_open_store(tmp_path: Path) -> None:
    assert open_store("memory").name == "memory"
    store = open_store("sqlite", path=tmp_path / "l.db")
    assert store.name == "sqlite"
    run(store.close())
    assert open_store("redis", url="redis://127.0.0.1:1").name == "redis"
    for kind in ("sqlite", "redis", "etcd"):
        with pytest.raises(ValueError):
            open_store(kind)


def test_outcome_ttl_and_fits() -> None:
    assert outcome.ttl_seconds(100.0, 99.9) == 1
    assert outcome.ttl_seconds(100.0, 100.5) == 1
    assert outcome.ttl_seconds(160.0, 100.5) == 60
    assert outcome.fits(0.9999999999999999, 0.0, 1.0)
    assert not outcome.fits(1.0, 0.001, 1.0)



_OPEN_AT_ONCE = textwrap.dedent("""
    import asyncio, sys, time
    from gateway_cli.limits.sqlite_store import SqliteStore
    start = float(sys.argv[2])
    while time.time() < start:
        pass
    asyncio.run(SqliteStore(sys.argv[1]).close())
""")


def test_processes_opening_one_new_sqlite_file_at_once_all_succeed(tmp_path: Path) -> None:
    # `serve --workers N` opens the store in every worker at the same moment; switching a
    # new file to WAL answered "database is locked" at once to all but one (a worker crash).
    for round_ in range(4):
        path = tmp_path / f"limits-{round_}.sqlite"
        start = time.time() + 1.0
        children = [subprocess.Popen([sys.executable, "-c", _OPEN_AT_ONCE, str(path),
                                      str(start)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
                    for _ in range(4)]
        for child in children:
            _, err = child.communicate(timeout=30)
            assert child.returncode == 0, err
