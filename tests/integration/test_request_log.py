"""Every request accounted for: the request log, the access log and /metrics of a real
`gateway serve`, under concurrent load, SIGTERM and kill -9."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, stop_gateway
from tests.integration.test_client_keys import Home, create_client, make_home

GITHUB = "ghp_" + "Zq8mR2vX7kLp4Nw9Ty3Hb6Jc1Fd5Gs0Ae2Ui"
EMAIL = "jane.doe.audit@example.org"
MESSAGES = [{"role": "user", "content": "hello log"}]


def records(home: Home) -> list[dict[str, object]]:
    out = []
    for path in sorted(home.path.glob("requests*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def request_ids(home: Home) -> list[str]:
    return [str(r["data"]["id"]) for r in records(home)  # type: ignore[index]
            if r["event"] == "llm.request"]


async def _load(url: str, count: int, concurrency: int, token: str | None = None,
                stop_after: float | None = None) -> list[tuple[int, str]]:
    """POST `count` chats; (status, x-request-id) of every answer received in full."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    done: list[tuple[int, str]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30,
                                 headers=headers) as client:
        async def worker() -> None:
            while not queue.empty():
                if stop_after is not None and time.monotonic() - started > stop_after:
                    return
                queue.get_nowait()
                try:
                    r = await client.post("/v1/chat/completions",
                                          json={"model": "mock/echo", "messages": MESSAGES})
                except httpx.TransportError:
                    continue  # the gateway went away mid-request: not answered
                done.append((r.status_code, r.headers.get("x-request-id", "")))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def verify(home: Home) -> subprocess.CompletedProcess[str]:
    return home.run("log", "verify", store=True, timeout=120)


@pytest.fixture
def signed_home(tmp_path: Path) -> Home:
    home = make_home(tmp_path)
    result = home.run("rotate-keys", "--signing", store=True)
    assert result.returncode == 0, result.stderr
    return home


def test_ten_thousand_requests_ten_thousand_signed_records(signed_home: Home,
                                                           tmp_path: Path) -> None:
    gw = signed_home.serve(tmp_path)
    try:
        answered = asyncio.run(_load(gw.url, 10_000, 48))
    finally:
        stop_gateway(gw)
    assert len(answered) == 10_000 and {s for s, _ in answered} == {200}
    ids = request_ids(signed_home)
    assert len(ids) == 10_000
    assert sorted(ids) == sorted(i for _, i in answered)
    assert all(r["kid"] is not None for r in records(signed_home))
    result = verify(signed_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "10000" in result.stdout


def test_sigterm_under_load_loses_nothing(signed_home: Home, tmp_path: Path) -> None:
    gw = signed_home.serve(tmp_path)
    try:
        async def run() -> list[tuple[int, str]]:
            load = asyncio.ensure_future(_load(gw.url, 100_000, 32, stop_after=30))
            await asyncio.sleep(2.0)
            gw.process.send_signal(signal.SIGTERM)
            return await load

        answered = asyncio.run(run())
        assert gw.process.wait(timeout=30) == 0
    finally:
        stop_gateway(gw)
    served = {i for s, i in answered if s == 200}
    assert len(served) > 100
    logged = set(request_ids(signed_home))
    assert served <= logged  # every answer the clients got is recorded
    result = verify(signed_home)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kill_9_under_load_then_the_next_start_continues_the_chain(
        signed_home: Home, tmp_path: Path) -> None:
    gw = signed_home.serve(tmp_path)

    async def run() -> None:
        load = asyncio.ensure_future(_load(gw.url, 100_000, 32, stop_after=30))
        await asyncio.sleep(2.0)
        gw.process.kill()
        await load

    asyncio.run(run())
    gw.process.wait(timeout=10)
    before = len(records(signed_home))
    assert before > 100
    first = verify(signed_home)
    # At most the last batch is partial: verify either passes or names exactly that.
    if first.returncode != 0:
        assert "partial" in first.stdout, first.stdout
        assert first.stdout.count("problem") <= 1
    gw2 = signed_home.serve(tmp_path)
    try:
        asyncio.run(_load(gw2.url, 50, 4))
    finally:
        stop_gateway(gw2)
    after = verify(signed_home)
    assert after.returncode == 0, after.stdout + after.stderr
    assert len(request_ids(signed_home)) >= before + 50 - 1


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[tuple[Home, Gateway, str, str]]:
    home = make_home(tmp_path)
    assert home.run("rotate-keys", "--signing", store=True).returncode == 0
    user = create_client(home, "alice", "--team", "red")
    admin = create_client(home, "ops", "--admin")
    config = """
[inspection.secrets]
action = "redact"
[inspection.pii]
action = "redact"
"""
    gw = home.serve(tmp_path, config=config)
    yield home, gw, user, admin
    stop_gateway(gw)


def test_nothing_secret_anywhere_the_gateway_writes(
        observed: tuple[Home, Gateway, str, str]) -> None:
    home, gw, user, admin = observed
    auth = {"authorization": f"Bearer {user}"}
    secret_prompt = [{"role": "user", "content": f"my token {GITHUB} mail {EMAIL}"}]
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        assert client.post("/v1/chat/completions", headers=auth, json={
            "model": "mock/echo", "messages": secret_prompt}).status_code == 200
        assert client.post("/v1/chat/completions", headers=auth, json={
            "model": GITHUB, "messages": MESSAGES}).status_code == 404
        assert client.post(f"/v1/{GITHUB}", headers=auth, json={}).status_code == 404
        assert client.post("/v1/chat/completions", headers={
            "authorization": f"Bearer {GITHUB}"}, json={"model": "mock/echo",
                                                        "messages": MESSAGES}).status_code == 401
        metrics = client.get("/metrics").text
    stop_gateway(gw)
    written = [gw.log(), metrics, *(p.read_text() for p in home.path.glob("requests*.jsonl"))]
    for text in written:
        for value in (GITHUB, EMAIL, user, admin, "my token"):
            assert value not in text
    data = [r["data"] for r in records(home)]
    assert any(d["principal"] == "alice" and d["team"] == "red" and d["findings"]  # type: ignore[index]
               for d in data)
    found = {(f["guard"], f["kind"]) for d in data for f in d["findings"]}  # type: ignore[index]
    assert ("pii", "email") in found and any(g == "secrets" for g, _ in found)
    assert any(str(d["model"]).startswith("unknown:") for d in data)  # type: ignore[index]
    assert any(d["path"] == "other" and d["status"] == 404 for d in data)  # type: ignore[index]
    assert any(d["error"] == "invalid_api_key" for d in data)  # type: ignore[index]


def test_access_log_has_one_line_per_request(observed: tuple[Home, Gateway, str, str]) -> None:
    _, gw, user, _ = observed
    auth = {"authorization": f"Bearer {user}"}
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        ok = client.post("/v1/chat/completions", headers=auth,
                         json={"model": "mock/echo", "messages": MESSAGES})
        bad = client.post("/v1/chat/completions", headers=auth, content=b"{nope",
                          )
        missing = client.get("/v1/nothing", headers=auth)
    assert bad.status_code in (400, 415)
    assert missing.status_code == 404

    def seen() -> tuple[list[str], bool, bool, bool]:
        lines = [line for line in gw.log().splitlines() if "gateway.access" in line]
        return (lines,
                any('"POST /v1/chat/completions" 200 model=mock/echo' in line
                    and "key=alice" in line and ok.headers["x-request-id"] in line
                    for line in lines),
                any(f'" {bad.status_code} ' in line for line in lines),
                any('"GET other" 404' in line for line in lines))

    # Each line is written when its response is done: wait for all three, not the first.
    deadline = time.monotonic() + 10
    lines, *found = seen()
    while time.monotonic() < deadline and not all(found):
        time.sleep(0.05)
        lines, *found = seen()
    assert found == [True, True, True], lines


def test_metrics_are_for_loopback_and_admin_keys(
        observed: tuple[Home, Gateway, str, str]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    _, gw, user, admin = observed
    with httpx.Client(base_url=gw.url, timeout=10) as client:
        client.post("/v1/chat/completions", headers={"authorization": f"Bearer {user}"},
                    json={"model": "mock/echo", "messages": MESSAGES})
        page = client.get("/metrics")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/plain; version=0.0.4")
        families = {f.name: f for f in text_string_to_metric_families(page.text)}
        requests = families["gateway_requests"]
        assert any(s.labels.get("model") == "mock/echo" and s.labels.get("status") == "200"
                   and s.value >= 1 for s in requests.samples)
        assert "gateway_request_duration_seconds" in families
        assert "gateway_audit_queue_depth" in families
        forwarded = {"x-forwarded-for": "203.0.113.9"}
        assert client.get("/metrics", headers=forwarded).status_code == 403
        assert client.get("/metrics", headers={
            **forwarded, "authorization": f"Bearer {user}"}).status_code == 403
        assert client.get("/metrics", headers={
            **forwarded, "authorization": f"Bearer {admin}"}).status_code == 200
        assert client.get("/metrics", headers={
            "authorization": "Bearer gwk_wrong"}).status_code == 401
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert "models" not in client.get("/health/ready", headers=forwarded).json()


def test_signing_key_rotated_while_serving(signed_home: Home, tmp_path: Path) -> None:
    gw = signed_home.serve(tmp_path)
    try:
        asyncio.run(_load(gw.url, 20, 4))
        rotated = signed_home.run("rotate-keys", "--signing", store=True)
        assert rotated.returncode == 0, rotated.stderr
        asyncio.run(_load(gw.url, 20, 4))
    finally:
        stop_gateway(gw)
    kids = [r["kid"] for r in records(signed_home)]
    assert len(kids) == 40 and None not in kids
    assert kids[0] == kids[19] and kids[20] == kids[39] and kids[0] != kids[39]
    result = verify(signed_home)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_second_gateway_on_the_same_log_does_not_start(signed_home: Home,
                                                         tmp_path: Path) -> None:
    gw = signed_home.serve(tmp_path)
    try:
        with pytest.raises(RuntimeError) as info:
            signed_home.serve(tmp_path)
        assert "requests.jsonl" in str(info.value)
    finally:
        stop_gateway(gw)
