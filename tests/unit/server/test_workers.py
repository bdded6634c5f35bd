"""`--workers`: the count, the limits store each worker counts in, and each one's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway_cli.auditlog.files import rotated_name, worker_chains, worker_log_path
from gateway_cli.errors import StartupError
from gateway_cli.server.limits_setup import effective_store
from gateway_cli.server.workers import MAX_WORKERS, parse_count


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
