"""`gateway verify` on real throwaway venvs installed by pip from the lock.

Each damaging test works on its own copy of one venv built per module; the
CLI runs as users run it, in a separate process, pointed at the venv with
`--python` (which asks that interpreter for its paths with -I -S only).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway_cli.supply import installed
from gateway_cli.supply import verify as checks
from gateway_cli.supply.environment import probe_environment
from gateway_cli.supply.verify import ProvenanceOutcome
from tests.unit.supply.test_installed import (
    build_wheel,
    lock_lines,
    make_venv,
    pip_install,
    site_packages,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("click", "idna", "msgspec")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A venv with click, idna (console script) and msgspec (compiled), and their lock."""
    folder = tmp_path_factory.mktemp("verify")
    lock = folder / "requirements.txt"
    lock.write_text(lock_lines(PACKAGES))
    python = make_venv(folder / "env")
    pip_install(python, "--require-hashes", "-r", str(lock))
    return folder / "env", lock


@pytest.fixture
def env(base: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "env"
    shutil.copytree(base[0], copy, symlinks=True)
    return copy


@pytest.fixture
def lock(base: tuple[Path, Path]) -> Path:
    return base[1]


def run(*args: str, cache: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = {"XDG_CACHE_HOME": str(cache)} if cache else {}
    return subprocess.run([sys.executable, "-m", "gateway_cli", "verify", *args],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **extra})


def verify_json(venv: Path, lock: Path, *extra: str,
                cache: Path | None = None) -> tuple[int, dict[str, Any]]:
    args = ["--python", str(venv / "bin" / "python"), "--lock", str(lock), "--format", "json"]
    done = run(*args, *extra, *([] if cache else ["--no-cache"]), cache=cache)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def checks_of(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return sorted((v["check"], v["distribution"]) for v in report["violations"])


def one_clear_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and lines[0].startswith("gateway: ")
    return lines[0]


# --- clean, then each kind of damage -------------------------------------------------------

def test_clean_venv_verifies(env: Path, lock: Path) -> None:
    code, report = verify_json(env, lock)
    assert code == 0, report["violations"]
    assert report["ok"] is True and report["violations"] == []
    assert report["summary"]["distributions"] == 3
    assert report["summary"]["files_checked"] > 40
    assert report["environment"]["prefix"] == str(env) and report["environment"]["venv"]
    text = run("--python", str(env / "bin" / "python"), "--lock", str(lock), "--no-cache")
    assert text.returncode == 0
    assert text.stdout.startswith("gateway verify: OK: 0 error(s), 0 warning(s)\n")


def test_changed_file_fails(env: Path, lock: Path) -> None:
    target = site_packages(env) / "click" / "core.py"
    data = bytearray(target.read_bytes())
    data[10] ^= 1
    target.write_bytes(bytes(data))
    code, report = verify_json(env, lock)
    assert code == 1
    assert checks_of(report) == [("files.modified", "click")]
    [violation] = report["violations"]
    assert violation["path"] == str(target)
    assert "content differs from RECORD" in violation["message"]
    assert "recreate the environment from the lock" in violation["fix"]


def test_deleted_file_fails(env: Path, lock: Path) -> None:
    target = site_packages(env) / "idna" / "idnadata.py"
    target.unlink()
    code, report = verify_json(env, lock)
    assert code == 1 and checks_of(report) == [("files.missing", "idna")]
    assert report["violations"][0]["message"] == "listed in RECORD but it does not exist"


def test_added_pth_with_import_fails(env: Path, lock: Path, tmp_path: Path) -> None:
    pth = site_packages(env) / "zz_init.pth"
    pth.write_text(f"import os; open({str(tmp_path / 'ran')!r}, 'w')\n")
    code, report = verify_json(env, lock)
    assert code == 1 and checks_of(report) == [("hooks.pth-import", None)]
    [violation] = report["violations"]
    assert violation["path"] == str(pth)
    assert violation["message"].startswith("executes: import os; open(")
    assert "not on the start-up hook allow-list" in violation["message"]
    assert not (tmp_path / "ran").exists()


def test_added_sitecustomize_fails(env: Path, lock: Path) -> None:
    (site_packages(env) / "sitecustomize.py").write_text("print('hello')\n")
    code, report = verify_json(env, lock)
    assert code == 1 and checks_of(report) == [("hooks.customize", None)]
    assert "imported by site.py at every start" in report["violations"][0]["message"]


def test_extra_distribution_fails(env: Path, lock: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.txt"
    extra.write_text(lock_lines(["sniffio"]))
    pip_install(env / "bin" / "python", "--require-hashes", "-r", str(extra))
    code, report = verify_json(env, lock)
    assert code == 1 and checks_of(report) == [("lock.extra", "sniffio")]
    assert "no lockfile in use pins it" in report["violations"][0]["message"]


def test_version_not_in_lock_fails(env: Path, lock: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    text = lock.read_text()
    installed_click = next(line for line in text.splitlines() if line.startswith("click=="))
    version = installed_click.split("==")[1].split()[0]
    other.write_text(text.replace(f"click=={version}", "click==8.1.0"))
    code, report = verify_json(env, other)
    assert code == 1 and checks_of(report) == [("lock.version", "click")]
    assert report["violations"][0]["message"] == (
        f"click {version} is installed, but other.txt pins 8.1.0")


def test_missing_distribution_fails(env: Path, lock: Path, tmp_path: Path) -> None:
    more = tmp_path / "more.txt"
    more.write_text(lock.read_text() + lock_lines(["typing-extensions"]))
    code, report = verify_json(env, more)
    assert code == 1 and checks_of(report) == [("lock.missing", "typing-extensions")]
    [violation] = report["violations"]
    assert violation["path"] == str(more)
    assert "pip install --require-hashes --no-deps -r" in violation["fix"]


def test_pins_for_other_platforms_are_not_expected(env: Path, lock: Path,
                                                   tmp_path: Path) -> None:
    more = tmp_path / "more.txt"
    more.write_text(lock.read_text() + lock_lines(["colorama"]))  # sys_platform == 'win32'
    code, report = verify_json(env, more)
    assert code == 0, report["violations"]


# --- report formats ------------------------------------------------------------------------

def _damage(env: Path) -> None:
    (site_packages(env) / "click" / "types.py").write_text("changed\n")
    (site_packages(env) / "evil.pth").write_text("import os\n")


def test_json_carries_a_stable_schema(env: Path, lock: Path) -> None:
    _damage(env)
    code, report = verify_json(env, lock)
    assert code == 1
    assert report["schema"] == "gateway-verify/1"
    assert set(report) >= {"ok", "strict", "summary", "environment", "locks", "provenance",
                           "allowed", "violations", "cache", "seconds"}
    assert report["summary"]["errors"] == 2 and report["summary"]["warnings"] == 0
    assert report["summary"]["by_check"] == {"files.size": 1, "hooks.pth-import": 1}
    assert report["provenance"]["checked"] is False
    for violation in report["violations"]:
        assert set(violation) == {"check", "severity", "distribution", "path", "message", "fix"}
        assert violation["severity"] == "error"


def test_sarif_has_rules_and_located_results(env: Path, lock: Path) -> None:
    _damage(env)
    done = run("--python", str(env / "bin" / "python"), "--lock", str(lock), "--no-cache",
               "--format", "sarif")
    assert done.returncode == 1
    sarif = json.loads(done.stdout)
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    [run_] = sarif["runs"]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(checks.CHECKS)
    results = sorted(run_["results"], key=lambda r: r["ruleId"])
    assert [(r["ruleId"], r["level"]) for r in results] == [("files.size", "error"),
                                                          ("hooks.pth-import", "error")]
    for result in results:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert "What to do:" in result["message"]["text"]
    uri = results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (site_packages(env) / "evil.pth").as_uri()


def test_text_puts_counts_first_then_what_to_do(env: Path, lock: Path) -> None:
    _damage(env)
    done = run("--python", str(env / "bin" / "python"), "--lock", str(lock), "--no-cache")
    assert done.returncode == 1 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == "gateway verify: FAILED: 2 error(s), 0 warning(s)"
    assert any(line.startswith("  by check:      files.size 1, hooks.pth-import 1")
               for line in lines[:8])
    assert sum(line.startswith("    what to do: ") for line in lines) == 2


# --- the LiteLLM 1.82.8 attack, simulated ----------------------------------------------------

def test_poisoned_release_with_pth_payload_is_refused_without_running_it(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    good = build_wheel(wheels, "litellm", "1.82.7", {"litellm/__init__.py": b"x = 1\n"})
    lock = tmp_path / "requirements.txt"
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    lock.write_text(f"litellm==1.82.7 \\\n    --hash=sha256:{digest}\n")
    python = make_venv(tmp_path / "env")
    pip_install(python, "--require-hashes", "--no-index", "--find-links", str(wheels),
                "-r", str(lock))
    code, report = verify_json(tmp_path / "env", lock)
    assert code == 0, report["violations"]

    marker = tmp_path / "stolen-credentials"
    payload = f"import os; open({str(marker)!r}, 'w').write(repr(dict(os.environ)))\n"
    build_wheel(wheels, "litellm", "1.82.8", {"litellm/__init__.py": b"x = 1\n",
                                              "litellm_init.pth": payload.encode()})
    pip_install(python, "--no-index", "--find-links", str(wheels), "litellm==1.82.8")
    assert not marker.exists(), "installing must not have started Python in the env"

    code, report = verify_json(tmp_path / "env", lock)
    assert code == 1
    assert checks_of(report) == [("hooks.pth-import", None), ("lock.version", "litellm")]
    hook = next(v for v in report["violations"] if v["check"] == "hooks.pth-import")
    assert hook["path"].endswith("/site-packages/litellm_init.pth")
    assert "the allow-list expects" not in hook["message"]
    assert not marker.exists(), "verify ran Python with site enabled in the verified env"

    # the payload is live: any ordinary start of that interpreter runs it
    subprocess.run([str(python), "-c", "pass"], check=True, timeout=60)
    assert marker.exists()


# --- usage errors: exit 2, one line, no traceback ------------------------------------------

def _bad_args(tmp_path: Path, lock: Path) -> dict[str, tuple[list[str], str]]:
    unpinned = tmp_path / "unpinned.txt"
    unpinned.write_text("click>=8\n")
    conflicting = tmp_path / "conflicting.txt"
    conflicting.write_text(re.sub(r"^click==\S+", "click==0.0.1", lock.read_text(), flags=re.M))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    provenance = tmp_path / "provenance.json"
    provenance.write_text("{not json")
    wrong_shape = tmp_path / "wrong.json"
    wrong_shape.write_text('{"artifacts": [{"name": "click", "version": "1", '
                           '"record_sha256": "xyz"}]}')
    return {
        "python missing": (["--python", str(tmp_path / "nope")], "--python"),
        "python not an interpreter": (["--python", "/bin/false"], "not a Python interpreter"),
        "lock missing": (["--lock", str(tmp_path / "nope.txt")], "cannot read it"),
        "lock unpinned": (["--lock", str(unpinned)], "is not pinned with =="),
        "lock empty": (["--lock", str(empty)], "no pinned requirement"),
        "locks conflict": (["--lock", str(lock), "--lock", str(conflicting)],
                           "cannot be combined"),
        "dev and lock": (["--dev", "--lock", str(lock)], "use --dev or --lock, not both"),
        "provenance not json": (["--lock", str(lock), "--provenance", str(provenance)],
                                "is not a valid provenance record: JSON is malformed"),
        "provenance bad digest": (["--lock", str(lock), "--provenance", str(wrong_shape)],
                                  "matching regex '^[0-9a-f]{64}$' - at "
                                  "`$.artifacts[0].record_sha256`"),
        "bad format": (["--format", "xml"], "'xml' is not one of"),
    }


@pytest.mark.parametrize("case", ["python missing", "python not an interpreter", "lock missing",
                                  "lock unpinned", "lock empty", "locks conflict",
                                  "dev and lock", "provenance not json",
                                  "provenance bad digest", "bad format"])
def test_usage_errors_exit_2_with_one_line(case: str, tmp_path: Path, lock: Path) -> None:
    args, expected = _bad_args(tmp_path, lock)[case]
    done = run(*args, "--no-cache")
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in one_clear_line(done.stderr)
    assert done.stdout == ""


# --- provenance: RECORD digests and the checker slot --------------------------------------------

def test_record_digest_from_provenance_is_compared(env: Path, lock: Path,
                                                   tmp_path: Path) -> None:
    dists, _ = installed.find_distributions([site_packages(env)])
    click = next(d for d in dists if d.name == "click")
    good = installed.record_digest_installed(click.dist_info)
    document = tmp_path / "provenance.json"
    entry = {"name": "Click", "version": click.version,
             "filename": f"click-{click.version}-py3-none-any.whl",
             "sha256": "0" * 64, "status": "unknown", "record_sha256": good}
    document.write_text(json.dumps({"version": 1, "publishers": {}, "artifacts": [entry]}))
    code, report = verify_json(env, lock, "--provenance", str(document))
    assert code == 0 and report["provenance"]["records_checked"] == 1
    entry["record_sha256"] = "f" * 64
    document.write_text(json.dumps({"version": 1, "publishers": {}, "artifacts": [entry]}))
    code, report = verify_json(env, lock, "--provenance", str(document))
    errors = [c for c in checks_of(report) if c[0] != "provenance.unknown"]
    assert code == 1 and errors == [("provenance.record", "click")]
    assert "not those of the attested wheel" in report["violations"][0]["message"]


def test_provenance_checker_unknown_warns_and_fails_only_when_strict(env: Path,
                                                                     lock: Path) -> None:
    seen: list[str] = []

    def checker(dists: Any) -> list[ProvenanceOutcome]:
        seen.extend(d.name for d in dists)
        assert all(len(d.record_sha256) == 64 for d in dists)
        return [ProvenanceOutcome(d.name, d.version, "unknown" if d.name == "idna"
                                  else "verified", "no attestation fetched") for d in dists]

    environment = probe_environment(env / "bin" / "python")
    locked = checks.load_lock([lock])
    report = checks.verify(environment, locked, provenance=checker)
    assert sorted(seen) == sorted(PACKAGES)
    assert report.ok and report.warnings == 1 and report.provenance.checked
    assert (report.provenance.verified, report.provenance.unknown) == (2, 1)
    strict = checks.verify(environment, locked, provenance=checker, strict=True)
    assert not strict.ok
    assert [v.check for v in strict.problems] == ["provenance.unknown"]


# --- the cache ---------------------------------------------------------------------------------

def test_warm_check_uses_the_cache_and_still_notices_a_change(env: Path, lock: Path,
                                                              tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    code, cold = verify_json(env, lock, cache=cache)
    assert code == 0 and cold["cache"]["hits"] == 0 and cold["summary"]["files_checked"] > 0
    code, warm = verify_json(env, lock, cache=cache)
    # one entry per distribution (3), one for the unlisted-files walk, one per distribution
    # for its cached bytecode (3)
    assert code == 0 and warm["cache"]["hits"] == 7 and warm["summary"]["files_checked"] == 0
    folder = cache / "gateway"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "verify-cache").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "verify-cache.key").stat().st_mode) == 0o600

    # same size, mtime put back: only ctime (and the hash) can tell
    target = site_packages(env) / "msgspec" / "__init__.py"
    before = target.stat()
    data = bytearray(target.read_bytes())
    data[0] ^= 1
    target.write_bytes(bytes(data))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    code, report = verify_json(env, lock, cache=cache)
    assert code == 1 and checks_of(report) == [("files.modified", "msgspec")]
    assert report["cache"]["hits"] == 4  # click and idna (files, bytecode); not msgspec


def test_tampered_cache_is_ignored(env: Path, lock: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert verify_json(env, lock, cache=cache)[0] == 0
    store = cache / "gateway" / "verify-cache"
    mac, _, payload = store.read_bytes().partition(b"\n")
    store.write_bytes(mac + b"\n" + payload.replace(b'"clean":["', b'"clean":["0', 1))
    (site_packages(env) / "click" / "core.py").write_text("tampered\n")
    code, report = verify_json(env, lock, cache=cache)
    assert code == 1 and ("files.size", "click") in checks_of(report)
    assert "failed its integrity check" in report["cache"]["note"]
    assert report["cache"]["hits"] == 0


def test_unsafe_cache_directory_is_not_used(env: Path, lock: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "gateway"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    code, report = verify_json(env, lock, cache=tmp_path / "cache")
    assert code == 0 and report["cache"]["used"] is False
    assert "only we can write" in report["cache"]["note"]


def test_cache_key_readable_by_others_is_not_used(env: Path, lock: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert verify_json(env, lock, cache=cache)[0] == 0
    (cache / "gateway" / "verify-cache.key").chmod(0o644)
    code, report = verify_json(env, lock, cache=cache)
    assert code == 0 and report["cache"]["used"] is False
    assert "verify-cache.key is readable by others; remove it" in report["cache"]["note"]


# --- the project's own dev venv -------------------------------------------------------------

@pytest.mark.skipif(not (ROOT / ".venv").is_dir() or Path(sys.prefix) != ROOT / ".venv",
                    reason="runs only inside the project's dev venv")
def test_dev_venv_verifies_against_all_three_locks() -> None:
    done = run("--dev", "--no-cache", "--format", "json")
    report = json.loads(done.stdout)
    assert done.returncode == 0, report["violations"]
    extras = [a["name"] for a in report["allowed"] if a["kind"] == "extra"]
    assert [e.split("==")[0] for e in extras] == ["gateway"]


def _rewrite_record(dist_info: Path, relative: str, data: bytes) -> None:
    """What an attacker does after editing a file: make RECORD agree with it."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = dist_info / "RECORD"
    lines = [f"{relative},sha256={digest},{len(data)}" if line.startswith(relative + ",")
             else line for line in record.read_text().splitlines()]
    record.write_text("\n".join(lines) + "\n")


def test_pip_is_vouched_for_by_the_interpreters_bundled_wheel_not_its_own_record(
        tmp_path: Path) -> None:
    folder = tmp_path / "with-pip"
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True,
                   capture_output=True, timeout=120)
    # Python 3.11's venv also brings setuptools; this lock does not pin it.
    subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y",
                    "setuptools"], check=True, capture_output=True, timeout=120)
    lock = tmp_path / "requirements.txt"
    lock.write_text(lock_lines(("idna",)))
    pip_install(folder / "bin" / "python", "--require-hashes", "-r", str(lock))
    code, report = verify_json(folder, lock)
    assert code == 0, report["violations"]
    [pip_allowed] = [a for a in report["allowed"] if a["name"].startswith("pip==")]
    assert "bundled pip wheel (ensurepip)" in pip_allowed["why"]

    site = site_packages(folder)
    [dist_info] = site.glob("pip-*.dist-info")
    target = site / "pip" / "__init__.py"
    data = target.read_bytes() + b"\nimport os  # payload\n"
    target.write_bytes(data)
    _rewrite_record(dist_info, "pip/__init__.py", data)
    code, report = verify_json(folder, lock)
    assert code == 1
    assert checks_of(report) == [("lock.extra", "pip")]
    assert "not the interpreter's bundled pip" in report["violations"][0]["message"]


def _forged_pyc(source: Path, payload: bytes, flags: int = 0) -> bytes:
    """Bytecode of `source` plus a payload, with a header that makes Python use it."""
    import importlib.util
    import marshal

    code = compile(source.read_bytes() + payload, str(source), "exec", dont_inherit=True)
    st = source.stat()
    if flags == 0:
        tail = (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little") + \
            (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    else:
        tail = importlib.util.source_hash(source.read_bytes())
    return importlib.util.MAGIC_NUMBER + flags.to_bytes(4, "little") + tail + \
        marshal.dumps(code)


@pytest.mark.parametrize("flags", [0, 0b01, 0b11])  # timestamp, unchecked hash, checked hash
def test_cached_bytecode_that_is_not_the_source_is_refused(env: Path, lock: Path,
                                                           flags: int) -> None:
    import importlib.util

    source = site_packages(env) / "idna" / "core.py"
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(_forged_pyc(source, b"\nimport os  # payload\n", flags))
    code, report = verify_json(env, lock)
    assert code == 1
    assert checks_of(report) == [("files.pyc", "idna")]
    violation = report["violations"][0]
    assert violation["path"] == str(pyc)
    assert "would run instead of core.py" in violation["message"]
    # The same file compiled honestly passes.
    pyc.write_bytes(_forged_pyc(source, b"", flags))
    code, report = verify_json(env, lock)
    assert code == 0, report["violations"]


def test_stale_bytecode_python_would_not_use_is_left_alone(env: Path, lock: Path) -> None:
    import importlib.util

    source = site_packages(env) / "idna" / "core.py"
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    forged = bytearray(_forged_pyc(source, b"\nimport os\n"))
    forged[8:12] = (0).to_bytes(4, "little")  # another mtime: Python recompiles instead
    pyc.write_bytes(bytes(forged))
    code, report = verify_json(env, lock)
    assert code == 0, report["violations"]


def test_a_bytecode_verdict_is_cached_and_a_changed_pyc_is_checked_again(
        env: Path, lock: Path, tmp_path: Path) -> None:
    import importlib.util

    cache = tmp_path / "cache"
    assert verify_json(env, lock, cache=cache)[0] == 0
    assert verify_json(env, lock, cache=cache)[0] == 0
    source = site_packages(env) / "idna" / "core.py"
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(_forged_pyc(source, b"\nimport os\n"))
    code, report = verify_json(env, lock, cache=cache)
    assert code == 1 and checks_of(report) == [("files.pyc", "idna")]


def test_a_pyc_rewritten_in_place_with_its_size_and_mtime_kept_is_checked_again(
        env: Path, lock: Path, tmp_path: Path) -> None:
    """The warm path stats every cached file: a same-size rewrite whose mtime is set back
    (its folder's mtime does not move) still changes its ctime, and is compared again."""
    import importlib.util

    cache = tmp_path / "cache"
    source = site_packages(env) / "idna" / "core.py"
    pyc = Path(importlib.util.cache_from_source(str(source)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(_forged_pyc(source, b""))  # what Python itself would write
    assert verify_json(env, lock, cache=cache)[0] == 0
    code, report = verify_json(env, lock, cache=cache)
    assert code == 0 and report["cache"]["misses"] == 0  # warm: nothing compiled again
    before, folder = pyc.stat(), pyc.parent.stat()
    data = pyc.read_bytes()
    assert b"Empty Label" in data
    with open(pyc, "r+b") as handle:  # in place: same inode, same size
        handle.write(data.replace(b"Empty Label", b"Empty Lab3l", 1))
    os.utime(pyc, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = pyc.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == \
        (before.st_ino, before.st_size, before.st_mtime_ns)
    assert pyc.parent.stat().st_mtime_ns == folder.st_mtime_ns
    code, report = verify_json(env, lock, cache=cache)
    assert code == 1 and checks_of(report) == [("files.pyc", "idna")]
