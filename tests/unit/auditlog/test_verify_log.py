"""verify_log over a rotated log: every tamper class named by file, line and seq."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from gateway_cli.auditlog import files
from gateway_cli.auditlog.chain import AuditError
from gateway_cli.auditlog.verify_log import LogReport, verify_log
from tests.unit.auditlog.helpers import KEY_A, KEYS, lines, write_log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """About 30 signed records over several files, two records per batch."""
    path = tmp_path / "requests.jsonl"
    write_log(path, 30, rotate_bytes=4096, max_batch=2)
    assert len(files.rotated_files(path)) >= 4
    assert verify_log(path, KEYS).ok
    return path


def text(report: LogReport) -> str:
    return "\n".join(report.problems)


def middle(log: Path) -> Path:
    return files.rotated_files(log)[1]


def encode(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode() + b"\n"


def rewrite(path: Path, index: int, sign_with: bytes | None = None,
            data: dict[str, object] | None = None, **changes: object) -> int:
    raw = lines(path)
    record = json.loads(raw[index])
    record.update(changes)
    record["data"].update(data or {})
    if sign_with is not None:
        body = encode({k: v for k, v in record.items() if k != "mac"})[:-1]
        record["mac"] = hmac.new(sign_with, body, hashlib.sha256).hexdigest()
    raw[index] = encode(record)
    path.write_bytes(b"".join(raw))
    return int(record["seq"])


def test_an_intact_multi_file_log(log: Path) -> None:
    report = verify_log(log, KEYS)
    assert report.records == report.signed == 30 and report.unverifiable == 0
    assert report.starts_at is None and report.partial_bytes == 0
    assert report.end is not None and (report.end.seq, report.end.file) == (29, log)


def test_edited_record(log: Path) -> None:
    path = middle(log)
    seq = rewrite(path, 1, data={"status": 500})
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 2 (seq {seq}): MAC mismatch" in report
    assert f"{path.name} line 3 (seq {seq + 1}): prev is not the hash of {path.name} line 2 " \
        f"(seq {seq})" in report


def test_deleted_record(log: Path) -> None:
    path = middle(log)
    raw = lines(path)
    seq = json.loads(raw[1])["seq"]
    path.write_bytes(b"".join(raw[:1] + raw[2:]))
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 2 (seq {seq + 1}): seq {seq + 1} where {seq} was expected" \
        in report


def test_inserted_record(log: Path) -> None:
    path = middle(log)
    raw = lines(path)
    seq = json.loads(raw[0])["seq"]
    path.write_bytes(b"".join(raw[:1] + raw[:1] + raw[1:]))
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 2 (seq {seq}): seq {seq} where {seq + 1} was expected" in report


def test_reordered_records(log: Path) -> None:
    path = middle(log)
    raw = lines(path)
    seq = json.loads(raw[0])["seq"]
    path.write_bytes(b"".join([raw[1], raw[0], *raw[2:]]))
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 1 (seq {seq + 1}): seq {seq + 1} where {seq} was expected" \
        in report


def test_a_truncated_rotated_file(log: Path) -> None:
    path = middle(log)
    after = files.rotated_files(log)[2]
    path.write_bytes(b"".join(lines(path)[:-1]))
    report = text(verify_log(log, KEYS))
    first = json.loads(lines(after)[0])["seq"]
    assert f"{after.name} line 1 (seq {first}): seq {first} where {first - 1} was expected" \
        in report
    assert f"{after.name} line 1 (seq {first}): prev is not the hash of {path.name}" in report


def test_a_rotated_file_cut_mid_line(log: Path) -> None:
    path = middle(log)
    path.write_bytes(path.read_bytes()[:-10])
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line {len(lines(path))}: truncated last line" in report


def test_a_missing_middle_file(log: Path) -> None:
    gone, after = files.rotated_files(log)[1:3]
    gone.unlink()
    first = json.loads(lines(after)[0])["seq"]
    report = text(verify_log(log, KEYS))
    assert f"{after.name} line 1 (seq {first}): seq {first} where" in report
    assert f"{after.name} line 1 (seq {first}): prev is not the hash of" in report


def test_stripped_signature(log: Path) -> None:
    path = middle(log)
    seq = rewrite(path, 0, kid=None, mac=None)
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 1 (seq {seq}): signature stripped" in report
    seq = rewrite(path, 1, mac=None)
    assert f"{path.name} line 2 (seq {seq}): kid {KEY_A.kid!r} without a mac" \
        in text(verify_log(log, KEYS))


def test_forged_signatures(log: Path) -> None:
    path = middle(log)
    seq = rewrite(path, 0, sign_with=b"f" * 32, kid="forged-kid",
                  data={"status": 201})
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 1 (seq {seq}): signed with unknown kid 'forged-kid' after a " \
           "verified record" in report
    seq = rewrite(path, 1, sign_with=b"g" * 32)  # a known kid, the wrong key
    assert f"{path.name} line 2 (seq {seq}): MAC mismatch for kid {KEY_A.kid!r}" \
        in text(verify_log(log, KEYS))


def test_a_renamed_rotated_file(log: Path) -> None:
    path = middle(log)
    seq = json.loads(lines(path)[0])["seq"]
    renamed = files.rotated_name(log, seq - 1)
    path.rename(renamed)
    report = text(verify_log(log, KEYS))
    assert f"{renamed.name} line 1 (seq {seq}): the file's name says it starts at seq " \
           f"{seq - 1}" in report


def test_retention_removed_the_oldest_files(log: Path) -> None:
    oldest = files.rotated_files(log)[:2]
    for path in oldest:
        path.unlink()
    report = verify_log(log, KEYS)
    assert report.ok, report.problems
    assert report.starts_at == files.first_seq_of(files.rotated_files(log)[0], log)


def test_an_emptied_rotated_file(log: Path) -> None:
    path = middle(log)
    path.write_bytes(b"")
    report = text(verify_log(log, KEYS))
    assert f"{path.name}: empty" in report


def test_garbage_lines(log: Path) -> None:
    path = middle(log)
    raw = lines(path)
    path.write_bytes(b"".join([raw[0], b"\x00\xffnot json\n", b"[1,2]\n", *raw[1:]]))
    report = text(verify_log(log, KEYS))
    assert f"{path.name} line 2: malformed JSON" in report
    assert f"{path.name} line 3: malformed record (not a JSON object)" in report


def test_an_empty_active_file(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    log.write_bytes(b"")
    log.chmod(0o600)
    report = verify_log(log, KEYS)
    assert report.ok and report.records == 0 and report.end is None
    assert report.where_it_ends() == "the log holds no record"


def test_a_nonexistent_log(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no request log"):
        verify_log(tmp_path / "requests.jsonl", KEYS)


def test_unsafe_files_are_problems(log: Path, tmp_path: Path) -> None:
    middle(log).chmod(0o660)
    assert "can be written by other users" in text(verify_log(log, KEYS))
    middle(log).chmod(0o600)
    target = tmp_path / "elsewhere"
    log.rename(target)
    log.symlink_to(target)
    assert "requests.jsonl: cannot be read (a symbolic link, not the log)" in text(
        verify_log(log, KEYS))
    log.unlink()
    log.mkdir()
    assert "requests.jsonl: not a regular file" in text(verify_log(log, KEYS))
