"""The request log's writer: real files, a real thread, and verify_log over the result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway_cli.auditlog import files
from gateway_cli.auditlog.chain import AuditError
from gateway_cli.auditlog.verify_log import verify_log
from tests.unit.auditlog.helpers import (
    DAY,
    KEY_A,
    KEY_B,
    KEYS,
    NOW,
    Clock,
    lines,
    request,
    wait_for,
    write_log,
    writer,
)


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for p in files.log_files(path) for line in lines(p)]


def test_records_are_batched_into_far_fewer_writes(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log)
    w.start()
    for i in range(3000):
        assert w.submit("llm.request", request(i), NOW + i / 1000)
    assert w.close()
    assert w.written == 3000 and w.depth == 0 and w.healthy and w.errors == 0
    assert w.batches < 300, w.batches
    assert stat_mode(log) == 0o600
    report = verify_log(log, KEYS)
    assert report.ok, report.problems
    assert report.records == 3000 and report.signed == 3000 and report.end is not None
    assert report.end.seq == 2999 and report.end.line == 3000
    assert [r["data"]["id"] for r in records(log)] == [  # type: ignore[index]
        f"req-{i:08d}" for i in range(3000)]


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_close_drains_the_queue_and_is_idempotent(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log, flush_interval=5.0, max_batch=7)
    w.start()
    for i in range(500):
        w.submit("llm.request", request(i), NOW)
    assert w.close() and w.close()
    assert w.written == 500 and len(lines(log)) == 500
    assert not w.submit("llm.request", request(501), NOW)  # closed: not silently queued
    again = writer(log)  # the lock was released
    again.start()
    again.close()


def test_drop_mode_counts_drops_and_records_them(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log, queue=16, on_full="drop")
    accepted = [w.submit("llm.request", request(i), NOW) for i in range(20)]  # not started
    assert accepted == [True] * 16 + [False] * 4
    assert w.dropped == 4 and w.depth == 16
    w.start()
    assert w.close()
    written = [r["data"] for r in records(log)]
    assert written[0]["dropped"] == 4  # type: ignore[index]
    assert all("dropped" not in d for d in written[1:])  # type: ignore[operator]
    assert verify_log(log, KEYS).ok


def test_block_mode_has_room_and_keeps_what_was_answered(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log, queue=16, on_full="block")
    for i in range(16):
        assert w.has_room()
        assert w.submit("llm.request", request(i), NOW)
    assert not w.has_room()
    assert w.submit("llm.request", request(16), NOW)  # already answered: kept
    w.start()
    wait_for(lambda: w.written == 17)
    assert w.has_room() and w.dropped == 0
    w.close()
    assert len(lines(log)) == 17


def test_rotation_by_size_continues_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    write_log(log, 60, rotate_bytes=4096, max_batch=3)
    rotated = files.rotated_files(log)
    assert len(rotated) >= 5
    for path in rotated:
        assert 4096 <= path.stat().st_size < 4096 + 3 * 1000  # rotated before a batch
        first = json.loads(lines(path)[0])
        assert files.first_seq_of(path, log) == first["seq"]
        assert stat_mode(path) == 0o600
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    write_log(log, 5, start=60, rotate_bytes=4096)  # a restart continues it too
    report = verify_log(log, KEYS)
    assert report.ok, report.problems
    assert report.records == 65 and report.starts_at is None
    assert [r["seq"] for r in records(log)] == list(range(65))


def test_rotation_by_day(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    clock = Clock(NOW)
    w = writer(log, rotate_daily=True, clock=clock)
    w.start()
    for i in range(3):
        w.submit("llm.request", request(i), NOW + i)
    wait_for(lambda: w.written == 3)
    assert files.rotated_files(log) == []
    clock.now = NOW + DAY
    for i in range(3, 5):
        w.submit("llm.request", request(i), NOW + DAY + i)
    w.close()
    assert files.rotated_files(log) == [files.rotated_name(log, 0)]
    assert [json.loads(x)["seq"] for x in lines(log)] == [3, 4]
    report = verify_log(log, KEYS)
    assert report.ok and report.records == 5, report.problems
    assert report.end is not None and report.end.time.startswith("2025-06-16")


def test_resume_after_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    write_log(log, 4)
    cut = b'{"data":{"applied":"allow","attempts":1'
    with log.open("ab") as handle:
        handle.write(cut)
    report = verify_log(log, KEYS)
    assert report.ok and report.partial_bytes == len(cut) and report.records == 4
    assert report.where_it_ends() == (
        f"the log ends at seq 3 (2025-06-15T15:06:43.000Z), requests.jsonl line 4, "
        f"followed by a partial record of {len(cut)} bytes: a crash while writing")
    before = log.read_bytes()
    with pytest.raises(AuditError, match="signed"):
        writer(log, None).start()  # cannot sign the resume record: nothing is touched
    assert log.read_bytes() == before
    write_log(log, 2, start=4)
    written = records(log)
    assert written[4]["event"] == "log.resumed"
    assert written[4]["data"] == {"dropped_bytes": len(cut), "after_seq": 3}
    assert [r["seq"] for r in written] == list(range(7))
    report = verify_log(log, KEYS)
    assert report.ok and report.partial_bytes == 0, report.problems


def test_a_partial_first_line_is_resumed_from_the_rotated_file(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    write_log(log, 6, rotate_bytes=4096, max_batch=1)
    rotated_only = [json.loads(x) for p in files.rotated_files(log) for x in lines(p)]
    log.write_bytes(b'{"data":{"id"')
    write_log(log, 1, start=6, rotate_bytes=4096)
    resumed = json.loads(lines(log)[0])
    assert resumed["event"] == "log.resumed"
    assert resumed["seq"] == len(rotated_only) == resumed["data"]["after_seq"] + 1
    assert verify_log(log, KEYS).ok


def test_a_file_that_is_not_a_log_is_refused_not_cut(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_bytes(b"some other file\nwithout a final newline")
    log.chmod(0o600)
    with pytest.raises(AuditError, match="not a record cut short"):
        writer(log).start()
    assert log.read_bytes() == b"some other file\nwithout a final newline"
    log.write_bytes(b"garbage\n")
    with pytest.raises(AuditError, match="not a valid record"):
        writer(log).start()


def test_a_second_writer_on_the_same_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    first = writer(log)
    first.start()
    second = writer(log)
    with pytest.raises(AuditError, match="in use by another gateway"):
        second.start()
    first.submit("llm.request", request(0), NOW)
    first.close()
    second.start()  # free again
    second.close()
    assert verify_log(log, KEYS).ok


def test_a_second_gateway_process_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    first = writer(log)
    first.start()
    try:
        script = textwrap.dedent(f"""
            from pathlib import Path
            from gateway_cli.auditlog.writer import AuditWriter
            AuditWriter(Path({str(log)!r}), None, queue=16, on_full="block",
                        rotate_bytes=None, rotate_daily=False).start()
        """)
        result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                                text=True, timeout=60, check=False)
        assert result.returncode != 0
        assert "in use by another gateway" in result.stderr
    finally:
        first.close()


def test_key_swap_mid_file(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log, KEY_A)
    w.start()
    for i in range(3):
        w.submit("llm.request", request(i), NOW + i)
    wait_for(lambda: w.written == 3)
    w.set_key(KEY_B)
    with pytest.raises(AuditError, match="stripped signature"):
        w.set_key(None)
    for i in range(3, 6):
        w.submit("llm.request", request(i), NOW + i)
    w.close()
    assert [r["kid"] for r in records(log)] == [KEY_A.kid] * 3 + [KEY_B.kid] * 3
    both = verify_log(log, KEYS)
    assert both.ok and both.unverifiable == 0
    only_new = verify_log(log, {KEY_B.kid: KEY_B.key})
    assert only_new.ok and only_new.unverifiable == 3, only_new.problems
    only_old = verify_log(log, {KEY_A.kid: KEY_A.key})
    assert not only_old.ok and "signed with unknown kid" in only_old.problems[0]


def test_an_unsigned_writer_on_a_signed_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    write_log(log, 1)
    with pytest.raises(AuditError, match="signed"):
        writer(log, None).start()
    unsigned = tmp_path / "unsigned.jsonl"
    write_log(unsigned, 2, key=None)
    write_log(unsigned, 1, key=KEY_A, start=2)  # signing from now on is fine
    assert verify_log(unsigned, KEYS).ok


def test_a_non_json_record_is_refused_and_the_rest_written(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    w = writer(log, queue=16, on_full="drop")
    for i in range(18):  # two dropped: the count rides on the first good record
        w.submit("llm.request", request(i), NOW)
    w._queue[0] = ("llm.request", {"x": float("nan")}, NOW)  # a caller's bug
    w.start()
    assert w.close()
    assert w.refused == 1 and w.written == 15
    written = records(log)
    assert written[0]["data"]["dropped"] == 2  # type: ignore[index]
    assert verify_log(log, KEYS).ok


def test_an_unfinished_rotation_is_finished_at_start(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    write_log(log, 3)
    os.link(log, files.rotated_name(log, 0))  # the crash came between link and rename
    write_log(log, 2, start=3)
    assert files.rotated_files(log) == [files.rotated_name(log, 0)]
    assert [json.loads(x)["seq"] for x in lines(log)] == [3, 4]
    assert verify_log(log, KEYS).ok


@pytest.mark.parametrize("kind", ["symlink", "group-writable", "directory"])
def test_unsafe_log_files_are_refused(tmp_path: Path, kind: str) -> None:
    log = tmp_path / "requests.jsonl"
    if kind == "symlink":
        target = tmp_path / "elsewhere.jsonl"
        target.write_bytes(b"")
        target.chmod(0o600)
        log.symlink_to(target)
    elif kind == "group-writable":
        log.write_bytes(b"")
        log.chmod(0o620)
    else:
        log.mkdir()
    with pytest.raises(AuditError, match="request log"):
        writer(log).start()


def test_write_errors_keep_the_records_and_recover(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE) makes writes fail for real; lifting it recovers."""
    log = tmp_path / "requests.jsonl"
    script = textwrap.dedent(f"""
        import resource, signal, time
        from pathlib import Path
        from tests.unit.auditlog.helpers import KEY_A, NOW, request, wait_for, writer
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        w = writer(Path({str(log)!r}), KEY_A, max_batch=4)
        w.start()
        w.submit("llm.request", request(0), NOW)
        wait_for(lambda: w.written == 1)
        resource.setrlimit(resource.RLIMIT_FSIZE, (5000, hard))
        for i in range(1, 30):
            w.submit("llm.request", request(i), NOW + i)
        wait_for(lambda: not w.healthy and w.errors > 0)
        assert w.depth > 0
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        wait_for(lambda: w.healthy and w.depth == 0)
        assert w.close() and w.written == 30
        print("errors", w.errors)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False, cwd=Path(__file__).parents[3])
    assert result.returncode == 0, result.stderr
    assert "cannot write the request log" in result.stderr  # logged once, at ERROR
    assert "billing-app" not in result.stderr and "req-" not in result.stderr
    report = verify_log(log, KEYS)
    assert report.ok and report.records == 30, report.problems
