"""The client-key table shared through Redis, against a real redis-server: the
compare-and-set (one winner, the loser told, the new version announced), what is refused
on the way in and out, and a command's pull, apply, push (Redis wins over a stale local
file, a concurrent change is retried on, nothing is left half done)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gateway_cli.errors import GatewayError
from gateway_cli.keys import clients, shared_sync, shared_table
from gateway_cli.keys.jsonstate import StateError
from gateway_cli.limits.resp import Message, RedisClient, Subscribed
from tests.conftest import free_port
from tests.fakes.redis_server import RedisServer, redis_running

# Each test on both loops the served gateway can run on (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("on_each_loop")

T = TypeVar("T")


def run(coro: Awaitable[T]) -> T:
    async def main() -> T:
        return await coro

    return asyncio.run(main())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    yield from redis_running(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def redis(server: RedisServer) -> RedisServer:
    async def flush() -> None:
        client = RedisClient("127.0.0.1", server.port)
        await client.execute("FLUSHDB")
        await client.close()

    run(flush())
    return server


def _url(redis: RedisServer) -> str:
    return f"redis://127.0.0.1:{redis.port}/0"


async def _with_client(redis: RedisServer, work: Any) -> Any:
    client = shared_table.connect(_url(redis), None)
    try:
        return await work(client)
    finally:
        await client.close()


def _document(tmp: Path, *names: str) -> dict[str, Any]:
    home = tmp / "scratch"
    home.mkdir(mode=0o700, exist_ok=True)
    for name in names:
        clients.create(home, name)
    return clients.load_document(home)


def _names(data: dict[str, Any]) -> list[str]:
    return sorted(record["name"] for record in data["clients"])


def _shared_names(redis: RedisServer) -> list[str]:
    snapshot = run(_with_client(redis, shared_table.pull))
    assert snapshot is not None
    return _names(shared_table.parse(snapshot))


# ------------------------------------------------------------ compare-and-set


def test_compare_and_set_has_one_winner_per_version(redis: RedisServer, tmp_path: Path) -> None:
    first, second = _document(tmp_path, "one"), _document(tmp_path, "two")

    async def work(client: RedisClient) -> None:
        assert await shared_table.pull(client) is None
        assert await shared_table.push(client, 0, first) == 1
        assert await shared_table.push(client, 0, second) is None  # stale: lost
        snapshot = await shared_table.pull(client)
        assert snapshot is not None and snapshot.version == 1
        assert shared_table.parse(snapshot) == first
        assert await shared_table.push(client, 1, second) == 2
        assert await shared_table.push(client, 1, first) is None
        again = await shared_table.pull(client)
        assert again is not None and again.version == 2
        assert shared_table.parse(again) == second

    run(_with_client(redis, work))


def test_concurrent_pushes_from_one_version_store_exactly_one(
        redis: RedisServer, tmp_path: Path) -> None:
    documents = []
    for i in range(8):
        (tmp_path / str(i)).mkdir()
        documents.append(_document(tmp_path / str(i), f"c{i}"))

    async def work(client: RedisClient) -> list[int | None]:
        return await asyncio.gather(*(shared_table.push(client, 0, d) for d in documents))

    results = run(_with_client(redis, work))
    assert sorted(results, key=lambda r: r or 0) == [None] * 7 + [1]


def test_a_stored_change_is_announced_and_a_lost_one_is_not(
        redis: RedisServer, tmp_path: Path) -> None:
    data = _document(tmp_path, "one")

    async def work(client: RedisClient) -> list[Message | Subscribed]:
        seen: list[Message | Subscribed] = []
        async with client.subscribe(shared_table.CHANNEL) as subscription:
            seen.append(await anext(subscription))
            assert await shared_table.push(client, 0, data) == 1
            assert await shared_table.push(client, 0, data) is None
            assert await shared_table.push(client, 1, data) == 2
            seen.append(await anext(subscription))
            seen.append(await anext(subscription))
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    seen.append(await anext(subscription))
        return seen

    seen = run(_with_client(redis, work))
    assert seen == [Subscribed(resumed=False), Message(b"gw:keys", b"1"),
                    Message(b"gw:keys", b"2")]


# ------------------------------------------------------------ what is refused


@pytest.mark.parametrize(("fields", "why"), [
    ({"version": "1", "table": "{not json"}, "is not valid JSON"),
    ({"version": "1", "table": '{"version": 2, "clients": []}'}, "not a client-key table"),
    ({"version": "1", "table": '{"version": 1, "clients": [{"id": "x"}]}'},
     "malformed record"),
    ({"version": "1", "table": '{"version": 1, "clients": {}}'}, "not a client-key table"),
    ({"version": "one", "table": '{"version": 1, "clients": []}'}, "no usable version"),
    ({"table": '{"version": 1, "clients": []}'}, "no usable version"),
])
def test_a_damaged_table_is_an_error_never_an_empty_table(
        redis: RedisServer, fields: dict[str, str], why: str) -> None:
    async def work(client: RedisClient) -> None:
        await client.execute("HSET", shared_table.KEY,
                             *[x for pair in fields.items() for x in pair])
        with pytest.raises(shared_table.SharedTableError, match=why):
            snapshot = await shared_table.pull(client)
            assert snapshot is not None
            shared_table.table(snapshot)

    run(_with_client(redis, work))


def test_a_version_that_is_not_a_number_stops_every_push(
        redis: RedisServer, tmp_path: Path) -> None:
    data = _document(tmp_path, "one")

    async def work(client: RedisClient) -> None:
        await client.execute("HSET", shared_table.KEY, "version", "x", "table", "{}")
        with pytest.raises(shared_table.SharedTableError, match="not a number"):
            await shared_table.push(client, 0, data)

    run(_with_client(redis, work))


def test_a_malformed_document_is_never_stored(redis: RedisServer) -> None:
    async def work(client: RedisClient) -> None:
        with pytest.raises(StateError):
            await shared_table.push(client, 0, {"version": 1, "clients": [{"id": "x"}]})
        assert await shared_table.pull(client) is None

    run(_with_client(redis, work))


# ------------------------------------------------------------ pull, apply, push


def _home(tmp: Path, name: str) -> Path:
    home = tmp / name
    home.mkdir(mode=0o700)
    return home


def test_without_a_shared_table_the_change_is_only_local(tmp_path: Path) -> None:
    home = _home(tmp_path, "home")
    client, _ = shared_sync.change(home, None, lambda: clients.create(home, "solo"))
    assert list(clients.load_table(home).by_id) == [client.id]


def test_redis_wins_over_a_stale_local_file(redis: RedisServer, tmp_path: Path) -> None:
    shared = shared_sync.Shared(_url(redis))
    a, b = _home(tmp_path, "a"), _home(tmp_path, "b")
    shared_sync.change(b, shared, lambda: clients.create(b, "early"))
    shared_sync.change(a, shared, lambda: clients.create(a, "from-a"))
    assert _names(clients.load_document(b)) == ["early"]  # stale
    clients.create(b, "only-here")  # a local change made without the shared table

    shared_sync.change(b, shared, lambda: clients.create(b, "late"))
    assert _shared_names(redis) == ["early", "from-a", "late"]
    assert _names(clients.load_document(b)) == ["early", "from-a", "late"]
    assert shared_sync.read(shared) is not None
    assert sorted(c.name for c in shared_sync.read(shared) or []) == ["early", "from-a", "late"]


def _interfere(redis: RedisServer, name: str) -> None:
    """Another instance's change, stored between this command's pull and push."""

    async def other(client: RedisClient) -> None:
        snapshot = await shared_table.pull(client)
        assert snapshot is not None
        data = shared_table.parse(snapshot)
        scratch = clients.Client(id=name.ljust(12, "0")[:12], name=name, digest="0" * 64,
                                 created=1.0)
        data["clients"].append(scratch.to_json())
        assert await shared_table.push(client, snapshot.version, data) is not None

    thread = threading.Thread(target=lambda: run(_with_client(redis, other)))
    thread.start()
    thread.join()


def test_a_change_that_lost_the_race_is_applied_again_on_the_newer_table(
        redis: RedisServer, tmp_path: Path) -> None:
    shared = shared_sync.Shared(_url(redis))
    home = _home(tmp_path, "home")
    shared_sync.change(home, shared, lambda: clients.create(home, "first"))
    calls: list[str] = []

    def revoke() -> list[clients.Client]:
        if not calls:
            _interfere(redis, "other")
        calls.append("revoke")
        return clients.revoke(home, ["first"])

    gone = shared_sync.change(home, shared, revoke)
    assert calls == ["revoke", "revoke"] and [c.name for c in gone] == ["first"]
    snapshot = run(_with_client(redis, shared_table.pull))
    assert snapshot is not None and snapshot.version == 3
    table = shared_table.table(snapshot)
    assert sorted(c.name for c in table.by_id.values()) == ["first", "other"]
    assert all(c.revoked is not None for c in table.named("first"))


def test_a_change_that_keeps_losing_gives_up_and_leaves_the_shared_table_locally(
        redis: RedisServer, tmp_path: Path) -> None:
    shared = shared_sync.Shared(_url(redis))
    home = _home(tmp_path, "home")
    shared_sync.change(home, shared, lambda: clients.create(home, "first"))
    rounds = iter(range(100))

    def revoke() -> list[clients.Client]:
        _interfere(redis, f"other{next(rounds)}")
        return clients.revoke(home, ["first"])

    with pytest.raises(GatewayError, match="kept changing"):
        shared_sync.change(home, shared, revoke, attempts=3)
    local = clients.load_document(home)
    assert _names(local) == _shared_names(redis) == ["first", "other0", "other1", "other2"]
    assert all(r["revoked"] is None for r in local["clients"])


def test_redis_unreachable_changes_nothing(tmp_path: Path) -> None:
    shared = shared_sync.Shared(f"redis://127.0.0.1:{free_port()}/0", password="pw")
    home = _home(tmp_path, "home")
    clients.create(home, "first")
    before = (home / "clients.json").read_bytes()
    with pytest.raises(GatewayError, match="nothing was changed") as info:
        shared_sync.change(home, shared, lambda: clients.revoke(home, ["first"]))
    assert "pw" not in str(info.value) and "pw" not in repr(shared)
    assert (home / "clients.json").read_bytes() == before
    assert json.loads(before)["clients"][0]["revoked"] is None
