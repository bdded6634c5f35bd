"""Scoped-token revocations shared through one real redis-server by two gateways whose
state directories are separate (as on two machines, sharing the signing key): a token
revoked on one home is refused by both gateways within the bound client keys keep
(test_keys_shared.PROPAGATION); the shared list is not trusted entry by entry."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_cli.keys import shared_revoked
from gateway_cli.limits.resp import Address, RedisClient
from tests.conftest import start_gateway, stop_gateway
from tests.fakes.redis_server import RedisServer, redis_running
from tests.integration.test_client_keys import MESSAGES, create_client, make_home
from tests.integration.test_keys_shared import PROPAGATION, _config


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    yield from redis_running(workdir)


def _jti(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["jti"])


def _status(http: httpx.Client, url: str, token: str) -> int:
    return http.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {token}"},
                     json={"model": "mock/echo", "messages": MESSAGES}).status_code


def test_a_token_revoked_on_one_home_is_refused_by_both(redis: RedisServer,
                                                        tmp_path: Path) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text(_config(redis))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = make_home(tmp_path / "a"), make_home(tmp_path / "b")
    create_client(a, "main", "--config", str(config))  # keys enforced on both (shared table)
    issued = a.run("tokens", "issue", "--scope", "mcp:notes:*", "--models", "mock/echo",
                   store=True)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    one = a.serve(tmp_path / "a", "--verify", "off", config=config.read_text())
    try:
        # Home b has its own state (its own revocation list) and the signing key of a's
        # store, as two machines sharing one secret backend would.
        two = start_gateway(tmp_path / "b", "--verify", "off", "--secrets",
                            f"file:{a.path / 'secrets.enc'}", "--passphrase-file",
                            str(a.passphrase_file), config=config.read_text(), env=b.env)
    except BaseException:
        stop_gateway(one)
        raise
    try:
        urls = [one.url, two.url]
        with httpx.Client(timeout=10) as http:
            assert [_status(http, url, token) for url in urls] == [200, 200]
            revoked = a.run("tokens", "revoke", _jti(token), "--config", str(config),
                            store=True)
            assert revoked.returncode == 0, revoked.stderr
            since = time.perf_counter()
            refused: dict[str, float] = {}
            while len(refused) < 2 and time.perf_counter() - since < 5:
                for url in urls:
                    if url not in refused and _status(http, url, token) == 401:
                        refused[url] = time.perf_counter() - since
            assert set(refused) == set(urls), refused
            assert max(refused.values()) <= PROPAGATION, refused
        # Home b's gateway refuses it from the shared list alone: its own file is empty.
        assert not (b.path / "revoked-tokens.json").exists()
        # Still refused after a reload over the control socket (the local list is read
        # again, and the shared one is kept beside it).
        reload = b.run("reload")
        assert reload.returncode == 0, reload.stderr
        with httpx.Client(timeout=10) as http:
            assert _status(http, two.url, token) == 401
    finally:
        stop_gateway(one)
        stop_gateway(two)


def test_the_shared_list_skips_what_it_cannot_trust(redis: RedisServer) -> None:
    async def main() -> frozenset[str]:
        client = RedisClient.from_address(Address("127.0.0.1", redis.port))
        try:
            now = time.time()
            await shared_revoked.add(client, {"good": now + 600, "old": now - 1}, now)
            await client.execute("HSET", shared_revoked.KEY, "badexpiry", "soon",
                                 "\u202eevil", str(now + 600), "x" * 300, str(now + 600))
            return await shared_revoked.pull(client, now)
        finally:
            await client.close()

    assert asyncio.run(main()) == frozenset({"good"})
    with pytest.raises(ValueError):
        asyncio.run(shared_revoked.add(RedisClient.from_address(
            Address("127.0.0.1", redis.port)), {"bad id": 1.0}, 0.0))
