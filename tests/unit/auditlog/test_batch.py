"""Batch encoding: byte for byte what `append` writes, so `verify` accepts it, and cheap."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from gateway_cli.auditlog.chain import (
    EMPTY,
    AuditError,
    SigningKey,
    append,
    encode_batch,
    tail_after,
    verify,
)

RNG = random.Random(7)
KEY = SigningKey("a-batch-1", RNG.randbytes(32))
NOW = 1_750_000_000.0
RECORD: dict[str, object] = {
    "id": "req-1", "principal": "billing", "model": "gpt-4o-mini", "status": 200,
    "cost": 0.000261, "latency_ms": 18.25, "failover": ["a:timeout", "b:ok"],
    "findings": [{"guard": "secrets", "kind": "x", "count": 1, "slot": "message"}],
    "reason": None, "stream": "complete", "note": "ünïcode ✓",
}


@pytest.mark.parametrize("key", [KEY, None])
@pytest.mark.parametrize("trusted", [True, False])
def test_batch_lines_are_what_append_writes(tmp_path: Path, key: SigningKey | None,
                                            trusted: bool) -> None:
    records = [("llm.request", {**RECORD, "n": i}, NOW + i * 0.0137) for i in range(5)]
    by_append = tmp_path / "append.jsonl"
    for event, data, when in records:
        append(by_append, event, data, key, now=when)
    data, tail = encode_batch(EMPTY, records, key, trusted=trusted)
    assert data == by_append.read_bytes()
    assert tail == tail_after(data.splitlines(keepends=True)[-1], by_append)
    assert (tail.seq, tail.signed) == (5, key is not None)


def test_batches_continue_each_other_and_verify(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    append(log, "log.opened", {}, KEY, now=NOW)
    tail = tail_after(log.read_bytes(), log)
    for batch in range(3):
        records = [("llm.request", RECORD, NOW + batch + i / 100) for i in range(4)]
        data, tail = encode_batch(tail, records, KEY, trusted=True)
        with log.open("ab") as handle:
            handle.write(data)
    report = verify(log, {KEY.kid: KEY.key})
    assert report.ok, report.problems
    assert report.records == tail.seq == 13 and report.signed == 13
    append(log, "log.closed", {}, KEY, now=NOW + 9)  # append continues a batch too
    assert verify(log, {KEY.kid: KEY.key}).ok


def test_an_empty_batch_keeps_the_tail() -> None:
    assert encode_batch(EMPTY, [], KEY) == (b"", EMPTY)


def test_unsigned_after_signed_is_refused() -> None:
    _, tail = encode_batch(EMPTY, [("e", {}, NOW)], KEY)
    with pytest.raises(AuditError, match="stripped signature"):
        encode_batch(tail, [("e", {}, NOW)], None)


@pytest.mark.parametrize("bad", [
    {"x": math.nan}, {"x": object()}, {"x": {1: "a", "b": 2}}, {"x": "\ud800"},
])
def test_non_json_is_refused_without_quoting_it(bad: dict[str, object]) -> None:
    with pytest.raises(AuditError) as caught:
        encode_batch(EMPTY, [("ok", {}, NOW), ("e", bad, NOW)], KEY, trusted=True)
    assert "object at" not in str(caught.value) and "nan" not in str(caught.value)


def test_refused_events_and_data() -> None:
    with pytest.raises(AuditError, match="event name"):
        encode_batch(EMPTY, [("", {}, NOW)], KEY)
    with pytest.raises(AuditError, match="mapping"):
        encode_batch(EMPTY, [("e", ["x"], NOW)], KEY)  # type: ignore[list-item]
    with pytest.raises(AuditError, match="over"):
        encode_batch(EMPTY, [("e", {"x": "y" * (1 << 20)}, NOW)], KEY, trusted=True)


def test_untrusted_data_is_scanned_for_secrets() -> None:
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    token = ("sk-proj-" + "".join(RNG.choice(alnum) for _ in range(30)) + "T3BlbkFJ"
             + "".join(RNG.choice(alnum) for _ in range(30)))
    with pytest.raises(AuditError, match="credential") as caught:
        encode_batch(EMPTY, [("e", {"note": token}, NOW)], KEY)
    assert token not in str(caught.value)
    encode_batch(EMPTY, [("e", {"note": token}, NOW)], KEY, trusted=True)  # caller's word


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(7 if depth < 2 else 5)
    if kind == 0:
        return rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30)
    if kind == 1:
        return round(rng.uniform(0, 0.01), rng.randint(1, 10))
    if kind == 2:
        return rng.randint(-(2**70), 2**70)
    if kind == 3:
        return "".join(chr(rng.choice([rng.randrange(0x80), rng.randrange(0x80, 0x3000)]))
                       for _ in range(rng.randrange(12)))
    if kind == 4:
        return rng.choice([None, True, False, "0.00001", "3e5", 0.0, -0.0, 1e16, 1e-4])
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{rng.randrange(50)}": _random_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


def test_the_trusted_fast_encoding_is_json_canonical_form() -> None:
    """msgspec encodes trusted data; every line must equal the json-encoded one."""
    rng = random.Random(11)
    for _ in range(300):
        records = [("llm.request", {f"f{i}": _random_value(rng) for i in range(8)}, NOW)
                   for _ in range(10)]
        fast, _ = encode_batch(EMPTY, records, KEY, trusted=True)
        assert fast == b"".join(_append_lines(records))


def _append_lines(records: list[tuple[str, dict[str, object], float]]) -> list[bytes]:
    from gateway_cli.auditlog import chain

    out: list[bytes] = []
    prev, seq = chain.GENESIS, 0
    for event, data, when in records:
        record: dict[str, object] = {"seq": seq, "time": chain.timestamp(when), "event": event,
                                     "data": data, "prev": prev, "kid": KEY.kid, "mac": None}
        record["mac"] = chain._mac(KEY.key, record)
        line = chain._canonical(record) + b"\n"
        out.append(line)
        prev, seq = chain.hashlib.sha256(line).hexdigest(), seq + 1
    return out
