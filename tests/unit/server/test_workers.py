"""`--workers`: the count, the limits store each worker counts in, and each one's log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway_cli.auditlog.files import rotated_name, worker_chains, worker_log_path
from gateway_cli.errors import StartupError
from gateway_cli.server.limits_setup import effective_store
from gateway_cli.server.workers import MAX_WORKERS, RestartBudget, describe_status, parse_count


@pytest.mark.parametrize(("value", "count"), [("1", 1), ("2", 2), (3, 3), (" AUTO ", 4),
                                              ("auto", 4), (str(MAX_WORKERS), MAX_WORKERS)])
def test_counts(value: str | int, count: int) -> None:
    assert parse_count(value, cpus=4) == count


def test_auto_is_bounded() -> None:
    assert parse_count("auto", cpus=1000) == MAX_WORKERS
    assert parse_count("auto", cpus=0) == 1


@pytest.mark.parametrize("value", ["0", "-1", str(MAX_WORKERS + 1), "two", "", "1.5", "1e3"])
def test_bad_counts_are_one_line(value: str) -> None:
    with pytest.raises(StartupError) as info:
        parse_count(value, cpus=4)
    message = str(info.value)
    assert "--workers" in message and "\n" not in message


def test_memory_limits_become_sqlite_with_more_than_one_worker() -> None:
    assert effective_store("memory", 1) == "memory"
    assert effective_store("memory", 2) == "sqlite"
    assert effective_store("sqlite", 2) == "sqlite"
    assert effective_store("redis", 8) == "redis"


def test_each_worker_writes_a_chain_of_its_own(tmp_path: Path) -> None:
    active = tmp_path / "requests.jsonl"
    assert worker_log_path(active, 1) == active
    second = worker_log_path(active, 2)
    assert second == tmp_path / "requests.worker2.jsonl"
    assert worker_chains(active) == []
    second.write_text("")
    # Worker 12's chain exists only as rotated files: it is still found.
    rotated_name(worker_log_path(active, 12), 1).write_text("")
    # The main chain's rotated files and unrelated names are not worker chains.
    rotated_name(active, 1).write_text("")
    for name in ("requests.worker1.jsonl", "requests.worker2.jsonl.bak", "requests.workerx.jsonl",
                 "other.worker3.jsonl", "requests.worker02.jsonl"):
        (tmp_path / name).write_text("")
    assert worker_chains(active) == [second, worker_log_path(active, 12)]
    assert worker_chains(tmp_path / "missing" / "requests.jsonl") == []


# --- dead workers: restarted with backoff, within a budget -------------------------

def test_restart_delay_doubles_and_the_sixth_death_in_a_minute_stops() -> None:
    budget = RestartBudget()
    delays = [budget.death(100.0 + i) for i in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert budget.death(105.0) is None  # six deaths within 60 s


def test_deaths_older_than_the_window_are_forgotten() -> None:
    budget = RestartBudget(limit=2, window=10.0, first_delay=1.0, max_delay=3.0)
    assert budget.death(0.0) == 1.0
    assert budget.death(5.0) == 2.0
    assert budget.death(10.5) == 2.0  # the death at 0 is out of the window
    assert budget.death(11.0) is None  # three within 10 s: 5, 10.5, 11
    many = RestartBudget(limit=100, first_delay=0.5, max_delay=10.0)
    assert [many.death(float(i)) for i in range(8)][-1] == 10.0  # capped


def test_a_wait_status_reads_as_an_exit_code_or_a_signal() -> None:
    assert describe_status(3 << 8) == "exit 3"
    assert describe_status(signal.SIGKILL) == "killed by SIGKILL"


# The supervisor sets signal handlers and forks: it runs in a process of its own here.
SUPERVISOR = """
import json, logging, os, signal, sys, time
from gateway_cli.server.workers import RestartBudget, supervise
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
out, mode = sys.argv[1], sys.argv[2]

def note(**what):
    with open(out, "a") as f:
        f.write(json.dumps(what) + "\\n")

def serve(index, restarted):
    note(index=index, restarted=restarted, pid=os.getpid(),
         default_term=signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
         and signal.getsignal(signal.SIGHUP) == signal.SIG_DFL
         and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if mode == "always-dies" or (index == 2 and not restarted):
        os._exit(3)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        time.sleep(1)

budget = RestartBudget(limit=3, window=60.0, first_delay=0.05, max_delay=0.2)
def after_death(pid):
    note(dead=pid)
    if mode == "always-dies":
        raise OSError("the run directory is gone")  # logged; supervision goes on

code = supervise(2, serve, budget=budget, after_death=after_death)
note(code=code)
sys.exit(code)
"""


def _supervisor(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    out = tmp_path / "notes.jsonl"
    process = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(out), mode],
                               stderr=subprocess.PIPE, text=True)
    return process, out


def _notes(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_a_dead_worker_is_forked_again_with_its_index(tmp_path: Path) -> None:
    process, out = _supervisor(tmp_path, "dies-once")
    try:
        deadline = time.monotonic() + 20
        while not any(n.get("restarted") for n in _notes(out)):
            assert time.monotonic() < deadline and process.poll() is None, _notes(out)
            time.sleep(0.05)
        time.sleep(0.3)  # the replacement keeps running: no further death, no stop
        assert process.poll() is None
        notes = _notes(out)
        starts = [n for n in notes if "index" in n]
        assert [(n["index"], n["restarted"]) for n in starts] == [
            (1, False), (2, False), (2, True)] or \
            [(n["index"], n["restarted"]) for n in starts] == [(2, False), (1, False), (2, True)]
        assert all(n["default_term"] for n in starts)  # not the parent's handler
        first_two = next(n["pid"] for n in starts if n["index"] == 2 and not n["restarted"])
        assert [n["dead"] for n in notes if "dead" in n] == [first_two]
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert f"WARNING worker 2 (pid {first_two}) ended on its own (exit 3); restarting it " \
        "in 0.1 s" in err
    assert "WARNING worker 2 restarted" in err
    assert _notes(out)[-1] == {"code": 0}


def test_workers_that_keep_dying_stop_the_gateway_with_exit_1(tmp_path: Path) -> None:
    process, out = _supervisor(tmp_path, "always-dies")
    try:
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 1, err
    notes = _notes(out)
    # Two workers, then restarts until the fourth death (limit 3) stops everything.
    assert len([n for n in notes if "index" in n]) == 4, notes
    assert err.count("restarting it in") == 3, err
    assert "the 4th death in 60 s; stopping the gateway" in err
    assert err.count("cleaning up after worker") == 4 and "OSError" in err
    assert notes[-1] == {"code": 1}


def test_the_served_configuration_is_recorded_by_digest_only(tmp_path: Path) -> None:
    from gateway_cli.config import Config, ServerConfig
    from gateway_cli.server import served_config

    assert served_config.recorded(tmp_path) is None
    start, reloaded = Config(), Config(server=ServerConfig(log_level="debug"))
    assert served_config.digest(start) == served_config.digest(Config())
    assert served_config.digest(start) != served_config.digest(reloaded)
    served_config.record(tmp_path, reloaded)
    assert served_config.recorded(tmp_path) == served_config.digest(reloaded)
    where = tmp_path / "run" / "served-config"
    assert where.read_text() == served_config.digest(reloaded) + "\n"
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o700
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["served-config"]  # no temp left
    where.write_bytes(b"\xff\xfe not a digest")
    assert served_config.recorded(tmp_path) is None  # a damaged record is no record
    served_config.forget(tmp_path)
    served_config.forget(tmp_path)  # twice: nothing to remove is fine
    assert served_config.recorded(tmp_path) is None
