"""Installed files against RECORD, and the RECORD digest, on real wheels from the lock.

Wheels are downloaded by hash from the lock (`pip download --require-hashes`)
and installed by pip into a throwaway venv, once per module; each test that
damages the environment works on its own copy of that venv.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from gateway_cli.supply import installed
from gateway_cli.supply.installed import FileProblem

ROOT = Path(__file__).resolve().parents[3]
RUNTIME_LOCK = ROOT / "lockfiles" / "requirements.txt"
PY = f"python{sys.version_info.major}.{sys.version_info.minor}"
# pure Python, compiled (msgspec, multidict, pyyaml, cffi, charset-normalizer), one with a
# console script
WHEELS = ("click", "msgspec", "idna", "multidict", "pyyaml", "cffi", "charset-normalizer")


# --- helpers, also used by tests/integration/test_verify_cli.py ------------------------------

def lock_lines(names: Iterable[str], lock: Path = RUNTIME_LOCK) -> str:
    """The requirement blocks (pin, marker, hashes) of `names`, copied from a lockfile."""
    wanted = {canonicalize_name(n) for n in names}
    picked = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        pin = re.match(r"([A-Za-z0-9._-]+)==", block)
        if pin and canonicalize_name(pin.group(1)) in wanted:
            picked[canonicalize_name(pin.group(1))] = block.strip()
    assert set(picked) == wanted, f"not in {lock.name}: {wanted - set(picked)}"
    return "\n".join(picked[n] for n in sorted(picked)) + "\n"


def make_venv(path: Path) -> Path:
    """A venv without pip (fast); returns its interpreter."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   capture_output=True, timeout=60)
    return path / "bin" / "python"


def pip(*args: str) -> None:
    """Run the dev venv's own (locked) pip; the target interpreter is chosen with --python."""
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q",
                           *args], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def pip_install(python: Path, *args: str) -> None:
    pip("--python", str(python), "install", "--no-deps", "--no-compile", *args)


def site_packages(venv: Path) -> Path:
    return venv / "lib" / PY / "site-packages"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path, name: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal, valid pure-Python wheel with a correct RECORD."""
    info = f"{name}-{version}.dist-info"
    members = {**files,
               f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                   .encode(),
               f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: gateway-tests\n"
                                b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{p},sha256={b64(d)},{len(d)}\n" for p, d in members.items())
    record += f"{info}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in members.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{info}/RECORD", record)
    return path


# --- fixtures --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wheels")
    req = folder / "req.txt"
    req.write_text(lock_lines(WHEELS))
    pip("download", "--no-deps", "--require-hashes", "-r", str(req), "-d", str(folder / "w"))
    found = {}
    for wheel in (folder / "w").glob("*.whl"):
        found[str(canonicalize_name(wheel.name.split("-")[0]))] = wheel
    assert set(found) == set(WHEELS)
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheels: dict[str, Path]) -> Path:
    """A venv with the wheels installed by pip (byte-code compiled, as pip does by default)."""
    path = tmp_path_factory.mktemp("venv") / "env"
    python = make_venv(path)
    pip("--python", str(python), "install", "--no-deps", *(str(w) for w in wheels.values()))
    return path


@pytest.fixture
def env(venv: Path, tmp_path: Path) -> Path:
    """A private copy of the module's venv, free to damage."""
    copy = tmp_path / "env"
    shutil.copytree(venv, copy, symlinks=True)
    return copy


def _dists(env: Path) -> dict[str, installed.Distribution]:
    dists, problems = installed.find_distributions([site_packages(env)])
    assert problems == []
    return {d.name: d for d in dists}


def _check(env: Path) -> list[FileProblem]:
    dists, problems = installed.find_distributions([site_packages(env)])
    found, _ = installed.check_files(dists, env)
    return problems + found


# --- RECORD digest: wheel == installed --------------------------------------------------------

@pytest.mark.parametrize("name", WHEELS)
def test_record_digest_of_wheel_equals_installed(name: str, wheels: dict[str, Path],
                                                 venv: Path) -> None:
    dist = _dists(venv)[name]
    from_wheel = installed.record_digest_from_wheel(wheels[name])
    assert installed.record_digest_installed(dist.dist_info) == from_wheel
    assert installed.installed_record_digest(dist) == from_wheel
    assert re.fullmatch(r"[0-9a-f]{64}", from_wheel)


def test_pip_adds_what_the_canonical_form_drops(venv: Path) -> None:
    """The installer's additions really are there, so the equality above means something."""
    idna = _dists(venv)["idna"]
    paths = {e.path for e in idna.entries}
    assert f"{idna.dist_info.name}/INSTALLER" in paths
    assert f"{idna.dist_info.name}/direct_url.json" in paths  # installed from a file
    assert "../../../bin/idna" in paths  # console-script launcher
    assert any(e.path.endswith(".pyc") and not e.digest for e in idna.entries)


def test_record_digest_differs_when_a_covered_up_file_changes(env: Path,
                                                              wheels: dict[str, Path]) -> None:
    """An attacker who edits a file and fixes its RECORD row passes the file check,
    but no longer has the RECORD of the wheel that was attested."""
    dist = _dists(env)["click"]
    target = dist.site / "click" / "core.py"
    data = target.read_bytes() + b"\n# injected\n"
    target.write_bytes(data)
    record = dist.dist_info / "RECORD"
    rows = record.read_text().splitlines()
    fixed = [f"click/core.py,sha256={b64(data)},{len(data)}" if r.startswith("click/core.py,")
             else r for r in rows]
    record.write_text("\n".join(fixed) + "\n")
    assert [p for p in _check(env) if p.distribution == "click"] == []
    assert installed.record_digest_installed(dist.dist_info) != \
        installed.record_digest_from_wheel(wheels["click"])


def test_record_digest_differs_for_a_wheel_with_one_file_changed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = build_wheel(tmp_path / "a", "demo", "1.0", {"demo/__init__.py": b"x = 1\n"})
    b = build_wheel(tmp_path / "b", "demo", "1.0", {"demo/__init__.py": b"x = 2\n"})
    assert installed.record_digest_from_wheel(a) != installed.record_digest_from_wheel(b)


def test_canonical_record_moves_purelib_and_drops_scripts_and_installer_files() -> None:
    entries = [installed.RecordEntry(p, "sha256", "AAAA", 1) for p in (
        "demo-1.0.data/purelib/demo/x.py", "demo-1.0.data/scripts/tool",
        "demo-1.0.data/data/share/x", "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/INSTALLER")]
    entries.append(installed.RecordEntry("demo-1.0.dist-info/RECORD", "", "", None))
    rows = installed.canonical_record(entries, "demo-1.0.dist-info", from_wheel=True)
    assert rows == [("demo/x.py", "sha256=AAAA"), ("{dist-info}/METADATA", "sha256=AAAA")]
    installed_rows = [installed.RecordEntry(p, "SHA256", "AAAA==", 1) for p in (
        "demo/x.py", "../../../bin/tool", "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/REQUESTED", "demo-1.0.dist-info/direct_url.json")]
    assert installed.canonical_record(installed_rows, "demo-1.0.dist-info",
                                      from_wheel=False) == rows


def test_canonical_record_moves_a_top_level_module_out_of_purelib() -> None:
    entries = [installed.RecordEntry(p, "sha256", "AAAA", 1) for p in (
        "demo-1.0.data/purelib/top.py", "demo-1.0.data/platlib/_ext.so", "demo-1.0.data/purelib",
        "demo-1.0.data/purelib/")]
    assert installed.canonical_record(entries, "demo-1.0.dist-info", from_wheel=True) == [
        ("_ext.so", "sha256=AAAA"), ("top.py", "sha256=AAAA")]


def test_record_digest_installed_refuses_a_malformed_record(venv: Path, tmp_path: Path) -> None:
    info = tmp_path / _dists(venv)["idna"].dist_info.name
    shutil.copytree(_dists(venv)["idna"].dist_info, info)
    (info / "RECORD").write_text((info / "RECORD").read_text() + "idna/x.py,sha256=abc,big\n")
    with pytest.raises(ValueError, match=r"malformed RECORD: row \d+ \(idna/x.py\): size 'big'"):
        installed.record_digest_installed(info)


def test_record_digest_from_wheel_refuses_what_is_not_a_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "x.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a wheel"):
        installed.record_digest_from_wheel(bad)
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("demo/__init__.py", "")
    with pytest.raises(ValueError, match=r"expected one top-level \*.dist-info/RECORD"):
        installed.record_digest_from_wheel(empty)


# --- RECORD parsing -----------------------------------------------------------------------------

def test_parse_record_reads_quoted_paths_and_reports_malformed_rows() -> None:
    text = ('pkg/a.py,sha256=abc,12\n"pkg/with,comma.py",sha256=def,3\npkg/__pycache__/a.pyc,,\n'
            'pkg/bad.py,sha256,1\npkg/size.py,sha256=x,big\na,b,c,d\n,sha256=x,1\n\n')
    entries, problems = installed.parse_record(text)
    assert [e.path for e in entries] == ["pkg/a.py", "pkg/with,comma.py", "pkg/__pycache__/a.pyc"]
    assert entries[0] == installed.RecordEntry("pkg/a.py", "sha256", "abc", 12)
    assert entries[2].digest == "" and entries[2].size is None
    assert len(problems) == 4
    assert "row 4 (pkg/bad.py): hash 'sha256' is not ALGORITHM=DIGEST" in problems
    assert "row 5 (pkg/size.py): size 'big' is not a number" in problems
    assert "row 6 has 4 fields, expected 3" in problems


def test_parse_record_reads_a_row_without_a_size() -> None:
    entries, problems = installed.parse_record("pkg/two.py,sha256=abc\npkg/one.py\n")
    assert problems == []
    assert entries == [installed.RecordEntry("pkg/two.py", "sha256", "abc", None),
                       installed.RecordEntry("pkg/one.py", "", "", None)]


def test_parse_record_normalises_padding_and_case() -> None:
    entries, problems = installed.parse_record("a.py,SHA256=abc=,1\n")
    assert problems == [] and entries == [installed.RecordEntry("a.py", "sha256", "abc", 1)]


# --- files against RECORD ---------------------------------------------------------------------

def test_clean_install_has_no_problem(env: Path) -> None:
    dists, problems = installed.find_distributions([site_packages(env)])
    assert problems == []
    assert {d.name for d in dists} == set(WHEELS)
    found, count = installed.check_files(dists, env)
    assert found == []
    assert count > 100
    listed = installed.listed_paths(dists)
    assert installed.unlisted_files([site_packages(env)], dists, listed)[0] == []


def _only(problems: list[FileProblem]) -> FileProblem:
    assert len(problems) == 1, problems
    return problems[0]


def test_changed_file_is_modified(env: Path) -> None:
    target = site_packages(env) / "click" / "core.py"
    data = bytearray(target.read_bytes())
    data[100] ^= 1  # same size: only the hash can tell
    target.write_bytes(bytes(data))
    problem = _only(_check(env))
    assert (problem.kind, problem.distribution, problem.path) == ("modified", "click", target)
    assert "content differs from RECORD" in problem.detail


def test_grown_file_is_a_size_mismatch(env: Path) -> None:
    target = site_packages(env) / "idna" / "core.py"
    with target.open("ab") as handle:
        handle.write(b"\nimport os\n")
    problem = _only(_check(env))
    assert problem.kind == "size" and "RECORD says" in problem.detail


def test_deleted_file_is_missing(env: Path) -> None:
    target = next((site_packages(env) / "msgspec").glob("_core*.so"))
    target.unlink()
    problem = _only(_check(env))
    assert (problem.kind, problem.distribution, problem.path) == ("missing", "msgspec", target)
    assert "does not exist" in problem.detail


def test_deleted_console_script_is_missing(env: Path) -> None:
    (env / "bin" / "idna").unlink()
    problem = _only(_check(env))
    assert problem.kind == "missing" and problem.path == env / "bin" / "idna"


def test_file_replaced_by_symlink_or_fifo_is_not_regular_and_never_read(env: Path) -> None:
    sp = site_packages(env)
    link = sp / "click" / "types.py"
    link.unlink()
    link.symlink_to(sp / "click" / "core.py")
    fifo = sp / "click" / "utils.py"
    fifo.unlink()
    os.mkfifo(fifo)  # opening this for reading would block forever
    problems = sorted(_check(env), key=lambda p: p.path)
    assert [(p.kind, p.path.name) for p in problems] == [
        ("not-regular", "types.py"), ("not-regular", "utils.py")]
    assert "symbolic link" in problems[0].detail and "FIFO" in problems[1].detail


def _add_rows(dist: installed.Distribution, *rows: str) -> None:
    record = dist.dist_info / "RECORD"
    record.write_text(record.read_text() + "".join(r + "\n" for r in rows))


def test_record_pointing_outside_the_environment_is_refused_unread(env: Path) -> None:
    _add_rows(_dists(env)["click"], "../../../../../../../../etc/passwd,sha256=abc,1",
              "/dev/zero,sha256=abc,1")
    problems = _check(env)
    assert [p.kind for p in problems] == ["outside", "outside"]
    assert problems[0].path == Path("/etc/passwd")
    assert "points outside the environment" in problems[0].detail


def test_unhashed_and_weakly_hashed_entries_cannot_be_verified(env: Path) -> None:
    _add_rows(_dists(env)["click"], "click/core.py,,", "click/types.py,md5=abc,1",
              "click/__pycache__/x.cpython-311.pyc,,")
    problems = _check(env)
    assert [p.kind for p in problems] == ["unhashed", "unhashed"]
    assert "without a hash" in problems[0].detail
    assert "'md5', which is not accepted" in problems[1].detail


def test_a_package_directory_replaced_by_a_symlink_is_unlisted_and_not_followed(
        env: Path, tmp_path: Path) -> None:
    sp = site_packages(env)
    elsewhere = tmp_path / "elsewhere" / "click"
    shutil.move(sp / "click", elsewhere)
    (elsewhere / "evil.py").write_text("print('hi')\n")
    (sp / "click").symlink_to(elsewhere, target_is_directory=True)
    dists = list(_dists(env).values())
    problems, folders = installed.unlisted_files([sp], dists, installed.listed_paths(dists))
    assert [(p.kind, p.path, p.distribution) for p in problems] == [
        ("unlisted", sp / "click", "click")]
    assert not any(f.startswith(str(elsewhere)) for f in folders)


def test_a_record_larger_than_the_limit_is_refused_unparsed(env: Path) -> None:
    """RECORD may be up to _MAX_TEXT bytes; one byte more and it is refused, not cut short."""
    limit = installed._MAX_TEXT
    assert limit == 32 * 1024 * 1024
    record = _dists(env)["click"].dist_info / "RECORD"
    text = record.read_bytes()
    record.write_bytes(text + b"x" * (limit - len(text)))  # a last row: a path, no hash
    assert record.stat().st_size == limit
    assert installed.find_distributions([site_packages(env)])[1] == []
    with record.open("ab") as handle:
        handle.write(b"x")
    problem = _only(installed.find_distributions([site_packages(env)])[1])
    assert (problem.kind, problem.path) == ("metadata", record)
    assert problem.detail == "cannot read RECORD: it is larger than 32 MiB"


def test_unlisted_and_unowned_files_are_found(env: Path) -> None:
    sp = site_packages(env)
    (sp / "click" / "evil.py").write_text("print('hi')\n")
    (sp / "multidict" / "sub").mkdir()
    (sp / "multidict" / "sub" / "x.py").write_text("")
    (sp / "stray.py").write_text("")
    (sp / "click" / "__pycache__" / "evil.cpython-311.pyc").write_bytes(b"")
    # Python's own cache of a listed module is not a finding
    (sp / "idna" / "__pycache__" / "core.cpython-311.opt-2.pyc").write_bytes(b"")
    dists = list(_dists(env).values())
    problems, folders = installed.unlisted_files([sp], dists, installed.listed_paths(dists))
    found = sorted((p.kind, str(p.path.relative_to(sp)), p.distribution) for p in problems)
    assert found == [
        ("unlisted", "click/__pycache__/evil.cpython-311.pyc", "click"),
        ("unlisted", "click/evil.py", "click"),
        ("unlisted", "multidict/sub/x.py", "multidict"),
        ("unowned", "stray.py", None),
    ]
    assert str(sp) in folders and str(sp / "multidict" / "sub") in folders


# --- reading .dist-info ------------------------------------------------------------------------

def test_unreadable_or_inconsistent_metadata_is_reported(env: Path) -> None:
    sp = site_packages(env)
    dists = _dists(env)
    (dists["click"].dist_info / "RECORD").unlink()
    (dists["idna"].dist_info / "METADATA").write_text("Metadata-Version: 2.1\n\nbody\n")
    renamed = sp / "msgspec-9.9.dist-info"
    dists["msgspec"].dist_info.rename(renamed)
    (sp / "legacy-1.0.egg-info").mkdir()
    found, problems = installed.find_distributions([sp])
    assert {d.name for d in found} == set(WHEELS) - {"click", "idna"}
    details = sorted((p.kind, p.path.name, p.detail) for p in problems)
    assert details == sorted([
        ("metadata", "RECORD", "cannot read RECORD: No such file or directory"),
        ("metadata", "METADATA", "METADATA has no Name or Version header"),
        ("metadata", "msgspec-9.9.dist-info",
         "directory name says msgspec 9.9 but METADATA says msgspec "
         f"{dists['msgspec'].version}"),
        ("metadata", "legacy-1.0.egg-info",
         "a legacy egg install has no RECORD, so its files cannot be verified"),
    ])


def test_a_distribution_installed_twice_is_reported(env: Path, tmp_path: Path) -> None:
    sp = site_packages(env)
    click = _dists(env)["click"]
    shutil.copytree(click.dist_info, sp / "click-8.0.0.dist-info")
    text = (sp / "click-8.0.0.dist-info" / "METADATA").read_text()
    (sp / "click-8.0.0.dist-info" / "METADATA").write_text(
        text.replace(f"Version: {click.version}", "Version: 8.0.0"))
    _, problems = installed.find_distributions([sp])
    problem = _only(problems)
    assert problem.kind == "duplicate" and "click is installed twice" in problem.detail


def test_a_fifo_planted_as_metadata_is_refused_without_hanging(env: Path) -> None:
    metadata = _dists(env)["click"].dist_info / "METADATA"
    metadata.unlink()
    os.mkfifo(metadata)
    _, problems = installed.find_distributions([site_packages(env)])
    problem = _only(problems)
    assert (problem.kind, problem.path) == ("metadata", metadata)
    assert problem.detail == "cannot read METADATA: it is not a regular file"


# --- large files: hashed in worker threads ----------------------------------------------------

def _flip_keeping_size_and_mtime(target: Path, offset: int) -> None:
    """Change one byte in place: same inode, same size, the mtime set back to the old one."""
    before = target.stat()
    with target.open("r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x01]))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == \
        (before.st_size, before.st_mtime_ns, before.st_ino)


@pytest.fixture(scope="module")
def native_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with a wheel whose native libraries are large enough for the threaded path:
    one exactly at the threshold, one well above it, next to a small module."""
    folder = tmp_path_factory.mktemp("native")
    threshold = installed._THREADED_SIZE
    assert threshold == 256 * 1024
    files = {"demo/__init__.py": b"from demo import _native\n",
             "demo/_native.cpython-311-x86_64-linux-gnu.so": os.urandom(threshold),
             "demo/libs/libbig.so.1": os.urandom(4 * threshold + 17)}
    wheel = build_wheel(folder, "demo", "1.0", files)
    path = folder / "env"
    pip_install(make_venv(path), str(wheel))
    return path


@pytest.fixture
def native_copy(native_env: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "env"
    shutil.copytree(native_env, copy, symlinks=True)
    return copy


@pytest.mark.parametrize("workers", [4, 1])
def test_large_native_libraries_are_verified(native_copy: Path, workers: int) -> None:
    dists, problems = installed.find_distributions([site_packages(native_copy)])
    assert problems == []
    found, count = installed.check_files(dists, native_copy, workers=workers)
    assert found == []
    big = [e for e in dists[0].entries if e.size is not None
           and e.size >= installed._THREADED_SIZE]
    assert len(big) == 2 and count == len([e for e in dists[0].entries if e.digest])


@pytest.mark.parametrize("name", ["_native.cpython-311-x86_64-linux-gnu.so", "libs/libbig.so.1"])
@pytest.mark.parametrize("workers", [4, 1])
def test_tampered_large_file_same_size_and_mtime_is_refused(native_copy: Path, name: str,
                                                            workers: int) -> None:
    target = site_packages(native_copy) / "demo" / name
    size = target.stat().st_size
    assert size >= installed._THREADED_SIZE
    _flip_keeping_size_and_mtime(target, size // 2)
    dists, problems = installed.find_distributions([site_packages(native_copy)])
    assert problems == []
    found, _ = installed.check_files(dists, native_copy, workers=workers)
    problem = _only(found)
    assert (problem.kind, problem.distribution, problem.path) == ("modified", "demo", target)
    assert "content differs from RECORD" in problem.detail


def test_tampered_large_and_small_files_are_all_reported_in_path_order(
        native_copy: Path) -> None:
    demo = site_packages(native_copy) / "demo"
    targets = [demo / "__init__.py", demo / "_native.cpython-311-x86_64-linux-gnu.so",
               demo / "libs" / "libbig.so.1"]
    for target in targets:
        _flip_keeping_size_and_mtime(target, 3)
    dists, _ = installed.find_distributions([site_packages(native_copy)])
    found, _ = installed.check_files(dists, native_copy, workers=2)
    assert [(p.kind, p.path) for p in found] == [("modified", t) for t in sorted(targets)]


def _hashing_threads(env: Path, workers: int) -> dict[str, bool]:
    """Which files `check_files` hashed, each mapped to whether a worker thread hashed it.

    Observed with a profile hook on the real `hash_file`: the calling thread
    through sys.setprofile, the pool's threads through threading.setprofile.
    """
    caller = threading.get_ident()
    seen: dict[str, bool] = {}
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is installed.hash_file.__code__:
            with lock:
                seen[Path(frame.f_locals["path"]).name] = threading.get_ident() != caller

    dists, problems = installed.find_distributions([site_packages(env)])
    assert problems == []
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        found, _ = installed.check_files(dists, env, workers=workers)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert found == []
    return {name: threaded for name, threaded in seen.items()
            if name in ("__init__.py", "_native.cpython-311-x86_64-linux-gnu.so", "libbig.so.1")}


def test_large_files_are_hashed_in_worker_threads_and_small_ones_by_the_caller(
        native_env: Path) -> None:
    assert _hashing_threads(native_env, workers=2) == {
        "__init__.py": False, "_native.cpython-311-x86_64-linux-gnu.so": True,
        "libbig.so.1": True}
    # one worker: no pool, every file in the calling thread
    assert _hashing_threads(native_env, workers=1) == {
        "__init__.py": False, "_native.cpython-311-x86_64-linux-gnu.so": False,
        "libbig.so.1": False}
