"""`gateway stats` through its click command, on real log files under tmp_path.

Logs are written with chain.append (the active file) or ChainWriter (rotated
files, whose chain continues from file to file), so the lines are what the
gateway writes. The cache is checked by what it changes, not by a mock: a
rotated file edited in the middle, its size, mtime and last line kept, still
gives the cached numbers; once its key no longer matches, the file's own.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway_cli.auditlog import stats_cache
from gateway_cli.auditlog.chain import append, verify
from gateway_cli.auditlog.files import rotated_name
from gateway_cli.cli.main import cli
from gateway_cli.cli.stats_cmd import bar_text, clean
from tests.unit.auditlog.stats_records import T0, ChainWriter, request, stamp

HOUR = 3600.0


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def run(home: Path, *args: str, columns: int = 200) -> Result:
    return CliRunner().invoke(cli, ["stats", "--home", str(home), *args],
                              env={"COLUMNS": str(columns), "GATEWAY_HOME": str(home)})


def stats(home: Path, *args: str) -> dict[str, Any]:
    result = run(home, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def rows(report: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {row["name"]: row for row in report["rows"]}


def log(home: Path, *records: tuple[dict[str, object], float], event: str = "llm.request"
        ) -> Path:
    path = home / "requests.jsonl"
    for data, when in records:
        append(path, event, data, None, now=when)
    return path


MIXED = [
    (request("app-a", team="blue", model="gpt-4o", provider="openai",
             deployment="openai-gpt-4o", input_tokens=100, output_tokens=10, cost=0.5,
             latency_ms=100), T0 + 1),
    (request("app-a", team="blue", model="claude", provider="anthropic",
             deployment="anthropic-claude", input_tokens=200, output_tokens=20, cost=1.25,
             latency_ms=300, status=502, error="upstream_error"), T0 + 2),
    (request("app-b", team="blue", model="gpt-4o", provider="openai",
             deployment="azure-gpt-4o", input_tokens=300, output_tokens=30, cost=None,
             latency_ms=200), T0 + 3),
    (request("app-c", team="red", model="gpt-4o", provider=None, deployment=None,
             input_tokens=None, output_tokens=None, cost=None, latency_ms=3, status=400,
             error="blocked_by_policy", applied="block", verdict="block",
             reason="secrets.github_token",
             findings=[{"guard": "secrets", "kind": "github_token", "count": 2,
                        "slot": "message"},
                       {"guard": "pii", "kind": "email", "count": 1, "slot": "message"}]),
     T0 + 4),
    (request("app-c", team="red", model="gpt-4o", provider="openai",
             deployment="openai-gpt-4o", input_tokens=50, output_tokens=5, cost=0.25,
             latency_ms=400, findings=[{"guard": "pii", "kind": "email", "count": 3,
                                        "slot": "message"}]), T0 + 5),
    (request("app-c", team="red", model="gpt-4o", provider="openai",
             deployment="openai-gpt-4o", input_tokens=None, output_tokens=None, cost=None,
             latency_ms=1, status=429, error="rate_limited"), T0 + 6),
]


def expected(by: str) -> dict[str | None, dict[str, Any]]:
    field = {"key": "principal"}.get(by, by)
    out: dict[str | None, dict[str, Any]] = {}
    for data, _ in MIXED:
        row = out.setdefault(data[field], {  # type: ignore[arg-type]
            "requests": 0, "errors": 0, "blocked": 0, "input_tokens": 0, "output_tokens": 0,
            "cost": None, "findings": {}})
        row["requests"] += 1
        row["errors"] += int(data["status"]) >= 400  # type: ignore[call-overload]
        row["blocked"] += data["applied"] == "block"
        row["input_tokens"] += data["input_tokens"] or 0
        row["output_tokens"] += data["output_tokens"] or 0
        if data["cost"] is not None:
            row["cost"] = (row["cost"] or 0) + data["cost"]
        for f in data["findings"]:  # type: ignore[attr-defined]
            row["findings"][f["guard"]] = row["findings"].get(f["guard"], 0) + f["count"]
    return out


# --------------------------------------------------------------------------- sums


@pytest.mark.parametrize("by", ["key", "team", "model", "provider", "deployment"])
def test_sums_by_each_dimension(home: Path, by: str) -> None:
    log(home, *MIXED)
    report = stats(home, "--by", by)
    got = rows(report)
    want = expected(by)
    assert set(got) == set(want)
    for name, row in want.items():
        mine = {k: got[name][k] for k in row}
        if row["cost"] is not None:
            assert mine.pop("cost") == pytest.approx(row["cost"])
            row = {k: v for k, v in row.items() if k != "cost"}
        assert mine == row, name
    requests = [row["requests"] for row in report["rows"]]
    assert requests == sorted(requests, reverse=True)
    assert report["total"]["requests"] == len(MIXED)
    assert report["total"]["cost"] == pytest.approx(2.0)
    assert report["total"]["findings"] == {"pii": 4, "secrets": 2}


def test_rows_sorted_by_requests_then_name(home: Path) -> None:
    log(home, *MIXED)
    assert [r["name"] for r in stats(home)["rows"]] == ["app-c", "app-a", "app-b"]
    assert [r["name"] for r in stats(home, "--by", "provider")["rows"]] == [
        "openai", "anthropic", None]


def test_key_usage_lists_providers_and_models_per_key(home: Path) -> None:
    log(home, *MIXED)
    report = stats(home)
    assert report["key_usage"] == [
        {"key": "app-c", "provider": "openai", "model": "gpt-4o", "requests": 2},
        {"key": "app-c", "provider": None, "model": "gpt-4o", "requests": 1},
        {"key": "app-a", "provider": "anthropic", "model": "claude", "requests": 1},
        {"key": "app-a", "provider": "openai", "model": "gpt-4o", "requests": 1},
        {"key": "app-b", "provider": "openai", "model": "gpt-4o", "requests": 1},
    ]
    text = run(home).stdout.split("\n\n")[1]
    assert text.splitlines()[0].split() == ["KEY", "PROVIDER", "MODEL", "REQUESTS"]
    assert text.splitlines()[1].split() == ["app-c", "openai", "gpt-4o", "2"]
    assert text.splitlines()[2].split() == ["-", "gpt-4o", "1"]  # the key said once


def test_latency_percentiles_are_estimates_within_a_bucket(home: Path) -> None:
    log(home, *[(request(latency_ms=ms), T0 + i) for i, ms in enumerate(range(10, 1010, 10))])
    latency = stats(home)["total"]["latency_ms"]
    assert latency["mean"] == pytest.approx(505.0)
    assert latency["max"] == 1000
    assert 400 <= latency["p50"] <= 600
    assert 900 <= latency["p95"] <= 1000


def test_cost_is_a_dash_when_no_price_is_known(home: Path) -> None:
    log(home, (request(cost=None), T0), (request(cost=None), T0 + 1))
    report = stats(home)
    assert report["total"]["cost"] is None and report["total"]["cost_records"] == 0
    line = next(x for x in run(home).stdout.splitlines() if x.startswith("app-a"))
    assert " - " in line


def test_records_dropped_by_the_writer_are_reported(home: Path) -> None:
    log(home, (request(), T0), (request(dropped=7), T0 + 1), (request(dropped=2), T0 + 2))
    result = run(home)
    assert "dropped 9 request records" in result.stderr
    assert stats(home)["total"]["dropped"] == 9
    assert "dropped" not in run(home, "--until", "2025-06-01T10:00:00.500Z").stderr


def test_mcp_calls_count_and_other_events_are_ignored(home: Path) -> None:
    path = log(home, (request(), T0))
    append(path, "mcp.call", request(model="search", deployment="tools-server",
                                     provider=None), None, now=T0 + 1)
    append(path, "key.added", {"name": "openai", "status": 200}, None, now=T0 + 2)
    report = stats(home, "--by", "model")
    assert {r["name"]: r["requests"] for r in report["rows"]} == {"gpt-4o": 1, "search": 1}
    assert report["other_events"] == 1
    assert report["unreadable_lines"] == 0


# --------------------------------------------------------------------------- time window


EDGES = [
    (request("before"), T0 - 0.001),  # 09:59:59.999
    (request("on-since"), T0),  # 10:00:00.000
    (request("inside"), T0 + HOUR - 0.001),  # 10:59:59.999
    (request("on-until"), T0 + HOUR),  # 11:00:00.000
]


def test_since_is_inclusive_and_until_exclusive_with_iso_times(home: Path) -> None:
    log(home, *EDGES)
    report = stats(home, "--since", "2025-06-01T10:00:00Z", "--until", "2025-06-01T11:00")
    assert set(rows(report)) == {"on-since", "inside"}
    assert report["since"] == "2025-06-01T10:00:00.000Z"
    assert report["until"] == "2025-06-01T11:00:00.000Z"
    assert set(rows(stats(home, "--since", "2025-06-01T11:00:00.000Z"))) == {"on-until"}
    assert set(rows(stats(home, "--until", "2025-06-01T10:00:00Z"))) == {"before"}
    assert len(rows(stats(home, "--since", "2025-06-01", "--until", "2025-06-02"))) == 4
    assert rows(stats(home, "--since", "2025-06-02")) == {}
    # Another zone is converted: 12:00+02:00 is 10:00Z.
    assert set(rows(stats(home, "--since", "2025-06-01T12:00:00+02:00",
                          "--until", "2025-06-01T12:59:59.999+02:00"))) == {"on-since"}


def test_relative_since_and_until(home: Path) -> None:
    now = time.time()
    log(home, (request("two-days"), now - 2 * 86400), (request("two-hours"), now - 2 * HOUR),
        (request("ten-minutes"), now - 600))
    assert set(rows(stats(home, "--since", "24h"))) == {"two-hours", "ten-minutes"}
    assert set(rows(stats(home, "--since", "1h"))) == {"ten-minutes"}
    assert set(rows(stats(home, "--since", "7d", "--until", "1h"))) == {"two-hours",
                                                                        "two-days"}
    assert set(rows(stats(home, "--since", "90m", "--until", "5m"))) == {"ten-minutes"}
    assert set(rows(stats(home, "--until", "1w"))) == set()


def test_rotated_files_are_selected_by_whole_hours(home: Path) -> None:
    """The documented granularity: a cached file counts every record of an hour that
    overlaps the window; the active file is exact."""
    writer = ChainWriter(home / "requests.jsonl")
    writer.rotated([(request("rot-09:59"), T0 - 60), (request("rot-10:10"), T0 + 600),
                    (request("rot-10:50"), T0 + 3000), (request("rot-11:00"), T0 + HOUR)])
    writer.write(home / "requests.jsonl", [(request("act-10:10"), T0 + 600),
                                            (request("act-10:50"), T0 + 3000)])
    window = ("--since", "2025-06-01T10:30:00Z", "--until", "2025-06-01T10:40:00Z")
    for _ in range(2):  # summarised, then from the cache: the same answer
        assert set(rows(stats(home, *window))) == {"rot-10:10", "rot-10:50"}
    assert set(rows(stats(home, "--since", "2025-06-01T10:30:00Z"))) == {
        "rot-10:10", "rot-10:50", "rot-11:00", "act-10:50"}
    note = run(home, *window).stderr
    assert ("rotated files are counted by whole UTC hours, here from 2025-06-01T10:00:00.000Z "
            "to 2025-06-01T11:00:00.000Z") in note
    on_the_hour = ("--since", "2025-06-01T10:00:00Z", "--until", "2025-06-01T11:00:00Z")
    assert set(rows(stats(home, *on_the_hour))) == {"rot-10:10", "rot-10:50", "act-10:10",
                                                    "act-10:50"}


@pytest.mark.parametrize("args", [
    ("--since", "yesterday"), ("--since", "24"), ("--since", "-1h"), ("--until", "7x"),
    ("--since", "2025-13-01"), ("--since", "2025-06-02", "--until", "2025-06-01"),
    ("--since", "1h", "--until", "1h"), ("--since", "999999w"), ("--until", ""),
])
def test_bad_time_is_a_clear_usage_error(home: Path, args: tuple[str, ...]) -> None:
    log(home, (request(), T0))
    result = run(home, *args)
    assert result.exit_code == 2
    assert "--since" in result.stderr or "--until" in result.stderr
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1


# --------------------------------------------------------------------------- output


def test_json_schema_is_stable(home: Path) -> None:
    log(home, *MIXED)
    report = stats(home)
    assert list(report) == ["by", "since", "until", "records", "unreadable_lines",
                            "odd_records", "other_events", "files", "rows", "total",
                            "key_usage"]
    numbers = ["requests", "errors", "blocked", "input_tokens", "output_tokens", "cost",
               "cost_records", "latency_ms", "findings", "dropped"]
    for row in report["rows"]:
        assert list(row) == ["name", *numbers]
        assert list(row["latency_ms"]) == ["p50", "p95", "mean", "max"]
        assert all(isinstance(row[k], int) for k in [*numbers[:5], "dropped"])
        assert all(isinstance(k, str) and isinstance(v, int)
                   for k, v in row["findings"].items())
    assert list(report["total"]) == numbers
    assert report["files"] == [{"name": "requests.jsonl", "read": "scanned"}]
    assert all(list(u) == ["key", "provider", "model", "requests"]
               for u in report["key_usage"])
    # The same keys when there is nothing to show.
    empty = stats(home, "--since", "2030-01-01")
    assert list(empty) == list(report) and empty["rows"] == [] and empty["key_usage"] == []
    assert list(empty["total"]) == numbers


def test_bar_scales_to_the_largest_value() -> None:
    assert bar_text(10, 10, 20) == "█" * 20
    assert bar_text(5, 10, 20) == "█" * 10
    assert bar_text(1, 16, 2) == "▏"  # one eighth of a cell
    assert bar_text(3, 16, 2) == "▍"  # three eighths
    assert bar_text(0.0001, 10, 20) == "▏"  # above zero always shows
    assert bar_text(0, 10, 20) == ""
    assert bar_text(5, 0, 20) == ""


def _bars(text: str) -> dict[str, int]:
    """Bar length in eighths per row of the first table (the key table follows a blank line)."""
    out = {}
    for line in text.split("\n\n")[0].splitlines():
        cells = line.split()
        if cells and cells[0].startswith("app-"):
            bar = cells[-1] if cells[-1][0] in "▏▎▍▌▋▊▉█" else ""
            out[cells[0]] = sum(8 if c == "█" else " ▏▎▍▌▋▊▉".index(c) for c in bar)
    return out


def test_table_bars_follow_requests_or_cost_and_fit_the_terminal(home: Path) -> None:
    log(home, *[(request("app-big", cost=0.01), T0 + i) for i in range(8)],
        *[(request("app-small", cost=1.0), T0 + 10 + i) for i in range(2)])
    wide, narrow = run(home, columns=200), run(home, columns=120)
    assert wide.exit_code == 0 and narrow.exit_code == 0
    by_requests = _bars(wide.stdout)
    assert by_requests["app-big"] == 4 * by_requests["app-small"]
    assert _bars(narrow.stdout)["app-big"] < by_requests["app-big"]
    line = next(x for x in narrow.stdout.splitlines() if x.startswith("app-big"))
    assert len(line) <= 120
    by_cost = _bars(run(home, "--bar", "cost").stdout)
    assert by_cost["app-small"] > by_cost["app-big"] > 0
    assert by_cost["app-small"] == by_requests["app-big"]  # the largest takes the full bar


def test_names_are_cleaned_for_the_terminal(home: Path) -> None:
    log(home, (request("evil\x1b[2Jname"), T0))
    assert "\x1b" not in run(home).stdout
    assert clean("a\x1b[31mb") == "a?[31mb"
    assert clean("x" * 50).endswith("…") and len(clean("x" * 50)) == 32
    assert clean(None) == "-"


def test_only_names_and_counts_reach_the_output(home: Path) -> None:
    markers = {
        "id": "req_MARKER1", "client": "203.0.113.77", "reason": "secrets.MARKER2",
        "path": "/v1/MARKER3", "output_reason": "MARKER4", "failover": ["MARKER5:error"],
        "limit": "refused:MARKER6", "served_model": "MARKER7",
        "findings": [{"guard": "secrets", "kind": "MARKER8", "count": 1, "slot": "MARKER9"}],
        "unknown_field": "MARKER10", "principal_id": "MARKER11",
    }
    log(home, (request(**markers), T0))
    for args in ((), ("--format", "json"), ("--by", "model"), ("--by", "deployment")):
        result = run(home, *args)
        assert result.exit_code == 0
        for value in ("MARKER", "203.0.113.77"):
            assert value not in result.output


# --------------------------------------------------------------------------- files and cache


def _month(home: Path) -> tuple[list[Path], int]:
    """Three rotated files and an active one: hours 0-5 after T0, 4 records an hour."""
    writer = ChainWriter(home / "requests.jsonl")
    files = []
    for part in range(3):
        records = [(request(f"app-{h % 2}", cost=0.5), T0 + h * HOUR + q * 60)
                   for h in range(part * 2, part * 2 + 2) for q in range(4)]
        files.append(writer.rotated(records))
    writer.write(home / "requests.jsonl", [(request("app-0", cost=0.5), T0 + 6 * HOUR)])
    return files, 25


def test_rotated_files_and_the_chain_are_real(home: Path, tmp_path: Path) -> None:
    files, total = _month(home)
    whole = tmp_path / "whole.jsonl"
    whole.write_bytes(b"".join(p.read_bytes() for p in [*files, home / "requests.jsonl"]))
    report = verify(whole, {})
    assert report.ok and report.records == total
    assert files[1] == rotated_name(home / "requests.jsonl", 8)


def test_multiple_files_are_summed_and_later_runs_read_the_cache(home: Path) -> None:
    files, total = _month(home)
    first = stats(home)
    assert first["records"] == total
    assert rows(first)["app-0"]["requests"] == 13 and rows(first)["app-1"]["requests"] == 12
    assert [f["read"] for f in first["files"]] == ["summarised"] * 3 + ["scanned"]
    cache_dir = home / "stats-cache"
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    for path in files:
        cache = cache_dir / f"{path.name}.json"
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    second = stats(home)
    assert [f["read"] for f in second["files"]] == ["cache"] * 3 + ["scanned"]
    assert second["rows"] == first["rows"]

    # The real effect: rewrite the middle of a rotated file, keeping its size, mtime and
    # last line. The cache still answers, so the edit is not seen...
    target = files[0]
    info = target.stat()
    lines = target.read_bytes().splitlines(keepends=True)
    lines[0] = lines[0].replace(b'"app-0"', b'"app-9"')
    target.write_bytes(b"".join(lines))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert target.stat().st_size == info.st_size
    assert "app-9" not in rows(stats(home))
    # ...until the key no longer matches: a new mtime makes the file read again.
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    third = stats(home)
    assert rows(third)["app-9"]["requests"] == 1
    assert next(f["read"] for f in third["files"]) == "summarised"
    assert next(f["read"] for f in stats(home)["files"]) == "cache"


def test_a_cache_edited_with_its_key_intact_is_believed(home: Path) -> None:
    """Documented: the cache is a convenience under the same 0700 home as the log; its
    numbers are trusted while its key matches the file."""
    files, _ = _month(home)
    stats(home)
    cache = home / "stats-cache" / f"{files[0].name}.json"
    summary = json.loads(cache.read_bytes())
    for row in summary["totals"]:
        row[2] += 1000  # requests
    cache.write_text(json.dumps(summary))
    report = stats(home)
    assert report["total"]["requests"] == 25 + 1000 * len(summary["totals"])


@pytest.mark.parametrize("edit", ["size", "mtime_ns", "last_line_sha256", "path", "version",
                                  "garbage", "empty", "truncated", "bad-dim", "bad-histogram",
                                  "bad-hours", "directory"])
def test_a_cache_that_does_not_match_or_is_broken_is_recomputed(home: Path, edit: str) -> None:
    files, total = _month(home)
    baseline = stats(home)
    cache = home / "stats-cache" / f"{files[1].name}.json"
    text = cache.read_bytes()
    summary = json.loads(text)
    for row in summary["totals"]:
        row[2] += 1000  # a lie, which must not survive the recomputation
    if edit in ("size", "mtime_ns"):
        summary["key"][edit] += 1
    elif edit == "last_line_sha256":
        summary["key"][edit] = "0" * 64
    elif edit == "path":
        summary["key"][edit] = "/elsewhere/requests-000000000008.jsonl"
    elif edit == "version":
        summary["version"] = 999
    elif edit == "bad-dim":
        summary["totals"][0][1] = 99
    elif edit == "bad-histogram":
        summary["totals"][0][12] = [1, 2]
    elif edit == "bad-hours":
        summary["hours"] = "not rows"
    data = json.dumps(summary).encode()
    if edit == "garbage":
        data = b"\x00not json at all"
    elif edit == "empty":
        data = b""
    elif edit == "truncated":
        data = text[: len(text) // 2]
    if edit == "directory":
        cache.unlink()
        cache.mkdir()
    else:
        cache.write_bytes(data)
    # A window cutting through the file, so its hours are read too.
    window = ("--since", "2025-06-01T13:00:00Z")
    cut = stats(home, *window)
    report = stats(home)
    assert report["total"]["requests"] == total
    assert report["rows"] == baseline["rows"]
    # 13:00 of the file edited, both keys' 14:00 and 15:00, app-0's 16:00 in the active file.
    assert rows(cut)["app-1"]["requests"] == 8 and rows(cut)["app-0"]["requests"] == 5
    if edit != "directory":
        assert [f["read"] for f in cut["files"]][1] == "summarised"
        assert [f["read"] for f in report["files"]][1] == "cache"


def test_files_summarised_in_worker_processes_give_the_same_numbers(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _month(home)
    serial = stats(home, "--no-cache")
    monkeypatch.setattr(stats_cache, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    parallel = stats(home)
    assert parallel["rows"] == serial["rows"] and parallel["key_usage"] == serial["key_usage"]
    assert len(list((home / "stats-cache").iterdir())) == 3  # written by the workers
    assert stats(home)["rows"] == serial["rows"]


def test_the_active_file_split_between_workers_gives_the_same_numbers(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = ChainWriter(home / "requests.jsonl")
    active = writer.write(home / "requests.jsonl", [
        (request(f"app-{i % 7}", latency_ms=i, findings=[{"guard": "pii", "count": 1}]),
         T0 + i * 10) for i in range(300)])
    with active.open("ab") as handle:
        handle.write(b"garbage\n{\"data\": {}, \"event\": \"llm.request\", \"ti")
    serial = stats(home, "--since", "2025-06-01T10:05:00Z")
    monkeypatch.setattr(stats_cache, "ACTIVE_PARALLEL_BYTES", 0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2}, raising=False)
    parallel = stats(home, "--since", "2025-06-01T10:05:00Z")
    assert parallel == serial
    assert serial["records"] == 270 and serial["unreadable_lines"] == 2


def test_an_unwritable_cache_only_warns(home: Path) -> None:
    _month(home)
    (home / "stats-cache").write_text("a file where the cache directory should be")
    result = run(home, "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["records"] == 25
    assert "cannot write the stats cache" in result.stderr


def test_no_cache_reads_every_file(home: Path) -> None:
    _month(home)
    report = stats(home, "--no-cache")
    assert [f["read"] for f in report["files"]] == ["summarised"] * 3 + ["scanned"]
    assert not (home / "stats-cache").exists()


def test_a_file_rotated_during_the_run_is_read_once(home: Path) -> None:
    """The rotated file that is the active file just opened (same inode) is not read twice."""
    active = log(home, (request(), T0), (request(), T0 + 1))
    os.link(active, rotated_name(active, 0))
    report = stats(home)
    assert report["records"] == 2
    assert [f["name"] for f in report["files"]] == ["requests.jsonl"]


def test_only_rotated_files(home: Path) -> None:
    _month(home)
    (home / "requests.jsonl").unlink()
    assert stats(home)["records"] == 24


def test_audit_path_from_the_config(home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "logs"
    elsewhere.mkdir()
    append(elsewhere / "api.jsonl", "llm.request", request("from-config"), None, now=T0)
    config = tmp_path / "gateway.toml"
    config.write_text(f'[audit]\npath = "{elsewhere / "api.jsonl"}"\n')
    assert set(rows(stats(home, "--config", str(config)))) == {"from-config"}


# --------------------------------------------------------------------------- bad input


def test_garbage_lines_are_skipped_and_counted(home: Path) -> None:
    writer = ChainWriter(home / "requests.jsonl")
    rotated = writer.rotated([(request(), T0)])
    with rotated.open("ab") as handle:
        handle.write(b"not json\n")
    active = writer.write(home / "requests.jsonl", [(request(), T0 + 1)])
    with active.open("ab") as handle:
        handle.write(b'[1, 2]\n{"event": "llm.request"}\n\xff\xfe\n'
                     b'{"data": {}, "event": "llm.request", "time": "yesterday"}\n'
                     b'{"data": {"principal": "app-a"}, "event": "llm.req')  # no newline
    writer.write(home / "requests.jsonl", [])
    result = run(home, "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["records"] == 2
    assert report["unreadable_lines"] == 6
    assert "6 unreadable lines skipped; run `gateway log verify`" in result.stderr
    assert stats(home)["unreadable_lines"] == 6  # the cached file's count is kept


def test_strange_values_are_counted_sensibly(home: Path) -> None:
    writer = ChainWriter(home / "requests.jsonl")
    odd = [
        request(input_tokens=-5, output_tokens=7),  # negative tokens: not known
        request(cost="0.5"),  # not a number
        request(cost=-1.0, latency_ms="fast"),
        request(input_tokens=1.5, output_tokens=True),  # not a count
        request(status="200", team=42),  # the team is not a name
        request(findings=[{"guard": "pii", "count": -1}, "x", {"count": 2},
                          {"guard": "secrets", "count": 2}]),
        request(findings="many"),
        request(input_tokens=10**13, latency_ms=10**12),
    ]
    fine = request(input_tokens=100, output_tokens=10, cost=0.25, brand_new_field={"x": 1})
    writer.write(home / "requests.jsonl", [(d, T0 + i) for i, d in enumerate([*odd, fine])])
    result = run(home, "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    total = report["total"]
    assert report["records"] == 9 and report["odd_records"] == 8
    assert report["unreadable_lines"] == 0
    # Believable values of the odd records still count (e.g. output_tokens=7, cost 0.01).
    assert total["input_tokens"] == 100 + 10 * 5  # five odd records kept their default 10
    assert total["output_tokens"] == 10 + 7 + 6 * 5  # not True, the one bool
    assert total["cost"] == pytest.approx(0.25 + 0.01 * 6)
    assert total["errors"] == 0
    assert total["findings"] == {"secrets": 2}
    assert rows(stats(home, "--by", "team")).keys() == {"blue", None}
    assert "values that make no sense" in result.stderr
    assert run(home).exit_code == 0


def test_an_empty_log(home: Path) -> None:
    (home / "requests.jsonl").touch(mode=0o600)
    result = run(home)
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no requests in the log" in result.stderr
    report = stats(home)
    assert report["records"] == 0 and report["rows"] == []


def test_a_log_that_is_a_link_or_not_a_file_is_refused(home: Path, tmp_path: Path) -> None:
    elsewhere = log(tmp_path, (request(), T0))
    (home / "requests.jsonl").symlink_to(elsewhere)
    result = run(home)
    assert result.exit_code == 1 and "it is a symbolic link" in result.stderr
    (home / "requests.jsonl").unlink()
    (home / "requests.jsonl").mkdir()
    result = run(home)
    assert result.exit_code == 1 and "is not a regular file" in result.stderr


def test_a_missing_log_is_a_clear_error(home: Path, tmp_path: Path) -> None:
    result = run(home)
    assert result.exit_code == 1
    assert f"no request log at {home / 'requests.jsonl'}" in result.stderr
    assert "Traceback" not in result.output
    config = tmp_path / "gateway.toml"
    config.write_text(f'[audit]\npath = "{tmp_path / "nowhere" / "r.jsonl"}"\n')
    result = run(home, "--config", str(config))
    assert result.exit_code == 1 and "no request log at" in result.stderr


def test_help_says_stats_does_not_verify(home: Path) -> None:
    result = CliRunner().invoke(cli, ["stats", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "does not check the log's chain or signatures" in text
    assert "gateway log verify" in text
    assert "whole UTC hours" in text


def test_the_command_names_the_summary_dimensions() -> None:
    from gateway_cli.auditlog import summary
    from gateway_cli.cli import stats_cmd

    assert stats_cmd.DIMENSIONS == summary.DIMENSIONS


def test_stamp_helper_matches_the_chain() -> None:
    assert stamp(T0) == "2025-06-01T10:00:00.000Z"
