"""The release binary checks itself: at every start, and in `gateway verify --self`.

scripts/build-binary builds the binary (pyinstaller.spec) from a venv installed
only from lockfiles/ and checked with `gateway verify`. Next to the code the
spec embeds the lock, the provenance record, the SBOM, the trust root, a build
record and a manifest of every bundled file (`bundle_records.py` lists them;
`build_manifest.py` writes the last two at build time).

`check()` compares all of it, reading files only:
1. files: every file under the bundle directory against the manifest
   (missing, changed, unexpected), and the PYZ archive inside the executable;
2. the trust root against the sha256 pinned in `trust.py`;
3. provenance: each bundled distribution is judged by the same checker as
   `gateway verify` (`provenance_check.checker`), with the RECORD digest the
   build recorded; and each must be the version the embedded lock pins.

`enforce()` runs it before any command and refuses to run on an error. The
report is rendered by `report.py`, next to `gateway verify`'s.

What it proves: the manifest travels inside the binary, so it detects
corruption and partial tampering (a changed or added file, a truncated or
damaged download, an edited provenance record); whoever rewrites the whole
binary rewrites the manifest and this check with it. That the binary is the
one our release workflow built comes only from its Sigstore signature
(SECURITY.md, "Verifying a downloaded binary").
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway_cli.errors import GatewayError
from gateway_cli.supply.bundle_records import (
    BUILD_INFO,
    LOCK,
    MANIFEST,
    PROVENANCE,
    TRUST_ROOT,
    ArchiveDigest,
    BuildInfo,
    Manifest,
    load_build_info,
    load_manifest,
    sha256_file,
)
from gateway_cli.supply.model import (
    Check,
    Problem,
    Verdict,
    catalogue,
    outcome_severity,
    same_version,
    tally_provenance,
)
from gateway_cli.supply.provenance_types import (
    InstalledDistribution,
    ProvenanceSummary,
    VerifyUsageError,
)


class SelfCheckUsage(GatewayError):
    """`verify --self` outside the binary: nothing to check."""

    exit_code = 2


_REDOWNLOAD = ("do not run this copy: download the release again and verify its signature "
               "(SECURITY.md, 'Verifying a downloaded binary')")
CHECKS: dict[str, Check] = catalogue(
    Check("self.manifest", "The embedded manifest is missing or unreadable", _REDOWNLOAD),
    Check("self.stub", "The executable's loader code differs from the bootloader it was built "
          "from", _REDOWNLOAD),
    Check("self.appended", "Bytes were added after the end of the executable", _REDOWNLOAD),
    Check("self.build-info", "The embedded build record is missing or unreadable", _REDOWNLOAD),
    Check("self.missing", "A bundled file is missing", _REDOWNLOAD),
    Check("self.changed", "A bundled file differs from the manifest", _REDOWNLOAD),
    Check("self.unexpected", "A file in the bundle that the manifest does not list",
          _REDOWNLOAD),
    Check("self.code", "The code archive inside the executable differs from the manifest",
          _REDOWNLOAD),
    Check("self.trust-root", "The embedded Sigstore trust root is not the pinned one",
          _REDOWNLOAD),
    Check("self.provenance", "The embedded provenance record is unreadable", _REDOWNLOAD),
    Check("lock.version", "A bundled distribution is not the version the embedded lock pins",
          _REDOWNLOAD),
    Check("provenance.record", "A bundled distribution's RECORD is not the attested wheel's",
          _REDOWNLOAD),
    Check("provenance.failed", "A bundled distribution's provenance failed verification",
          _REDOWNLOAD),
    Check("provenance.unknown", "A bundled distribution's provenance could not be established",
          "nothing to do about this binary; the index the lock was made against serves no "
          "PEP 740 provenance (fails only with --strict)"),
)


@dataclass(frozen=True)
class SelfReport(Verdict[Problem]):
    """Everything one self-check found (its problems' checks are keys of CHECKS)."""

    executable: str
    bundle: str
    mode: Literal["onefile", "onedir"]
    build: BuildInfo | None
    files_checked: int
    bytes_hashed: int
    problems: tuple[Problem, ...]
    provenance: ProvenanceSummary
    strict: bool = False
    seconds: float = 0.0
    sha256: str | None = None  # of the whole executable, for `verify --self`


# --- where we run --------------------------------------------------------------------------------

def is_frozen() -> bool:
    """True inside the PyInstaller binary (onefile or onedir)."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_dir() -> Path:
    """The directory the binary's files live in (a temporary one for onefile)."""
    return Path(str(getattr(sys, "_MEIPASS", "")))


def mode() -> Literal["onefile", "onedir"]:
    """How the running binary was built."""
    return _mode(bundle_dir())


def _mode(bundle: Path) -> Literal["onefile", "onedir"]:
    # The onedir bundle is the executable's `_internal/` folder; onefile unpacks to a new
    # temporary directory (which may well sit next to the executable, in /tmp say).
    home = Path(sys.executable).resolve().parent
    return "onedir" if bundle.resolve() in (home / "_internal", home) else "onefile"


# --- hashing -------------------------------------------------------------------------------------

def _sha256_range(path: str, offset: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(offset)
        left = size
        while left > 0:
            chunk = handle.read(min(left, 1 << 20))
            if not chunk:
                break
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest() if left == 0 else "truncated"


def _hash_all(paths: Sequence[str]) -> dict[str, str | OSError]:
    """sha256 of each file, on two or more threads (hashlib releases the GIL on big buffers).

    Plain threads rather than concurrent.futures, whose import (logging included) would
    cost every start of the binary more than it saves; the biggest files go first.
    """
    import threading

    results: dict[str, str | OSError] = {}

    def one(path: str) -> None:
        try:
            results[path] = sha256_file(path)
        except OSError as err:
            results[path] = err

    if len(paths) < 8:
        for path in paths:
            one(path)
        return results

    def size(path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0

    queue = iter(sorted(paths, key=size, reverse=True))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                path = next(queue, None)
            if path is None:
                return
            one(path)

    threads = [threading.Thread(target=work, daemon=True)
               for _ in range(min(4, max(2, os.cpu_count() or 1)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _scan(bundle: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(relative path -> absolute path) of regular files, symlink targets, and anything else."""
    files: dict[str, str] = {}
    links: dict[str, str] = {}
    other: list[str] = []
    top = str(bundle)

    def rel(path: str) -> str:
        return os.path.relpath(path, top).replace(os.sep, "/")

    for folder, dirs, names in os.walk(top):
        for name in list(dirs):
            full = os.path.join(folder, name)
            if os.path.islink(full):
                links[rel(full)] = os.readlink(full).replace(os.sep, "/")
                dirs.remove(name)
        for name in names:
            full = os.path.join(folder, name)
            mode = os.lstat(full).st_mode
            if stat.S_ISLNK(mode):
                links[rel(full)] = os.readlink(full).replace(os.sep, "/")
            elif stat.S_ISREG(mode):
                files[rel(full)] = full
            else:
                other.append(rel(full))
    return files, links, other


def _pyz_location() -> tuple[str, int] | None:
    """The executable holding the PYZ archive and its offset, from PyInstaller's importer."""
    archive = getattr(sys.modules.get("pyimod02_importers"), "pyz_archive", None)
    filename = getattr(archive, "_filename", None)
    offset = getattr(archive, "_start_offset", None)
    if isinstance(filename, str) and isinstance(offset, int):
        return filename, offset
    return None


def check_files(bundle: Path, manifest: Manifest) -> tuple[list[Problem], int, int]:
    """Every bundled file and link against the manifest: (problems, files checked, bytes)."""
    files, links, other = _scan(bundle)
    problems: list[Problem] = []
    wanted = sorted(manifest.files)
    present = [files[p] for p in wanted if p in files]
    digests = _hash_all(present)
    size = 0
    for path in wanted:
        full = files.get(path)
        if full is None:
            what = "is now a symlink" if path in links else "is missing"
            problems.append(Problem("self.missing" if path not in links else "self.changed",
                                    path, f"bundled file {path} {what}"))
            continue
        found = digests[full]
        if isinstance(found, OSError):
            problems.append(Problem("self.changed", path,
                                    f"bundled file {path} cannot be read ({found.strerror})"))
        elif found != manifest.files[path]:
            problems.append(Problem("self.changed", path,
                                    f"bundled file {path} changed (sha256 {found[:16]}..., "
                                    f"built as {manifest.files[path][:16]}...)"))
        else:
            size += os.stat(full).st_size
    for path, target in sorted(manifest.symlinks.items()):
        if links.get(path) != target:
            found_target = links.get(path)
            now = f"points to {found_target}" if found_target else "is missing or not a link"
            problems.append(Problem("self.changed", path,
                                    f"bundled link {path} {now}, built pointing to {target}"))
    extra = sorted((set(files) | set(links) | set(other))
                   - set(manifest.files) - set(manifest.symlinks) - {MANIFEST})
    problems += [Problem("self.unexpected", path,
                         f"{path} is in the bundle but not in the manifest (added after the "
                         "build)") for path in extra]
    checked = len(present)
    if manifest.pyz is not None:
        problem = check_code(manifest.pyz)
        if problem is not None:
            problems.append(problem)
        else:
            size += manifest.pyz.size
        checked += 1
    return problems, checked, size


def check_code(expected: ArchiveDigest) -> Problem | None:
    """The PYZ archive (every bundled Python module) against its manifest digest."""
    where = _pyz_location()
    if where is None:
        return Problem("self.code", None, "the code archive cannot be located (not started by "
                       "the PyInstaller bootloader this binary was built with)")
    path, offset = where
    try:
        found = _sha256_range(path, offset, expected.size)
    except OSError as err:
        return Problem("self.code", path, f"the code archive in {path} cannot be read "
                       f"({err.strerror})")
    if found != expected.sha256:
        return Problem("self.code", path, f"the Python code archive inside {path} changed "
                       f"(sha256 {found[:16]}..., built as {expected.sha256[:16]}...)")
    return None


# --- the lock and provenance ---------------------------------------------------------------------

def check_lock(bundle: Path, build: BuildInfo) -> list[Problem]:
    """Each bundled distribution must be the version the embedded lock pins."""
    from packaging.utils import canonicalize_name

    from gateway_cli.supply.lockfile import parse_requirements

    try:
        pins, bad = parse_requirements((bundle / LOCK).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        return [Problem("self.missing", LOCK, f"the embedded lock {LOCK} cannot be read ({err})")]
    if bad:
        return [Problem("self.changed", LOCK, f"the embedded lock {LOCK} is not a hash-pinned "
                        f"lock: {bad[0]}")]

    problems = []
    for dist in build.distributions:
        pin = pins.get(canonicalize_name(dist.name))
        if pin is None or not same_version(pin.version, dist.version):
            locked = f"pins {pin.version}" if pin else "does not pin it"
            problems.append(Problem("lock.version", LOCK, f"bundled {dist.name} {dist.version}, "
                                    f"but the embedded {LOCK} {locked}"))
    return problems


def check_provenance(bundle: Path, build: BuildInfo) -> tuple[list[Problem], ProvenanceSummary]:
    """The trust root against its pin, then each bundled distribution as `gateway verify` does."""
    from gateway_cli.supply import provenance_check, trust

    try:
        root = trust.check_root(trust.read_root())
    except trust.TrustRootError as err:
        return [Problem("self.trust-root", TRUST_ROOT, str(err))], ProvenanceSummary()
    try:
        document = provenance_check.load(bundle / PROVENANCE)
    except VerifyUsageError as err:
        return [Problem("self.provenance", PROVENANCE, str(err))], ProvenanceSummary()
    digests = provenance_check.record_digests(document)
    judge = provenance_check.checker(document, lambda: trust.build_verifier(root))
    dists = [InstalledDistribution(d.name, d.version, bundle / BUILD_INFO, d.record_sha256)
             for d in build.distributions]
    problems: list[Problem] = []
    records = 0
    for dist in dists:
        expected = digests.get((dist.name, dist.version))
        if expected:
            records += 1
            if dist.record_sha256 not in expected:
                problems.append(Problem(
                    "provenance.record", PROVENANCE,
                    f"{dist.name} {dist.version} was bundled from a wheel whose RECORD digest "
                    f"{dist.record_sha256[:16]}... matches no record_sha256 in the embedded "
                    "provenance.json"))
    summary, flagged = tally_provenance(judge(dists), records)
    problems += [Problem(f"provenance.{outcome.status}", PROVENANCE,
                         outcome.message if outcome.status == "failed" else
                         f"{outcome.distribution} {outcome.version}: {outcome.message}",
                         outcome_severity(outcome)) for outcome in flagged]
    return problems, summary


# --- the whole check -----------------------------------------------------------------------------

def check(bundle: Path | None = None, *, strict: bool = False) -> SelfReport:
    """Everything of the module docstring, for the running binary (or a given bundle)."""
    started = time.perf_counter()
    folder = bundle or bundle_dir()
    problems: list[Problem] = []
    checked = hashed = 0
    try:
        manifest: Manifest | None = load_manifest(folder)
    except (OSError, ValueError) as err:
        manifest = None
        problems.append(Problem("self.manifest", MANIFEST,
                                f"the embedded manifest {MANIFEST} cannot be read ({err})"))
    if manifest is not None:
        file_problems, checked, hashed = check_files(folder, manifest)
        problems += file_problems
    summary = ProvenanceSummary()
    try:
        build: BuildInfo | None = load_build_info(folder)
    except (OSError, ValueError) as err:
        build = None
        problems.append(Problem("self.build-info", BUILD_INFO,
                                f"the embedded build record {BUILD_INFO} cannot be read ({err})"))
    if build is not None:
        problems += check_lock(folder, build)
        provenance_problems, summary = check_provenance(folder, build)
        problems += provenance_problems
        problems += check_stub(Path(sys.executable), build)
    return SelfReport(sys.executable, str(folder), _mode(folder), build, checked, hashed,
                      tuple(problems), summary, strict, time.perf_counter() - started)


def check_stub(executable: Path, build: BuildInfo) -> list[Problem]:
    """The executable outside its archive: the loader code, and nothing after the ELF's end.

    Only for Linux builds, which record the bootloader's digest (elf_stub.py).
    """
    from gateway_cli.supply import elf_stub

    if build.stub is None or not sys.platform.startswith("linux"):
        return []
    try:
        with open(executable, "rb") as handle:
            digest = elf_stub.loaded_digest(handle)
            end = elf_stub.elf_end(handle)
            size = os.fstat(handle.fileno()).st_size
    except (OSError, elf_stub.NotElf) as err:
        return [Problem("self.stub", str(executable), f"the executable cannot be read as the "
                        f"ELF file it was built as ({err})")]
    problems = []
    if digest != build.stub:
        problems.append(Problem("self.stub", str(executable), "the loader code of the "
                                "executable (its ELF segments) differs from the bootloader it "
                                "was built from"))
    if size > end:
        problems.append(Problem("self.appended", str(executable), f"{size - end} bytes were "
                                f"added after the end of the executable ({end} bytes)"))
    return problems


_last: list[SelfReport] = []


def last_report() -> SelfReport | None:
    """The report `enforce()` made at this start, so `serve` need not hash everything twice."""
    return _last[-1] if _last else None


def _reports_itself(argv: Sequence[str]) -> bool:
    # `gateway verify --self` checks too, and prints the whole report rather than one line.
    return len(argv) > 1 and argv[1] == "verify" and "--self" in argv[2:]


def refusal(report: SelfReport) -> str:
    """The one line a refused start prints."""
    errors = [p for p in report.problems if p.severity == "error"]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return (f"gateway: refusing to run: this binary is not as it was built: "
            f"{errors[0].message}{more}; run `gateway verify --self` for the full report; "
            f"{_REDOWNLOAD}")


def enforce(argv: Sequence[str] | None = None,
            write: Callable[[str], object] | None = None) -> None:
    """Before any command in the binary: check, and exit 1 with one line if anything differs."""
    if not is_frozen():
        return
    args = list(sys.argv if argv is None else argv)
    if _reports_itself(args):
        return
    report = check()
    _last.append(report)
    if report.errors:
        (write or sys.stderr.write)(refusal(report) + "\n")
        sys.exit(1)


def require_frozen() -> None:
    if not is_frozen():
        raise SelfCheckUsage("--self checks the release binary itself; this gateway runs from "
                             "a Python environment: use `gateway verify` (without --self)")
