"""`gateway audit` against an OSV-compatible server on loopback fed with real records.

The records in tests/fixtures/osv/ are the published OSV entries (see the
README there): the litellm 1.82.7/1.82.8 malware (MAL-2026-2144 and its alias
PYSEC-2026-2), h11's chunked-encoding smuggling (GHSA-vqfr-h8mv-ghfj), and two
2026 advisories whose fixed versions sit just below what our lock pins
(cryptography PYSEC-2026-3552, click PYSEC-2026-2132), so the clean run over
the real lock also proves the range boundaries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway_cli.supply.lockfile import exact_pins
from tests.conftest import ROOT, free_port, run_gateway
from tests.fakes.osv import FakeOsv, affects, load_records

HASH = "--hash=sha256:" + "0" * 64
H11_REASON = "GHSA-vqfr-h8mv-ghfj: the gateway never serves HTTP/1.1 through h11"


@pytest.fixture(scope="module")
def osv() -> Iterator[FakeOsv]:
    with FakeOsv(load_records()) as server:
        yield server


def _lock(tmp_path: Path, *lines: str, name: str = "requirements.txt") -> Path:
    path = tmp_path / name
    path.write_text("".join(f"{line}\n" for line in lines))
    return path


# The fake listens on loopback; a proxy from the environment must not sit in between.
_ENV = {k: v for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


def _audit(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return run_gateway("audit", "--osv-url", url, *args, cwd=cwd or ROOT, env=_ENV)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("gateway: ")
    return lines[0]


# -- findings ------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.82.7", "1.82.8"])
def test_malicious_litellm_is_reported_as_malicious(osv: FakeOsv, tmp_path: Path,
                                                    version: str) -> None:
    lock = _lock(tmp_path, f"litellm=={version} {HASH}")
    result = _audit(osv.url, "--lock", str(lock))
    assert result.returncode == 1, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"MALICIOUS   litellm {version}  MAL-2026-2144")
    assert "PYSEC-2026-2" in first
    assert "rotate every credential" in result.stdout
    assert "1 malicious, 0 vulnerable" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("version", ["1.82.6", "1.82.9"])
def test_litellm_releases_around_the_malicious_ones_are_clean(osv: FakeOsv, tmp_path: Path,
                                                              version: str) -> None:
    result = _audit(osv.url, "--lock", str(_lock(tmp_path, f"litellm=={version}")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("no known advisories: 1 releases")


def test_vulnerable_h11_shows_the_fix(osv: FakeOsv, tmp_path: Path) -> None:
    result = _audit(osv.url, "--lock", str(_lock(tmp_path, f"h11==0.14.0 {HASH}")))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "VULNERABLE  h11 0.14.0  GHSA-vqfr-h8mv-ghfj (CVE-2025-43859)"
    assert "            fixed in: 0.16.0" in lines
    assert "MALICIOUS" not in result.stdout


def test_the_projects_own_lock_is_clean(osv: FakeOsv) -> None:
    before = len(osv.queries)
    result = _audit(osv.url)  # default: lockfiles/requirements.txt in the project directory
    assert result.returncode == 0, result.stdout + result.stderr
    pins, _ = exact_pins((ROOT / "lockfiles/requirements.txt").read_text())
    assert result.stdout.strip() == (f"no known advisories: {len(pins)} releases from "
                                     f"lockfiles/requirements.txt checked against {osv.url}")
    asked = {(q["package"]["name"], q["version"]) for q in osv.queries[before:]}
    assert asked == set(pins)
    # the near misses: each pinned version is at or just above a real advisory's fix
    assert {("h11", "0.16.0"), ("cryptography", "50.0.2"), ("click", "8.5.1")} <= asked


def test_several_locks_name_where_each_finding_is(osv: FakeOsv, tmp_path: Path) -> None:
    a = _lock(tmp_path, "h11==0.14.0", name="a.txt")
    b = _lock(tmp_path, "h11==0.14.0", "litellm==1.82.8", name="b.txt")
    result = _audit(osv.url, "--lock", str(a), "--lock", str(b), "--format", "json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["locks"] == [str(a), str(b)]
    assert report["packages_checked"] == 2
    where = {f["package"]: f["locks"] for f in report["findings"]}
    assert where == {"h11": sorted([str(a), str(b)]), "litellm": [str(b)]}


def test_results_spread_over_pages_are_all_read(tmp_path: Path) -> None:
    with FakeOsv(load_records(), page_size=1) as paged:
        result = _audit(paged.url, "--lock", str(_lock(tmp_path, "litellm==1.82.8")),
                        "--format", "json")
        tokens = [q.get("page_token") for q in paged.queries]
    assert result.returncode == 1
    (finding,) = json.loads(result.stdout)["findings"]
    assert finding["id"] == "MAL-2026-2144" and finding["aliases"] == ["PYSEC-2026-2"]
    assert tokens == [None, "1"]


# -- --ignore ------------------------------------------------------------------------------

@pytest.mark.parametrize("ident", ["GHSA-vqfr-h8mv-ghfj", "CVE-2025-43859", "ghsa-vqfr-h8mv-ghfj"])
def test_ignore_accepts_an_advisory_by_id_or_alias_and_shows_why(osv: FakeOsv, tmp_path: Path,
                                                                 ident: str) -> None:
    lock = _lock(tmp_path, "h11==0.14.0")
    result = _audit(osv.url, "--lock", str(lock), "--ignore", f"{ident}: never reached")
    assert result.returncode == 0, result.stdout
    assert "ignored     h11 0.14.0  GHSA-vqfr-h8mv-ghfj (CVE-2025-43859): never reached" \
        in result.stdout
    assert result.stdout.splitlines()[-1].endswith("; 1 ignored")


def test_ignore_cannot_wave_a_malicious_release_through(osv: FakeOsv, tmp_path: Path) -> None:
    lock = _lock(tmp_path, "litellm==1.82.8")
    result = _audit(osv.url, "--lock", str(lock), "--ignore", "PYSEC-2026-2: we trust it")
    assert result.returncode == 1
    assert "MALICIOUS" in result.stdout
    assert ("note: --ignore PYSEC-2026-2 not applied: a malicious release cannot be ignored"
            in result.stdout)


def test_an_ignore_that_matches_nothing_is_pointed_out(osv: FakeOsv, tmp_path: Path) -> None:
    lock = _lock(tmp_path, "h11==0.16.0")
    result = _audit(osv.url, "--lock", str(lock), "--ignore", "GHSA-0000-0000-0000: old")
    assert result.returncode == 0
    assert "note: --ignore GHSA-0000-0000-0000 not applied: it matched no finding" \
        in result.stdout


# -- the JSON contract ---------------------------------------------------------------------

def test_json_output_schema_is_stable(osv: FakeOsv, tmp_path: Path) -> None:
    lock = _lock(tmp_path, "litellm==1.82.8", f"h11==0.14.0 {HASH}", "click==8.3.2")
    result = _audit(osv.url, "--lock", str(lock), "--format", "json", "--ignore",
                    "CVE-2026-7246: we never call click.edit()", "--ignore", "GHSA-x: stale")
    assert result.returncode == 1
    locks = [str(lock)]
    expected: dict[str, Any] = {
        "schema": "gateway-audit/1",
        "service": osv.url,
        "locks": locks,
        "packages_checked": 3,
        "findings": [
            {"package": "litellm", "version": "1.82.8", "kind": "malicious",
             "id": "MAL-2026-2144", "aliases": ["PYSEC-2026-2"],
             "summary": "Malicious code in litellm (PyPI)", "fix_versions": [], "locks": locks},
            {"package": "h11", "version": "0.14.0", "kind": "vulnerability",
             "id": "GHSA-vqfr-h8mv-ghfj", "aliases": ["CVE-2025-43859"],
             "summary": "h11 accepts some malformed Chunked-Encoding bodies",
             "fix_versions": ["0.16.0"], "locks": locks},
        ],
        "ignored": [
            {"finding": {"package": "click", "version": "8.3.2", "kind": "vulnerability",
                         "id": "PYSEC-2026-2132",
                         "aliases": ["CVE-2026-7246", "GHSA-47fr-3ffg-hgmw"],
                         "summary": "Pallets Click, versions 8.3.2 and below, contain a command "
                                    "injection vulnerability in the click.edit() function, "
                                    "allowing attackers to pass arbitrary OS…",
                         "fix_versions": ["8.3.3"], "locks": locks},
             "reason": "we never call click.edit()"},
        ],
        "ignores_not_applied": [{"id": "GHSA-x", "why": "it matched no finding; remove this "
                                                        "--ignore"}],
    }
    assert json.loads(result.stdout) == expected


# -- the audit could not be done: exit 2, one line, never "clean" -------------------------

def test_service_down(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1/query"
    result = _audit(url, "--lock", str(_lock(tmp_path, "h11==0.16.0")))
    assert result.returncode == 2
    assert result.stdout == ""
    line = _one_line(result.stderr)
    assert f"cannot reach the advisory service at {url}" in line
    assert "run the audit again" in line


def test_service_too_slow(tmp_path: Path) -> None:
    with FakeOsv(load_records()) as slow:
        slow.stall(5)
        result = _audit(slow.url, "--lock", str(_lock(tmp_path, "h11==0.16.0")),
                        "--timeout", "0.3")
    assert result.returncode == 2
    assert "timed out" in _one_line(result.stderr)


@pytest.mark.parametrize(("status", "body", "headers", "fragment"), [
    (200, b"not json", {}, "not an OSV query result"),
    (200, b"<html><body>Welcome</body></html>", {"Content-Type": "text/html"},
     "not an OSV query result"),
    (200, b"[]", {}, "not an OSV query result"),
    (200, b'{"vulns": "none"}', {}, "Expected `array`, got `str` - at `$.vulns`"),
    (200, b'{"vulns": [{"id": 5}]}', {}, "Expected `str`, got `int` - at `$.vulns[0].id`"),
    (200, b'{"vulns": [{"summary": "no id"}]}', {}, "missing required field `id`"),
    (200, b'{"vulns": [{"id": ""}]}', {}, "Expected `str` of length >= 1"),
    (200, b'{"vulns": [{"id": "X-1", "affected": [{"ranges": [{"type": "ECOSYSTEM", '
          b'"events": [{"fixed": 1}]}]}]}]}', {}, "at `$.vulns[0].affected[0].ranges[0]"),
    (200, b'{"vulns": [], "next_page_token": 7}', {}, "at `$.next_page_token`"),
    (500, b'{"code": 13, "message": "internal error"}', {}, "answered HTTP 500"),
    (429, b"slow down", {}, "answered HTTP 429"),
    (400, b'{"code": 3, "message": "Invalid query"}', {}, "HTTP 400 for h11==0.16.0: Invalid"),
    (301, b"", {"Location": "https://elsewhere.example/v1/query"},
     "redirects (HTTP 301) to https://elsewhere.example/v1/query"),
])
def test_malformed_or_failed_answers_are_errors(tmp_path: Path, status: int, body: bytes,
                                                headers: dict[str, str], fragment: str) -> None:
    with FakeOsv([]) as broken:
        broken.respond(status, body, headers)
        result = _audit(broken.url, "--lock", str(_lock(tmp_path, "h11==0.16.0")))
    assert result.returncode == 2, result.stdout
    assert result.stdout == ""
    assert fragment in _one_line(result.stderr)


# -- bad usage: exit 2, one line -----------------------------------------------------------

@pytest.mark.parametrize(("content", "fragment"), [
    ("h11>=0.14\n", "line 1: 'h11>=0.14' is not pinned to one version with =="),
    ("h11==0.*\n", "is not pinned to one version"),
    ("h11 @ https://example.org/h11-0.14.0-py3-none-any.whl\n", "is not pinned"),
    ("h11==0.14.0\n-r other.txt\n", "line 2: '-r other.txt' pulls in requirements"),
    ("-e .\n", "pulls in requirements the audit cannot see"),
    ("./vendored/h11\n", "is not a name==version pin"),
    ("# nothing but a comment\n", "pins no packages; nothing to audit"),
    (b"h11==0.14.0 \xff\n", "is not UTF-8 text"),
])
def test_bad_lock_is_a_usage_error(osv: FakeOsv, tmp_path: Path, content: str | bytes,
                                   fragment: str) -> None:
    lock = tmp_path / "requirements.txt"
    if isinstance(content, bytes):
        lock.write_bytes(content)
    else:
        lock.write_text(content)
    before = len(osv.queries)
    result = _audit(osv.url, "--lock", str(lock))
    assert result.returncode == 2
    assert fragment in _one_line(result.stderr)
    assert len(osv.queries) == before  # nothing was asked on a half-read lock


@pytest.mark.parametrize(("args", "fragment"), [
    (["--lock", "/no/such/lock.txt"], "does not exist"),
    (["--osv-url", "ftp://osv.example/v1/query"], "is not an http(s) URL"),
    (["--osv-url", "api.osv.dev/v1/query"], "is not an http(s) URL"),
    (["--format", "yaml"], "'yaml' is not one of 'text', 'json'"),
    (["--ignore", "GHSA-vqfr-h8mv-ghfj"], "needs a reason"),
    (["--ignore", "GHSA-vqfr-h8mv-ghfj:  "], "needs a reason"),
    (["--ignore", ": no id"], "does not start with an advisory id"),
    (["--timeout", "0"], "0.0 is not in the range x>=0.1"),
])
def test_bad_options_are_usage_errors(args: list[str], fragment: str) -> None:
    result = run_gateway("audit", *args, cwd=ROOT)
    assert result.returncode == 2
    assert fragment in _one_line(result.stderr)


def test_no_default_lock_outside_the_project(tmp_path: Path) -> None:
    result = run_gateway("audit", cwd=tmp_path)
    assert result.returncode == 2
    assert "lockfiles/requirements.txt not found" in _one_line(result.stderr)


# -- the fake speaks OSV: its range rules, and pip-audit as a second client ----------------

def _record(rid: str) -> dict[str, Any]:
    return next(r for r in load_records() if r["id"] == rid)


@pytest.mark.parametrize(("rid", "name", "version", "hit"), [
    ("PYSEC-2026-2", "litellm", "1.82.6", False),   # introduced 1.82.7
    ("PYSEC-2026-2", "litellm", "1.82.7", True),
    ("PYSEC-2026-2", "LiteLLM", "1.82.8", True),    # last_affected is inclusive
    ("PYSEC-2026-2", "litellm", "1.82.9", False),
    ("MAL-2026-2144", "litellm", "1.82.8", True),   # versions list only
    ("MAL-2026-2144", "litellm", "1.82.9", False),
    ("GHSA-vqfr-h8mv-ghfj", "h11", "0.14.0", True),  # introduced "0"
    ("GHSA-vqfr-h8mv-ghfj", "h11", "0.16.0rc1", True),  # pre-release sorts before the fix
    ("GHSA-vqfr-h8mv-ghfj", "h11", "0.16.0", False),  # fixed is exclusive
    ("PYSEC-2026-3552", "cryptography", "43.0.3", False),
    ("PYSEC-2026-3552", "cryptography", "44.0.0", True),
    ("PYSEC-2026-3552", "cryptography", "50.0.0", False),
    ("PYSEC-2026-2132", "click", "8.3.2", True),
    ("PYSEC-2026-2132", "click", "8.3.3", False),
    ("PYSEC-2026-2132", "flask", "8.3.2", False),
])
def test_fake_applies_osv_range_rules(rid: str, name: str, version: str, hit: bool) -> None:
    assert affects(_record(rid), name, version) is hit


def test_limit_event_caps_a_range() -> None:
    record = {"affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "2.0"}]}]}]}
    assert affects(record, "x", "1.9")
    assert not affects(record, "x", "2.0")


def test_pip_audit_reads_the_fake_the_same_way(osv: FakeOsv, tmp_path: Path) -> None:
    lock = _lock(tmp_path, "litellm==1.82.8", "h11==0.14.0", name="pa.txt")
    result = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(lock), "--osv-url", osv.url, "-s", "osv",
         "--disable-pip", "--no-deps", "-f", "json", "--progress-spinner", "off",
         "--cache-dir", str(tmp_path / "cache")],
        capture_output=True, text=True, timeout=60, check=False, env=_ENV)
    assert result.returncode == 1, result.stderr
    found = {d["name"]: d["vulns"] for d in json.loads(result.stdout)["dependencies"]}
    litellm_ids = {i for v in found["litellm"] for i in (v["id"], *v["aliases"])}
    assert {"MAL-2026-2144", "PYSEC-2026-2"} <= litellm_ids
    (h11,) = found["h11"]
    assert "GHSA-vqfr-h8mv-ghfj" in (h11["id"], *h11["aliases"])
    assert h11["fix_versions"] == ["0.16.0"]
