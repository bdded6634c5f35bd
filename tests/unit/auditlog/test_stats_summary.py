"""The pure parts of `gateway stats`: scanning lines into buckets, merging, percentiles,
the hour window and the cache key.

The lines are canonical chain lines (ChainWriter), so what is scanned is what
the gateway writes; volume tests use the same writer.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from gateway_cli.auditlog import stats_cache
from gateway_cli.auditlog.summary import BUCKETS, LATENCY_BOUNDS, Row, Tally, scan
from tests.unit.auditlog.stats_records import T0, ChainWriter, request

HOUR = 3600.0


def lines(*records: tuple[dict[str, object], float]) -> list[bytes]:
    writer = ChainWriter(Path("requests.jsonl"))
    return [writer.line(data, when) for data, when in records]


def test_hourly_buckets_split_on_utc_hours_and_add_up_to_the_whole() -> None:
    rng = random.Random(5)
    records = [(request(rng.choice(["a", "b", "c"]), input_tokens=rng.randint(0, 99),
                        latency_ms=rng.randint(0, 5000)), T0 + rng.uniform(0, 5 * HOUR))
               for _ in range(500)]
    hourly = scan(lines(*records))
    flat = scan(lines(*records), hourly=False)
    assert {hour for hour, _ in hourly.buckets} == {f"2025-06-01T{h}" for h in range(10, 15)}
    assert {hour for hour, _ in flat.buckets} == {""}
    merged: dict[object, Tally] = {}
    dims, rows = hourly.rows()
    for row in rows:
        merged.setdefault(dims[row.dim], Tally()).add(row)
    flat_dims, flat_rows = flat.rows()
    for row in flat_rows:
        tally = merged[flat_dims[row.dim]]
        assert (tally.requests, tally.input_tokens, tally.histogram) == (
            row.requests, row.input_tokens, row.histogram)
        assert tally.latency_sum == pytest.approx(row.latency_sum)
    assert hourly.records == flat.records == 500


def test_an_hour_starts_exactly_on_the_hour() -> None:
    part = scan(lines((request(), T0 - 0.001), (request(), T0), (request(), T0 + HOUR - 0.001)))
    assert sorted((hour, acc[0]) for (hour, _), acc in part.buckets.items()) == [
        ("2025-06-01T09", 1), ("2025-06-01T10", 2)]
    assert part.first_time == "2025-06-01T09:59:59.999Z"
    assert part.last_time == "2025-06-01T10:59:59.999Z"


def test_latency_lands_in_the_bucket_bounded_above() -> None:
    part = scan(lines(*[(request(latency_ms=ms), T0) for ms in (0, 5, 5.5, 10, 10**6)]),
                hourly=False)
    histogram = next(iter(part.buckets.values()))[10]
    assert histogram[0] == 2  # 0 and 5 (bounds are inclusive)
    assert histogram[1] == 2  # 5.5 and 10
    assert histogram[BUCKETS - 1] == 1  # above the last bound
    assert len(histogram) == len(LATENCY_BOUNDS) + 1


def test_percentiles_never_exceed_the_max_and_need_records() -> None:
    assert Tally().percentile(50) is None and Tally().latency_mean is None
    one = Tally()
    one.add(Row("", 0, requests=1, latency_sum=7.0, latency_records=1, latency_max=7.0,
                histogram=[0, 1] + [0] * (BUCKETS - 2)))
    assert one.percentile(50) == 7.0 and one.percentile(95) == 7.0
    slow = Tally()
    slow.add(Row("", 0, requests=1, latency_sum=9e5, latency_records=1, latency_max=9e5,
                 histogram=[0] * (BUCKETS - 1) + [1]))
    estimate = slow.percentile(99)  # the open top bucket is taken to end at the max
    assert estimate is not None and LATENCY_BOUNDS[-1] < estimate <= 9e5


def test_a_record_without_a_key_is_named_by_its_kind() -> None:
    part = scan(lines((request(None), T0), (request(None, principal_kind=None), T0)),
                hourly=False)
    assert {dims[0] for _, dims in part.buckets} == {"(open)", None}


def test_blocked_counts_request_and_answer_policy() -> None:
    part = scan(lines((request(applied="block", status=400, error="blocked_by_policy"), T0),
                      (request(output_applied="block", status=502,
                               error="output_blocked_by_policy"), T0),
                      (request(status=400, error="blocked_by_policy"), T0),
                      (request(applied="redact"), T0),
                      (request(status=400, error="bad_request"), T0)), hourly=False)
    acc = next(iter(part.buckets.values()))
    assert acc[:3] == [5, 4, 3]  # requests, errors, blocked


def test_window_is_exact_on_scan_and_hour_wide_for_caches() -> None:
    got = scan(lines((request(), T0 + 599), (request(), T0 + 600), (request(), T0 + 1200)),
               since="2025-06-01T10:10:00.000Z", until="2025-06-01T10:20:00.000Z")
    assert got.records == 1
    assert stats_cache.hour_window("2025-06-01T10:10:00.000Z", "2025-06-01T10:20:00.000Z") == (
        "2025-06-01T10:00:00.000Z", "2025-06-01T11:00:00.000Z")
    assert stats_cache.hour_window("2025-06-01T10:00:00.000Z", "2025-06-01T11:00:00.000Z") == (
        "2025-06-01T10:00:00.000Z", "2025-06-01T11:00:00.000Z")
    assert stats_cache.hour_window("2025-12-31T23:00:00.001Z", None) == (
        "2025-12-31T23:00:00.000Z", None)
    assert stats_cache.hour_window(None, "2025-12-31T23:00:00.001Z") == (
        None, "2026-01-01T00:00:00.000Z")


def test_cache_key_follows_the_last_line(tmp_path: Path) -> None:
    path = tmp_path / "requests-000000000000.jsonl"
    writer = ChainWriter(tmp_path / "requests.jsonl")
    long_line = request(extra="x" * 200_000)  # longer than one read chunk
    writer.write(path, [(request(), T0), (long_line, T0 + 1)])
    with path.open("rb") as handle:
        first = stats_cache.file_key(handle, path)
    last = path.read_bytes().splitlines(keepends=True)[-1]
    assert first.last_line_sha256 == hashlib.sha256(last).hexdigest()
    assert first.size == path.stat().st_size
    data = bytearray(path.read_bytes())
    data[-10] ^= 1  # same size, the last line changed
    path.write_bytes(bytes(data))
    with path.open("rb") as handle:
        assert stats_cache.file_key(handle, path).last_line_sha256 != first.last_line_sha256
    path.write_bytes(b"no newline at all")
    with path.open("rb") as handle:
        assert stats_cache.file_key(handle, path).last_line_sha256 == hashlib.sha256(
            b"no newline at all").hexdigest()
    path.write_bytes(b"")
    with path.open("rb") as handle:
        assert stats_cache.file_key(handle, path).size == 0


def test_a_summary_round_trips_through_its_cache(tmp_path: Path) -> None:
    path = tmp_path / "requests-000000000000.jsonl"
    ChainWriter(tmp_path / "requests.jsonl").write(
        path, [(request(f"k{i % 3}", findings=[{"guard": "pii", "count": 1}]), T0 + i * 900)
               for i in range(20)])
    with path.open("rb") as handle:
        key = stats_cache.file_key(handle, path)
        summary = stats_cache.summarise(handle, key)
    cache = tmp_path / "cache" / "x.json"
    stats_cache.write_cache(cache, summary)
    again = stats_cache.read_cache(cache, key)
    assert again is not None
    assert again.totals == summary.totals and again.dims == summary.dims
    assert sum(r.requests for r in again.totals) == 20
    assert sum(r.findings["pii"] for r in again.totals) == 20
    other = stats_cache.CacheKey(key.path, key.size + 1, key.mtime_ns, key.last_line_sha256)
    assert stats_cache.read_cache(cache, other) is None


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 50])
def test_ranges_for_workers_cover_every_line_once(tmp_path: Path, parts: int) -> None:
    rng = random.Random(parts)
    body = [b"x" * rng.choice([0, 1, 5, 80, 70_000]) for _ in range(40)]
    path = tmp_path / "f"
    path.write_bytes(b"\n".join(body) + b"\npartial")
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        starts = stats_cache._line_starts(fd, size, parts)
        assert starts == sorted(starts) and starts[0] == 0
        got = [line for start, end in zip(starts, [*starts[1:], size], strict=True)
               for line in stats_cache.lines_in(fd, start, end)]
    finally:
        os.close(fd)
    assert got == [*body, b"partial"]
