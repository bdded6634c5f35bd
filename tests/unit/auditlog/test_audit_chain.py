"""Audit log: hash chain and HMAC round trip, every kind of tampering, concurrency, refusals.

All tests use real files under a temporary directory. Credentials used to
check the secrets guard are generated at test time from a seeded RNG, so the
repository holds no real-format secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import random
import stat
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway_cli.auditlog.chain import (
    GENESIS,
    AuditError,
    SigningKey,
    VerifyReport,
    append,
    verify,
)
from gateway_cli.errors import GatewayError
from gateway_cli.guards.secrets import scan

RNG = random.Random(20250611)
B64URL = string.ascii_letters + string.digits + "_-"
KEY_A = SigningKey("a-2025-01", RNG.randbytes(32))
KEY_B = SigningKey("a-2025-02", RNG.randbytes(32))
KEYS = {KEY_A.kid: KEY_A.key, KEY_B.kid: KEY_B.key}
NOW = 1_750_000_000.0


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def rotated_log(path: Path) -> None:
    """Records 0-2 signed with key A, 3-5 with key B (a rotation in between)."""
    for i in range(6):
        append(path, "key.added", {"name": f"provider-{i}", "count": i},
               KEY_A if i < 3 else KEY_B, now=NOW + i)


def problems_text(report: VerifyReport) -> str:
    return "\n".join(report.problems)


# --------------------------------------------------------------------------- format


def test_record_format_is_canonical_and_chained(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    first = append(log, "client.created", {"client": "ci", "fingerprint": "ab12"}, KEY_A,
                   now=NOW + 0.1234)
    second = append(log, "client.revoked", {"client": "ci"}, KEY_A, now=NOW + 1)
    raw = lines_of(log)
    assert len(raw) == 2
    for record, line in zip((first, second), raw, strict=True):
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode() + b"\n"
        assert set(record) == {"seq", "time", "event", "data", "prev", "kid", "mac"}
    assert first["seq"] == 0 and second["seq"] == 1
    assert first["prev"] == GENESIS == "0" * 64
    assert second["prev"] == hashlib.sha256(raw[0]).hexdigest()
    assert first["time"] == "2025-06-15T15:06:40.123Z"
    assert first["kid"] == KEY_A.kid
    body = {k: v for k, v in first.items() if k != "mac"}
    expected = hmac.new(KEY_A.key, json.dumps(body, sort_keys=True, separators=(",", ":"))
                        .encode(), hashlib.sha256).hexdigest()
    assert first["mac"] == expected


def test_unsigned_records_and_empty_log(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    log.touch(mode=0o600)
    assert verify(log, {}) == VerifyReport(0, 0, 0, [])
    record = append(log, "emergency.rotation", {"providers": 3}, None, now=NOW)
    assert record["kid"] is None and record["mac"] is None
    report = verify(log, {})
    assert report.ok and report.records == 1 and report.signed == 0


def test_signing_key_repr_hides_the_key() -> None:
    text = repr(KEY_A) + str(KEY_A)
    assert KEY_A.kid in text
    assert KEY_A.key.hex() not in text and repr(KEY_A.key) not in text
    with pytest.raises(AuditError):
        SigningKey("short", b"x" * 8)
    with pytest.raises(AuditError):
        SigningKey("", b"x" * 32)
    assert issubclass(AuditError, GatewayError)


def test_file_mode_is_0600(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "openai"}, KEY_A, now=NOW)
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_group_writable_log_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "openai"}, KEY_A, now=NOW)
    log.chmod(0o620)
    with pytest.raises(AuditError, match="chmod 600"):
        append(log, "key.removed", {"name": "openai"}, KEY_A, now=NOW)
    log.chmod(0o602)
    with pytest.raises(AuditError, match="other users"):
        append(log, "key.removed", {"name": "openai"}, KEY_A, now=NOW)


def test_symlinked_log_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    append(real, "key.added", {"name": "openai"}, KEY_A, now=NOW)
    link = tmp_path / "audit.jsonl"
    link.symlink_to(real)
    with pytest.raises(AuditError, match="cannot open"):
        append(link, "key.removed", {"name": "openai"}, KEY_A, now=NOW)


def test_missing_directory_and_missing_log(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot open"):
        append(tmp_path / "nowhere" / "audit.jsonl", "x", {}, KEY_A)
    with pytest.raises(AuditError, match="does not exist"):
        verify(tmp_path / "audit.jsonl", KEYS)


def test_only_the_tail_is_read_and_long_lines_work(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "x"}, KEY_A, now=NOW)
    # A corrupt first line does not stop appends (only the last line is read) ...
    log.write_bytes(b"not json at all\n" + log.read_bytes())
    append(log, "key.added", {"note": "word " * 4000}, KEY_A, now=NOW)  # > one read chunk
    record = append(log, "key.added", {"name": "y"}, KEY_A, now=NOW)
    raw = lines_of(log)
    assert record["seq"] == 2 and len(raw[2]) > 20000
    assert record["prev"] == hashlib.sha256(raw[2]).hexdigest()
    # ... but verify reads everything and reports it.
    assert verify(log, KEYS).problems == [
        "line 1: malformed JSON",
        "line 2 (seq 0): prev is not the hash of line 1 (that line was edited, or lines "
        "removed, inserted or reordered)",
    ]


def test_refused_data(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    with pytest.raises(AuditError, match=r"data\.when"):
        append(log, "x", {"when": object()}, KEY_A)
    with pytest.raises(AuditError, match="finite"):
        append(log, "x", {"ratio": float("nan")}, KEY_A)
    with pytest.raises(AuditError, match="event"):
        append(log, "", {}, KEY_A)
    with pytest.raises(AuditError, match="Unicode"):
        append(log, "x", {"name": "\ud800"}, KEY_A)
    assert not log.exists() or log.read_bytes() == b""


# --------------------------------------------------------------------------- rotation


def test_round_trip_with_rotation(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    both = verify(log, KEYS)
    assert both.ok and (both.records, both.signed, both.unverifiable) == (6, 6, 0)
    # Key A has expired and is gone: its records are unverifiable, not a problem.
    only_b = verify(log, {KEY_B.kid: KEY_B.key})
    assert only_b.ok, only_b.problems
    assert (only_b.records, only_b.signed, only_b.unverifiable) == (6, 6, 3)
    nothing = verify(log, {})
    assert nothing.ok and nothing.unverifiable == 6


def test_unknown_kid_after_a_verified_record_is_a_problem(tmp_path: Path) -> None:
    """A verifier holding only the old key cannot vouch for the newer records: flagged."""
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    only_a = verify(log, {KEY_A.kid: KEY_A.key})
    assert not only_a.ok and only_a.unverifiable == 3
    assert "line 4 (seq 3): signed with unknown kid" in only_a.problems[0]


# --------------------------------------------------------------------------- tampering


def test_edited_byte_in_a_middle_line_names_its_seq(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)
    raw[2] = raw[2].replace(b"provider-2", b"provider-9")
    write_lines(log, raw)
    report = verify(log, KEYS)
    assert not report.ok
    assert report.problems == [
        "line 3 (seq 2): MAC mismatch for kid 'a-2025-01' (the record was edited)",
        "line 4 (seq 3): prev is not the hash of line 3 (seq 2) (that line was edited, "
        "or lines removed, inserted or reordered)",
    ]


def test_edited_unsigned_line_is_caught_by_the_chain(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for i in range(4):
        append(log, "key.added", {"count": i}, None, now=NOW)
    raw = lines_of(log)
    raw[1] = raw[1].replace(b'"count":1', b'"count":7')
    write_lines(log, raw)
    report = verify(log, {})
    assert len(report.problems) == 1 and "line 2 (seq 1)" in report.problems[0]


def test_deleted_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)
    del raw[3]
    write_lines(log, raw)
    text = problems_text(verify(log, KEYS))
    assert "line 4 (seq 4): seq 4 where 3 was expected" in text
    assert "line 4 (seq 4): prev is not the hash of line 3 (seq 2)" in text


def test_deleted_first_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    write_lines(log, lines_of(log)[1:])
    text = problems_text(verify(log, KEYS))
    assert "seq 1 where 0 was expected" in text and "prev is not all zeros" in text


def test_inserted_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)
    raw.insert(2, raw[1])
    write_lines(log, raw)
    text = problems_text(verify(log, KEYS))
    assert "line 3 (seq 1): seq 1 where 2 was expected" in text


def test_swapped_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)
    raw[1], raw[2] = raw[2], raw[1]
    write_lines(log, raw)
    report = verify(log, KEYS)
    text = problems_text(report)
    assert "line 2 (seq 2): seq 2 where 1 was expected" in text
    assert "line 3 (seq 1): seq 1 where 3 was expected" in text
    assert "line 2 (seq 2): prev is not the hash of line 1 (seq 0)" in text


def test_truncated_last_line_and_append_after_it(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    data = log.read_bytes()
    log.write_bytes(data[:-20])
    report = verify(log, KEYS)
    assert report.problems == ["line 6: truncated last line (no newline at the end)"]
    with pytest.raises(AuditError, match="partial line"):
        append(log, "key.added", {"name": "x"}, KEY_B)
    assert log.read_bytes() == data[:-20]


def test_malformed_complete_last_line_refuses_append(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    with log.open("ab") as handle:
        handle.write(b'{"seq": "seven"}\n')
    before = log.read_bytes()
    with pytest.raises(AuditError, match="not a valid record"):
        append(log, "key.added", {"name": "x"}, KEY_B)
    assert log.read_bytes() == before


def test_stripped_mac(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)

    def rewrite(i: int, **changes: object) -> None:
        record = json.loads(raw[i])
        record.update(changes)
        raw[i] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"

    rewrite(2, mac=None)
    rewrite(5, mac=None, kid=None)
    write_lines(log, raw)
    text = problems_text(verify(log, KEYS))
    assert "line 3 (seq 2): kid 'a-2025-01' without a mac" in text
    assert "line 6 (seq 5): signature stripped (unsigned record after a signed one)" in text


def test_mac_without_kid(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "x"}, None, now=NOW)
    record = json.loads(log.read_bytes())
    record["mac"] = "ab" * 32
    log.write_bytes(json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    assert verify(log, KEYS).problems == ["line 1 (seq 0): mac present without a kid"]


def test_unsigned_append_after_signed_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "x"}, None, now=NOW)
    append(log, "key.added", {"name": "x"}, KEY_A, now=NOW)  # upgrading is fine
    with pytest.raises(AuditError, match="signed"):
        append(log, "key.added", {"name": "x"}, None, now=NOW)
    assert verify(log, KEYS).ok


def test_wrong_key(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    report = verify(log, {KEY_A.kid: KEY_B.key, KEY_B.kid: KEY_B.key})
    assert report.problems == [
        f"line {i + 1} (seq {i}): MAC mismatch for kid 'a-2025-01' (the record was edited)"
        for i in range(3)
    ]


def test_resigned_tail_under_made_up_kid(tmp_path: Path) -> None:
    """A forger without the key re-chains the tail under a kid nobody has: flagged."""
    log = tmp_path / "audit.jsonl"
    rotated_log(log)
    raw = lines_of(log)
    record = json.loads(raw[5])
    record["data"]["name"] = "forged"
    record["kid"] = "forged-kid"
    raw[5] = json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    write_lines(log, raw)
    report = verify(log, KEYS)
    assert report.problems == ["line 6 (seq 5): signed with unknown kid 'forged-kid' after a "
                               "verified record (re-signed, or pass the newer audit key)"]


def test_non_canonical_line(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "x"}, None, now=NOW)
    append(log, "key.added", {"name": "y"}, None, now=NOW)
    raw = lines_of(log)
    raw[1] = raw[1].replace(b'"y"', b'"\\u0079"')  # same value, different bytes
    write_lines(log, raw)
    assert verify(log, {}).problems == [
        "line 2 (seq 1): not in canonical form (the line was edited)"]


# --------------------------------------------------------------------------- secrets guard


def openai_shaped_key() -> str:
    def rand(n: int) -> str:
        return "".join(RNG.choice(B64URL) for _ in range(n))

    return "sk-proj-" + rand(30) + "T3BlbkFJ" + rand(30)


def test_secret_in_data_is_refused_without_the_value(tmp_path: Path) -> None:
    value = openai_shaped_key()
    findings = scan(value)
    assert findings and findings[0].kind == "openai_api_key" and findings[0].confidence >= 0.9
    log = tmp_path / "audit.jsonl"
    append(log, "key.added", {"name": "openai"}, KEY_A, now=NOW)
    before = log.read_bytes()
    for data, where in (({"name": value}, "data.name"),
                        ({"client": {"notes": ["ok", f"key={value}"]}}, "data.client.notes[1]")):
        with pytest.raises(AuditError) as caught:
            append(log, "key.added", data, KEY_A, now=NOW)
        message = str(caught.value)
        assert where in message and "openai_api_key" in message
        assert value not in message and value[8:20] not in message
        assert "\n" not in message
    with pytest.raises(AuditError, match="event"):
        append(log, f"added {value}", {}, KEY_A, now=NOW)
    assert log.read_bytes() == before


# --------------------------------------------------------------------------- concurrency


def _worker(path: str, worker: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    for i in range(25):
        append(Path(path), "request", {"worker": worker, "i": i}, KEY_A)


def test_concurrent_appends_from_four_processes(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(str(log), w, start)) for w in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    report = verify(log, KEYS)
    assert report.ok, report.problems
    assert report.records == report.signed == 100
    records = [json.loads(line) for line in lines_of(log)]
    assert [r["seq"] for r in records] == list(range(100))
    for w in range(4):
        assert [r["data"]["i"] for r in records if r["data"]["worker"] == w] == list(range(25))


# --------------------------------------------------------------------------- properties


def signed_log(path: Path) -> None:
    append(path, "log.opened", {}, None, now=NOW)
    append(path, "key.added", {"name": "ÿ-provider", "n": 1.5, "ok": True}, KEY_A, now=NOW)
    append(path, "key.rotated", {"names": ["a", "b"], "x": None}, KEY_B, now=NOW + 1)
    append(path, "client.revoked", {"client": "ci"}, KEY_B, now=NOW + 2)


def test_every_bit_flip_is_reported(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    signed_log(log)
    original = log.read_bytes()
    for pos in range(len(original)):
        for bit in range(8):
            changed = bytearray(original)
            changed[pos] ^= 1 << bit
            log.write_bytes(changed)
            report = verify(log, KEYS)
            assert not report.ok, (pos, bit, bytes(changed[max(0, pos - 20):pos + 20]))


# An append: its key (None, A or B), event name and data. Text is kept short and of
# a small alphabet so the secrets guard never fires on it.
_text = st.text(alphabet="abcxyz019 -_é\"\\\n", max_size=12)
_value = st.one_of(st.none(), st.booleans(), st.integers(-(10**12), 10**12), _text,
                   st.floats(allow_nan=False, allow_infinity=False), st.lists(_text, max_size=3))
_appends = st.lists(
    st.tuples(st.sampled_from([None, KEY_A, KEY_B]), st.sampled_from(["key.added", "x"]),
              st.dictionaries(_text, _value, max_size=3)),
    min_size=1, max_size=5,
)


def _write(path: Path, appends: list[tuple[SigningKey | None, str, dict[str, object]]]) -> None:
    signed = False
    for i, (key, event, data) in enumerate(appends):
        if key is None and signed:
            key = KEY_A  # once signed, a log stays signed (append refuses otherwise)
        if i == len(appends) - 1 and key is None:
            key = KEY_B  # only a MAC protects the last line's content
        signed = signed or key is not None
        append(path, event, data, key, now=NOW + i)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(appends=_appends, where=st.floats(0, 1, exclude_max=True), byte=st.integers(0, 255))
def test_property_appends_verify_and_any_byte_change_is_reported(
    appends: list[tuple[SigningKey | None, str, dict[str, object]]], where: float, byte: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "audit.jsonl"
        _write(log, appends)
        report = verify(log, KEYS)
        assert report.ok, report.problems
        assert report.records == len(appends) and report.unverifiable == 0
        original = log.read_bytes()
        pos = int(where * len(original))
        if original[pos] == byte:
            byte ^= 0xFF
        changed = bytearray(original)
        changed[pos] = byte
        log.write_bytes(changed)
        try:
            report = verify(log, KEYS)
        except AuditError:
            return
        # Reported as a problem; the one exception is a kid changed to one nobody
        # holds on the only signed record, which then shows as unverifiable.
        assert not report.ok or report.unverifiable > 0, (pos, byte)
        # Appending after any change either fails cleanly or keeps the damage visible.
        try:
            append(log, "after", {}, KEY_B, now=NOW)
        except AuditError:
            return
        after = verify(log, KEYS)
        assert not after.ok or after.unverifiable > 0

