"""`gateway serve --workers 2`: two processes on one socket share what must be shared.

Each request below opens a new connection, so the kernel hands them to either
worker; which worker answered is read back from the request log, where each
worker writes a chain of its own. Every assertion about "both workers" first
checks that both did answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import Gateway, clear_of_minute_edge, start_gateway, stop_gateway
from tests.integration.test_client_keys import Home, create_client, make_home

CONFIG = '[server]\nlog_level = "info"\n'
ROUNDS = 40  # new connections per check: both workers answer some (checked, not assumed)


@dataclass
class Pair:
    home: Home
    gw: Gateway
    tokens: dict[str, str]
    config: Path

    def post(self, token: str) -> int:
        # A fresh client each time: a new connection, accepted by either worker.
        with httpx.Client(timeout=20) as client:
            return client.post(self.gw.url + "/v1/chat/completions",
                               headers={"authorization": f"Bearer {token}"},
                               json={"model": "mock/echo", "messages": [
                                   {"role": "user", "content": "hello workers"}]}).status_code

    def post_many(self, token: str, count: int = ROUNDS) -> list[int]:
        """`count` posts, eight at a time: one after another, the kernel may hand every
        new connection to the worker that just answered (the last one to wait in
        accept), so only concurrent ones reach both workers reliably."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(self.post, [token] * count))

    def chains(self) -> dict[str, Path]:
        return {"worker 1": self.home.path / "requests.jsonl",
                "worker 2": self.home.path / "requests.worker2.jsonl"}

    def statuses(self, since: dict[str, int]) -> dict[str, list[int]]:
        """Statuses each worker recorded after `since` (records per chain)."""
        out = {}
        for name, path in self.chains().items():
            lines = path.read_text().splitlines() if path.exists() else []
            out[name] = [json.loads(line)["data"].get("status") for line in lines[since[name]:]]
        return out

    def marks(self) -> dict[str, int]:
        return {name: len(path.read_text().splitlines()) if path.exists() else 0
                for name, path in self.chains().items()}

    def settle(self, since: dict[str, int], expected: int) -> dict[str, list[int]]:
        """Wait until the writers have recorded `expected` new records in all."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            seen = self.statuses(since)
            if sum(map(len, seen.values())) >= expected:
                return seen
            time.sleep(0.05)
        raise AssertionError(f"the request log holds {self.statuses(since)}")


def control_sockets(home: Home, count: int = 2) -> list[Path]:
    """The workers' control sockets, once `count` exist (/health answers as soon as the
    first worker serves; the second may still be starting)."""
    deadline = time.monotonic() + 20
    while True:
        sockets = sorted((home.path / "run").glob("gateway-*.sock"))
        if len(sockets) >= count or time.monotonic() > deadline:
            return sockets
        time.sleep(0.05)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    home = make_home(tmp_path)
    tokens = {name: create_client(home, name, *extra)
              for name, extra in (("alive", ()), ("doomed", ()), ("limited", ("--rpm", "5")))}
    gw = home.serve(tmp_path, "--workers", "2", config=CONFIG)
    yield Pair(home, gw, tokens, tmp_path / "gateway.toml")
    stop_gateway(gw)


def test_two_workers_share_revocations_limits_reloads_and_keep_the_log_intact(
        pair: Pair) -> None:
    log = pair.gw.log()
    assert "2 workers serving" in log
    assert "limits: 2 workers count in the shared SQLite store" in log
    # Each worker's lines name it; the supervising process's do not.
    serving = next(line for line in log.splitlines() if "2 workers serving" in line)
    assert " INFO gateway: " in serving
    assert len(control_sockets(pair.home)) == 2  # one control socket per worker

    # Both workers serve the live key.
    mark = pair.marks()
    assert set(pair.post_many(pair.tokens["alive"])) == {200}
    seen = pair.settle(mark, ROUNDS)
    assert seen["worker 1"] and seen["worker 2"], seen

    # A revoked key is refused by both: `gateway clients revoke` reaches every worker.
    result = pair.home.run("clients", "revoke", "doomed", store=True)
    assert result.returncode == 0, result.stderr
    mark = pair.marks()
    codes = pair.post_many(pair.tokens["doomed"])
    assert set(codes) == {401}, codes
    seen = pair.settle(mark, ROUNDS)
    assert seen["worker 1"] and seen["worker 2"], seen
    assert set(seen["worker 1"]) == set(seen["worker 2"]) == {401}

    # A per-key limit of 5 a minute holds across both workers (not 5 each). Posts that
    # straddle the calendar minute's edge may get 5 on each side: start well inside one.
    clear_of_minute_edge(20.0)
    mark = pair.marks()
    codes = pair.post_many(pair.tokens["limited"], 20)
    assert codes.count(200) == 5 and codes.count(429) == 15, codes
    seen = pair.settle(mark, 20)
    assert seen["worker 1"] and seen["worker 2"], seen

    # `gateway reload` reaches both and each answers, and says which worker it is.
    result = pair.home.run("reload")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if ": reloaded" in line]
    assert len(lines) == 2, result.stdout
    deadline = time.monotonic() + 10
    while not all(f"gateway[worker {k}]: " in pair.gw.log() for k in (1, 2)):
        assert time.monotonic() < deadline, pair.gw.log()
        time.sleep(0.05)
    access = [line for line in pair.gw.log().splitlines() if "gateway.access" in line]
    assert {line.split(": ", 1)[0].split(" INFO ", 1)[1] for line in access} == {
        "gateway.access[worker 1]", "gateway.access[worker 2]"}, access[:4]

    # /metrics is per worker, and says which worker answered the scrape.
    # Each scrape is a new connection; which worker accepts it is the kernel's choice, so
    # scrape until both have answered (bounded: a busy machine can favour one for a while).
    answered = set()
    deadline = time.monotonic() + 30
    while len(answered) < 2 and time.monotonic() < deadline:
        with httpx.Client(timeout=20) as client:
            text = client.get(pair.gw.url + "/metrics").text
        answered |= {line.split("}")[0] for line in text.splitlines()
                     if line.startswith("gateway_worker{")}
    assert answered == {'gateway_worker{worker="1",workers="2"',
                        'gateway_worker{worker="2",workers="2"'}, answered

    # Each worker's chain is intact and `gateway log verify` checks both.
    result = pair.home.run("log", "verify", store=True)
    assert result.returncode == 0, result.stdout + result.stderr
    intact = [line for line in result.stdout.splitlines() if line.endswith("intact")]
    assert len(intact) == 2, result.stdout
    assert "requests.worker2.jsonl" in result.stdout


def test_tampering_with_a_workers_chain_fails_verification(pair: Pair) -> None:
    mark = pair.marks()
    assert set(pair.post_many(pair.tokens["alive"])) == {200}
    seen = pair.settle(mark, ROUNDS)
    assert seen["worker 2"], seen
    stop_gateway(pair.gw)
    second = pair.chains()["worker 2"]
    lines = second.read_text().splitlines()
    record = json.loads(lines[0])
    record["data"]["status"] = 500
    lines[0] = json.dumps(record, separators=(",", ":"))
    second.write_text("\n".join(lines) + "\n")
    result = pair.home.run("log", "verify", store=True)
    assert result.returncode == 1, result.stdout
    assert "TAMPERED" in result.stdout and "requests.worker2.jsonl" in result.stdout


def test_a_killed_worker_is_replaced_and_its_chain_resumes(pair: Pair) -> None:
    import os
    import signal

    # Both workers have recorded requests before one is killed.
    assert len(control_sockets(pair.home)) == 2  # both serve
    mark = pair.marks()
    assert set(pair.post_many(pair.tokens["alive"])) == {200}
    assert all(pair.settle(mark, ROUNDS).values())
    before = {p.stem.removeprefix("gateway-") for p in control_sockets(pair.home)}
    victim = sorted(before)[0]
    os.kill(int(victim), signal.SIGKILL)

    # The gateway keeps serving while the worker is forked again.
    deadline = time.monotonic() + 20
    while "restarted (pid" not in pair.gw.log():
        assert pair.gw.process.poll() is None, pair.gw.log()
        assert pair.post(pair.tokens["alive"]) == 200
        assert time.monotonic() < deadline, pair.gw.log()
    log = pair.gw.log()
    assert f"(pid {victim}) ended on its own (killed by SIGKILL); restarting it in" in log
    assert " WARNING " in next(line for line in log.splitlines() if "ended on its own" in line)

    # Its control socket is replaced: two sockets again, the dead one's removed.
    deadline = time.monotonic() + 20
    while True:
        after = {p.stem.removeprefix("gateway-") for p in control_sockets(pair.home)}
        if len(after) == 2 and victim not in after:
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.05)
    replacement = (after - before).pop()
    assert f"restarted (pid {replacement})" in log

    # The replacement answers (its chain grows again) and reloads reach it.
    mark = pair.marks()
    assert set(pair.post_many(pair.tokens["alive"])) == {200}
    seen = pair.settle(mark, ROUNDS)
    assert seen["worker 1"] and seen["worker 2"], seen
    result = pair.home.run("reload")
    assert result.returncode == 0, result.stderr
    assert sum(": reloaded" in line for line in result.stdout.splitlines()) == 2, result.stdout
    assert f"gateway-{replacement}.sock" in result.stdout

    # A revocation after the restart is refused by both, the replacement included.
    assert pair.home.run("clients", "revoke", "doomed", store=True).returncode == 0
    mark = pair.marks()
    assert set(pair.post_many(pair.tokens["doomed"])) == {401}
    seen = pair.settle(mark, ROUNDS)
    assert seen["worker 1"] and seen["worker 2"], seen

    # Both chains verify: the restarted worker resumed its own chain where it ended.
    stop_gateway(pair.gw)
    result = pair.home.run("log", "verify", store=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(line.endswith("intact") for line in result.stdout.splitlines()) == 2


@pytest.mark.parametrize("value", ["0", "65", "many", "-1"])
def test_a_bad_worker_count_is_one_line(tmp_path: Path, value: str) -> None:
    home = make_home(tmp_path)
    result = home.run("serve", "--workers", value)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("gateway: ")]
    assert "--workers" in result.stderr and "Traceback" not in result.stderr


def test_sighup_to_the_gateway_reloads_every_workers_certificate(tmp_path: Path) -> None:
    import datetime
    import os
    import signal

    from tests.fakes.pki import issue, make_pki
    from tests.integration.test_tls_reload import served_serial

    pki = make_pki(tmp_path)
    config = f'[server]\ntls_cert = "{pki.cert}"\ntls_key = "{pki.key}"\n'
    gw = start_gateway(tmp_path, "--workers", "2", config=config,
                       verify=pki.client_context())
    try:
        # Both workers have taken their copy of the first certificate (a worker still
        # starting would take the renewed one and have nothing to reload).
        deadline = time.monotonic() + 30
        while len(list((tmp_path / "gateway-home" / "run").glob("gateway-*.sock"))) < 2:
            assert time.monotonic() < deadline, gw.log()
            time.sleep(0.05)
        first = served_serial(gw.port, pki.client_context())
        renewed = issue(pki, pki.cert, pki.key, datetime.timedelta(days=90))
        os.kill(gw.process.pid, signal.SIGHUP)  # the parent passes it on to each worker
        deadline = time.monotonic() + 30
        while gw.log().count("TLS certificate reloaded") < 2:
            assert time.monotonic() < deadline, gw.log()
            time.sleep(0.1)
        serials = {served_serial(gw.port, pki.client_context()) for _ in range(ROUNDS)}
        assert serials == {renewed} and renewed != first
        assert gw.process.poll() is None
    finally:
        stop_gateway(gw)


RELOADED = CONFIG + '''
[mock]
enabled = true

[[providers]]
name = "nowhere"
kind = "openai-compatible"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "extra"
deployments = [{ provider = "nowhere", model = "extra" }]
'''


def _kill_one_and_wait(pair: Pair) -> str:
    """SIGKILL the first worker by pid; return once its replacement's socket exists."""
    import os
    import signal

    before = {p.stem.removeprefix("gateway-") for p in control_sockets(pair.home)}
    restarts = pair.gw.log().count("restarted (pid")
    os.kill(int(sorted(before)[0]), signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        after = {p.stem.removeprefix("gateway-") for p in control_sockets(pair.home)}
        if pair.gw.log().count("restarted (pid") > restarts and len(after) == 2 \
                and not after & {sorted(before)[0]}:
            return (after - before).pop()
        assert pair.gw.process.poll() is None and time.monotonic() < deadline, pair.gw.log()
        time.sleep(0.05)


def test_a_restarted_worker_serves_the_configuration_the_others_reloaded(pair: Pair) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def post(model: str) -> None:
        with httpx.Client(timeout=20) as client:  # a new connection each
            client.post(pair.gw.url + "/v1/chat/completions",
                        headers={"authorization": f"Bearer {pair.tokens['alive']}"},
                        json={"model": model, "messages": [
                            {"role": "user", "content": "hello workers"}]})

    def statuses_for(model: str) -> dict[str, list[int]]:
        """What each worker answered; eight at a time, so that both workers accept."""
        mark = pair.marks()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, [model] * ROUNDS))
        seen = pair.settle(mark, ROUNDS)
        assert seen["worker 1"] and seen["worker 2"], seen
        return seen

    assert len(control_sockets(pair.home)) == 2
    unknown = statuses_for("extra")
    assert set(unknown["worker 1"]) == set(unknown["worker 2"]) == {404}, unknown

    pair.config.write_text(RELOADED)
    result = pair.home.run("reload")
    assert result.returncode == 0 and result.stdout.count(": reloaded") == 2, result.stdout
    # Known now: its upstream is unreachable (502, then 503 once that worker's breaker
    # for it opens), no longer an unknown model (404).
    served = statuses_for("extra")
    assert set(served["worker 1"]) | set(served["worker 2"]) <= {502, 503}, served

    # The replacement of a killed worker serves the reloaded file, as the others do.
    _kill_one_and_wait(pair)
    again = statuses_for("extra")
    assert set(again["worker 1"]) | set(again["worker 2"]) <= {502, 503}, again
    assert "serves the configuration the other workers reloaded" in pair.gw.log()

    # gateway.toml edited but not reloaded: the replacement keeps what the parent read at
    # start (the file is neither what the others serve nor reloaded), and says so.
    pair.config.write_text(RELOADED + "\n[inspection]\nenabled = false\n")
    _kill_one_and_wait(pair)
    deadline = time.monotonic() + 20
    while "changed since the other workers reloaded it" not in pair.gw.log():
        assert time.monotonic() < deadline, pair.gw.log()
        time.sleep(0.05)
    warning = next(line for line in pair.gw.log().splitlines()
                   if "changed since the other workers reloaded it" in line)
    assert " WARNING " in warning and "run `gateway reload`" in warning
