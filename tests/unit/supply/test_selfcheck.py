"""The release binary's self-check, on bundles made here (tests/binary runs the real binary)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import msgspec
import pytest

from gateway_cli.errors import StartupError
from gateway_cli.server import startup_check
from gateway_cli.supply import build_manifest, bundle_records, provenance_check, selfcheck
from gateway_cli.supply import report as reports
from gateway_cli.supply.bundle_records import BuildInfo, BundledDistribution
from gateway_cli.supply.model import Problem
from tests.conftest import ROOT, run_gateway


def _bundle(folder: Path) -> Path:
    """A bundle like the binary's: embedded supply-chain files, a library, a link, a manifest."""
    for name in bundle_records.EMBEDDED:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, folder / name)
    (folder / "lib").mkdir()
    (folder / "lib" / "_native.so").write_bytes(b"\x7fELF" + bytes(range(256)) * 64)
    (folder / "lib" / "libz.so").symlink_to("_native.so")
    info = _build_info(ROOT / "lockfiles" / "provenance.json", count=3)
    (folder / bundle_records.BUILD_INFO).write_bytes(bundle_records.encode(info))
    _seal(folder)
    return folder


def _seal(folder: Path) -> None:
    files = {str(p.relative_to(folder)): p for p in sorted(folder.rglob("*"))
             if p.is_file() and not p.is_symlink() and p.name != bundle_records.MANIFEST}
    links = {str(p.relative_to(folder)): str(p.readlink()) for p in folder.rglob("*")
             if p.is_symlink()}
    manifest = build_manifest.make_manifest(files, links, None)
    (folder / bundle_records.MANIFEST).write_bytes(bundle_records.encode(manifest))


def _build_info(provenance: Path, count: int) -> BuildInfo:
    """A build record naming the first `count` wheels provenance.json has RECORD digests for."""
    document = provenance_check.load(provenance)
    seen: dict[str, BundledDistribution] = {}
    for entry in document.artifacts:
        if entry.record_sha256 and entry.name not in seen:
            seen[entry.name] = BundledDistribution(entry.name, entry.version, entry.record_sha256)
    return BuildInfo(version=1, gateway="0.1.0", commit=None, source_date_epoch=None,
                     python="3.11.7", platform="linux x86_64", pyinstaller="6.22.3",
                     distributions=list(seen.values())[:count], excluded=["faker"])


def _checks(problems: list[Problem] | tuple[Problem, ...]) -> list[tuple[str, str | None]]:
    return [(p.check, p.path) for p in problems if p.severity == "error"]


def test_a_sealed_bundle_passes_with_provenance_warnings_only(tmp_path: Path) -> None:
    report = selfcheck.check(_bundle(tmp_path))
    assert report.errors == 0 and report.ok
    assert report.warnings == 3  # this lock's provenance is unknown (an index without PEP 740)
    assert {p.check for p in report.problems} == {"provenance.unknown"}
    assert report.provenance.checked and report.provenance.records_checked == 3
    assert report.files_checked == len(bundle_records.EMBEDDED) + 2
    assert not selfcheck.check(tmp_path, strict=True).ok


@pytest.mark.parametrize(("change", "expected"), [
    ("edit", [("self.changed", "lockfiles/provenance.json")]),
    ("remove", [("self.missing", "lockfiles/provenance.json"),
                ("self.provenance", "lockfiles/provenance.json")]),
    ("add", [("self.unexpected", "lockfiles/sitecustomize.py")]),
    ("relink", [("self.changed", "lib/libz.so")]),
    ("replace-link", [("self.changed", "lib/libz.so")]),
])
def test_each_difference_is_named(tmp_path: Path, change: str,
                                  expected: list[tuple[str, str]]) -> None:
    bundle = _bundle(tmp_path)
    target = bundle / "lockfiles" / "provenance.json"
    if change == "edit":
        target.write_bytes(target.read_bytes().replace(b'"version": 1', b'"version":  1', 1))
    elif change == "remove":
        target.unlink()
    elif change == "add":
        (bundle / "lockfiles" / "sitecustomize.py").write_text("import os\n")
    elif change == "relink":
        (bundle / "lib" / "libz.so").unlink()
        (bundle / "lib" / "libz.so").symlink_to("/usr/lib/libz.so")
    else:
        (bundle / "lib" / "libz.so").unlink()
        (bundle / "lib" / "libz.so").write_bytes(b"not a link")
    report = selfcheck.check(bundle)
    assert _checks(report.problems) == expected
    assert not report.ok


def test_a_changed_trust_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway_cli.supply import trust

    bundle = _bundle(tmp_path)
    monkeypatch.setattr(trust, "read_root", lambda path=None: b'{"mediaType": "forged"}')
    report = selfcheck.check(bundle)
    assert _checks(report.problems) == [("self.trust-root", bundle_records.TRUST_ROOT)]
    assert "pins 6494e21e" in report.problems[0].message


def test_build_record_must_match_the_lock_and_provenance(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    info = bundle_records.load_build_info(bundle)
    first, second, *rest = info.distributions
    changed = msgspec.structs.replace(info, distributions=[
        msgspec.structs.replace(first, version="0.0.1"),
        msgspec.structs.replace(second, record_sha256="0" * 64), *rest])
    (bundle / bundle_records.BUILD_INFO).write_bytes(bundle_records.encode(changed))
    _seal(bundle)  # a consistent manifest: only the lock and provenance checks can object
    report = selfcheck.check(bundle)
    assert _checks(report.problems) == [("lock.version", bundle_records.LOCK),
                                        ("provenance.record", bundle_records.PROVENANCE)]
    assert f"bundled {first.name} 0.0.1" in report.problems[0].message


def test_missing_manifest_and_build_record(tmp_path: Path) -> None:
    report = selfcheck.check(tmp_path)
    assert _checks(report.problems) == [("self.manifest", bundle_records.MANIFEST),
                                        ("self.build-info", bundle_records.BUILD_INFO)]


def test_reports(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    (bundle / "lockfiles" / "requirements.txt").write_text("# emptied\n")
    report = selfcheck.check(bundle)
    text = reports.render_self(report, "text")
    assert text.startswith("gateway verify --self: FAILED: 4 error(s), 3 warning(s)\n")
    assert "error: self.changed: A bundled file differs from the manifest (1)" in text
    assert "bundled file lockfiles/requirements.txt changed" in text
    assert "download the release again and verify its signature" in text
    data = json.loads(reports.render_self(report, "json"))
    assert data["schema"] == "gateway-verify-self/1" and data["ok"] is False
    assert data["build"]["excluded"] == ["faker"]
    assert len(data["problems"]) == 7 and all(p["fix"] for p in data["problems"])
    assert selfcheck.refusal(report).startswith(
        "gateway: refusing to run: this binary is not as it was built: bundled file "
        "lockfiles/requirements.txt changed (sha256 ")
    assert "(and 3 more problem(s))" in selfcheck.refusal(report)


def _frozen(monkeypatch: pytest.MonkeyPatch, bundle: Path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(selfcheck, "_last", [])


def test_enforce_refuses_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    selfcheck.enforce(["gateway", "--version"])  # not frozen: nothing to check
    bundle = _bundle(tmp_path)
    _frozen(monkeypatch, bundle)
    selfcheck.enforce(["gateway", "--version"])  # clean apart from provenance warnings
    assert selfcheck.last_report() is not None
    (bundle / "sbom" / "gateway.cdx.json").write_text("{}")
    lines: list[str] = []
    with pytest.raises(SystemExit) as exit_:
        selfcheck.enforce(["gateway", "serve"], write=lines.append)
    assert exit_.value.code == 1
    assert len(lines) == 1 and lines[0].endswith("\n") and lines[0].count("\n") == 1
    assert "bundled file sbom/gateway.cdx.json changed" in lines[0]
    # `verify --self` reports instead of refusing with one line.
    selfcheck.enforce(["gateway", "verify", "--self", "--format", "json"], write=lines.append)
    assert len(lines) == 1


def test_serve_in_the_binary_applies_its_mode_to_the_self_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _frozen(monkeypatch, _bundle(tmp_path))
    startup_check.run("integrity")
    startup_check.run("warn")
    with pytest.raises(StartupError, match=r"^refusing to start: 3 supply-chain warning\(s\) "
                                           r"in strict mode \(provenance.unknown 3\)"):
        startup_check.run("strict")


def test_build_info_of_this_environment_agrees_with_provenance() -> None:
    # What pyinstaller.spec records for the build venv, computed here for the dev venv:
    # every runtime pin, with the RECORD digest `gateway verify` compares.
    info = build_manifest.make_build_info(ROOT / bundle_records.LOCK,
                                          excluded=["faker", "polyfactory"], commit="c0ffee",
                                          source_date_epoch=1, pyinstaller="x")
    names = {d.name for d in info.distributions}
    assert {"litestar", "granian", "msgspec", "sigstore"} <= names
    assert not names & {"faker", "polyfactory", "pytest", "setuptools", "pyinstaller"}
    digests = provenance_check.record_digests(
        provenance_check.load(ROOT / bundle_records.PROVENANCE))
    recorded = [d for d in info.distributions if (d.name, d.version) in digests]
    assert len(recorded) > 50
    assert all(d.record_sha256 in digests[(d.name, d.version)] for d in recorded)
    assert bundle_records.encode(info) == bundle_records.encode(msgspec.json.decode(
        bundle_records.encode(info), type=BuildInfo))


def test_verify_self_outside_the_binary_is_a_usage_error() -> None:
    done = run_gateway("verify", "--self")
    assert done.returncode == 2
    assert done.stderr == ("gateway: --self checks the release binary itself; this gateway "
                           "runs from a Python environment: use `gateway verify` (without "
                           "--self)\n")
    done = run_gateway("verify", "--self", "--dev")
    assert done.returncode == 2 and "takes no --python, --lock, --dev" in done.stderr
