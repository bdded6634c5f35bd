"""Installed distributions and the integrity of their files, read from disk only.

A poisoned release (LiteLLM 1.82.8) or a hand-edited file in site-packages
is invisible to the lock: pip checked the wheel's hash once, at install time.
This module re-checks what is on disk now. It finds every `*.dist-info` in
the given site-packages directories, reads its METADATA and RECORD as text
(nothing from the environment is ever imported or executed), and compares
each file RECORD lists with a hash against the file: missing, not a regular
file, a different size, or different content.

Files nobody lists: inside a directory that a distribution owns (a top-level
package such as `aiohttp/`, or its `.dist-info`) a file that no RECORD lists
is reported as `unlisted`, and a top-level entry of site-packages that no
RECORD mentions is reported as `unowned`. The one exception is Python's own
byte-code cache: an unlisted `__pycache__/X.*.pyc` whose source `X.py` is
listed is what the interpreter writes on import and is ignored. Byte-code is
never hashed in RECORD, so a planted `.pyc` whose header matches its
source's mtime and size would be loaded instead of the verified `.py`; this
check cannot see that. Starting the gateway with PYTHONPYCACHEPREFIX set to a
directory only it can write makes Python ignore `__pycache__` in
site-packages altogether.

`record_digest_from_wheel` and `record_digest_installed` give one digest of a
RECORD that is the same for a wheel and for that wheel installed by pip, so a
provenance record made from the wheel (`record_sha256` in provenance.json)
can be checked against an installed environment. The canonicalisation is
documented on `canonical_record`.
"""

from __future__ import annotations

import base64
import csv
import functools
import hashlib
import json
import os
import posixpath
import stat
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from packaging.utils import canonicalize_name

from gateway_cli.supply.model import same_version

# PEP 376 and PEP 427 ask for sha256 or stronger; md5 and sha1 entries are refused.
ACCEPTED_ALGORITHMS = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384",
                                 "sha3_512", "blake2b"})
# Files an installer writes into .dist-info (PEP 376, 610, 627) or signatures a wheel
# may carry; they differ between a wheel and its installation, so no digest covers them.
INSTALLER_FILES = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s", "INSTALLER", "REQUESTED",
                             "direct_url.json"})
_MAX_TEXT = 32 * 1024 * 1024  # a METADATA or RECORD larger than this is not a real one
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # POSIX only; Windows has no FIFOs to fear
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
# Files at least this large are hashed in worker threads (hashlib releases the GIL on
# big reads); for the many small files a thread costs more than it saves.
_THREADED_SIZE = 256 * 1024

ProblemKind = Literal["metadata", "duplicate", "missing", "not-regular", "size", "modified",
                      "unhashed", "outside", "unlisted", "unowned", "pyc"]


class RecordEntry(NamedTuple):
    """One row of RECORD: a path relative to the site-packages directory.

    A NamedTuple rather than a dataclass: a large environment has tens of
    thousands of rows and the start-up check has a budget of milliseconds.
    """

    path: str
    algorithm: str  # "" when the row has no hash
    digest: str  # urlsafe base64 without padding, "" when the row has no hash
    size: int | None


@dataclass(frozen=True)
class Distribution:
    """An installed distribution as its `.dist-info` describes it."""

    name: str  # canonical (PEP 503) name
    version: str
    dist_info: Path
    entries: tuple[RecordEntry, ...]

    @property
    def site(self) -> Path:
        return self.dist_info.parent

    @functools.cached_property
    def paths(self) -> tuple[str, ...]:
        """Absolute path of each entry, in order (computed once: several checks need them)."""
        site = str(self.site)
        return tuple(entry_path(site, entry.path) for entry in self.entries)


@dataclass(frozen=True)
class FileProblem:
    """Something on disk that does not match what the installer recorded."""

    kind: ProblemKind
    path: Path
    detail: str
    distribution: str | None = None  # canonical name; None when nothing owns the path


def b64_digest(raw: bytes) -> str:
    """The RECORD spelling of a digest: urlsafe base64 without `=` padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hash_file(path: str, expected: os.stat_result, algorithm: str) -> str:
    """Digest of a file that was a regular file when stat'ed.

    Opened without following a symlink and without blocking, and re-checked
    with fstat, so a file swapped for a FIFO or a link after the stat can
    neither hang the check nor redirect it.
    """
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        now = os.fstat(handle.fileno())
        if not stat.S_ISREG(now.st_mode) or now.st_ino != expected.st_ino:
            raise OSError(f"{path} changed while being verified")
        return b64_digest(hashlib.file_digest(handle, algorithm).digest())


def parse_record(text: str) -> tuple[list[RecordEntry], list[str]]:
    """Rows of a RECORD file and the rows that are malformed."""
    entries: list[RecordEntry] = []
    problems: list[str] = []
    lines = text.splitlines()
    # Without a quote no field holds a comma, so a plain split is the CSV parse
    # (and several times faster, which matters at start-up).
    rows = csv.reader(lines) if '"' in text else (line.split(",") for line in lines)
    append = entries.append
    new = tuple.__new__  # a NamedTuple's own __new__ is Python code: a third of the parse
    for number, row in enumerate(rows, 1):
        if len(row) == 3:  # the common, well-formed row: as little work as possible
            path, hashed, size = row
            if not hashed:
                if path and (not size or size.isdigit()):
                    append(new(RecordEntry, (path, "", "", int(size) if size else None)))
                    continue
            else:
                algorithm, _, digest = hashed.partition("=")
                if (path and digest and size.isdigit() and algorithm.islower()
                        and digest[-1] != "="):
                    append(new(RecordEntry, (path, algorithm, digest, int(size))))
                    continue
        elif not row or not any(row):
            continue
        if len(row) > 3 or not row[0]:
            problems.append(f"row {number} has {len(row)} fields, expected 3")
            continue
        path, hashed, size = [*row, "", ""][:3]
        algorithm, _, digest = hashed.partition("=")
        if hashed and not digest:
            problems.append(f"row {number} ({path}): hash '{hashed[:40]}' is not ALGORITHM=DIGEST")
            continue
        if size and not size.isdigit():
            problems.append(f"row {number} ({path}): size '{size[:20]}' is not a number")
            continue
        append(RecordEntry(path, algorithm.lower(), digest.rstrip("="),
                           int(size) if size else None))
    return entries, problems


def _headers(text: str) -> dict[str, str]:
    """The first value of each header of a METADATA file (the part before the body)."""
    found: dict[str, str] = {}
    # Only the part before the first empty line is split (the body can be most of the
    # file); a whitespace-only line before it still ends the headers below.
    cut = text.find("\n\n")
    for line in (text[:cut] if cut >= 0 else text).splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and not key.startswith((" ", "\t")):
            found.setdefault(key.strip().lower(), value.strip())
    return found


def _read_text(path: Path) -> str:
    """A METADATA or RECORD file; a FIFO or device planted in its place is refused unread."""
    fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("it is not a regular file")
        data = handle.read(_MAX_TEXT + 1)
    if len(data) > _MAX_TEXT:
        raise ValueError(f"it is larger than {_MAX_TEXT // (1024 * 1024)} MiB")
    return data.decode("utf-8", errors="replace")


def read_distribution(dist_info: Path) -> tuple[Distribution | None, list[FileProblem]]:
    """One `.dist-info` directory, or the reasons it cannot be verified."""
    def problem(detail: str, path: Path = dist_info) -> FileProblem:
        return FileProblem("metadata", path, detail, None)

    texts = {}
    for file in ("METADATA", "RECORD"):
        try:
            texts[file] = _read_text(dist_info / file)
        except (OSError, ValueError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            return None, [problem(f"cannot read {file}: {reason}", dist_info / file)]
    headers, record_text = _headers(texts["METADATA"]), texts["RECORD"]
    name, version = headers.get("name", ""), headers.get("version", "")
    if not name or not version:
        return None, [problem("METADATA has no Name or Version header", dist_info / "METADATA")]
    canonical = str(canonicalize_name(name))
    problems = []
    stem = dist_info.name.removesuffix(".dist-info")
    dir_name, _, dir_version = stem.rpartition("-")
    if canonicalize_name(dir_name) != canonical or not same_version(dir_version, version):
        problems.append(FileProblem(
            "metadata", dist_info,
            f"directory name says {dir_name} {dir_version} but METADATA says {name} {version}",
            canonical))
    entries, record_problems = parse_record(record_text)
    problems += [FileProblem("metadata", dist_info / "RECORD", f"malformed RECORD: {p}", canonical)
                 for p in record_problems]
    return Distribution(canonical, version, dist_info, tuple(entries)), problems


def unique_sites(sites: Iterable[Path]) -> list[Path]:
    """Site directories without repeats (purelib and platlib are usually one directory)."""
    seen: set[str] = set()
    out = []
    for site in sites:
        real = os.path.realpath(site)
        if real not in seen and os.path.isdir(real):
            seen.add(real)
            out.append(Path(site))
    return out


def find_distributions(sites: Iterable[Path]) -> tuple[list[Distribution], list[FileProblem]]:
    """Every distribution installed in the site directories, and what prevents reading one.

    A legacy `.egg-info` or `.egg-link` install has no RECORD, so its files
    cannot be verified; it is reported instead of silently skipped. Two
    `.dist-info` directories for one name (a half-finished upgrade, or a copy
    placed to shadow the real one) are reported as `duplicate`.
    """
    dists: list[Distribution] = []
    problems: list[FileProblem] = []
    by_name: dict[str, Distribution] = {}
    for site in unique_sites(Path(os.path.abspath(s)) for s in sites):
        for entry in sorted(os.listdir(site)):
            path = site / entry
            if entry.endswith((".egg-info", ".egg-link")):
                problems.append(FileProblem(
                    "metadata", path, "a legacy egg install has no RECORD, so its files "
                    "cannot be verified", None))
                continue
            if not entry.endswith(".dist-info") or not path.is_dir():
                continue
            dist, found = read_distribution(path)
            problems += found
            if dist is None:
                continue
            if dist.name in by_name:
                problems.append(FileProblem(
                    "duplicate", path, f"{dist.name} is installed twice: also as "
                    f"{by_name[dist.name].dist_info}", dist.name))
                continue
            by_name[dist.name] = dist
            dists.append(dist)
    return dists, problems


def entry_path(site: str, rel: str) -> str:
    """Absolute path of a RECORD row; normalised only when the row could need it.

    normpath on every row costs more than the rest of a warm check, and
    ordinary rows (`pkg/mod.py`) are already normal.
    """
    if os.sep != "/":
        rel = rel.replace("/", os.sep)
    full = site + os.sep + rel
    if rel.startswith(os.sep) or (os.sep + ".") in (os.sep + rel) or (os.sep * 2) in rel:
        return os.path.normpath(os.path.join(site, rel))
    return full


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _unhashed_is_expected(entry: RecordEntry) -> bool:
    """Rows pip writes without a hash: RECORD itself and byte-code compiled at install."""
    name = posixpath.basename(entry.path)
    return name == "RECORD" or name.endswith(".pyc")


@dataclass(frozen=True)
class _Job:
    dist: str
    path: str
    st: os.stat_result
    algorithm: str
    digest: str


def check_files(dists: Sequence[Distribution], roots: Path | Sequence[Path], *,
                workers: int = 4) -> tuple[list[FileProblem], int]:
    """Compare every hashed RECORD entry with the file on disk.

    `roots` are the directories the environment's files may live in (the
    venv prefix; for a user site, its base such as ~/.local). Returns the
    problems and the number of files verified. Entries that resolve outside
    every root are reported and never opened, so a hostile RECORD cannot make
    the check read `/dev/zero` or a secret file. Large files are hashed in
    `workers` threads while this thread hashes the small ones.
    """
    bases = [os.path.normpath(os.path.abspath(r))
             for r in ([roots] if isinstance(roots, Path) else roots)]
    problems: list[FileProblem] = []
    jobs: list[_Job] = []
    for dist in dists:
        for entry, full in zip(dist.entries, dist.paths, strict=True):
            if not any(_inside(full, base) for base in bases):
                problems.append(FileProblem(
                    "outside", Path(full), f"RECORD entry '{entry.path}' points outside the "
                    f"environment ({', '.join(bases)})", dist.name))
                continue
            if not entry.digest:
                if not _unhashed_is_expected(entry):
                    problems.append(FileProblem(
                        "unhashed", Path(full), "RECORD lists this file without a hash, so "
                        "its content cannot be verified", dist.name))
                continue
            if entry.algorithm not in ACCEPTED_ALGORITHMS:
                problems.append(FileProblem(
                    "unhashed", Path(full), f"RECORD hashes this file with "
                    f"'{entry.algorithm}', which is not accepted (sha256 or stronger)", dist.name))
                continue
            try:
                st = os.lstat(full)
            except OSError as err:
                problems.append(FileProblem("missing", Path(full),
                                            f"listed in RECORD but {_why(err)}", dist.name))
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(FileProblem(
                    "not-regular", Path(full), "listed in RECORD as a file but is a "
                    f"{_kind(st.st_mode)} now", dist.name))
                continue
            if entry.size is not None and st.st_size != entry.size:
                problems.append(FileProblem(
                    "size", Path(full), f"size is {st.st_size} bytes, RECORD says "
                    f"{entry.size}", dist.name))
                continue
            jobs.append(_Job(dist.name, full, st, entry.algorithm, entry.digest))

    def run(job: _Job) -> FileProblem | None:
        try:
            actual = hash_file(job.path, job.st, job.algorithm)
        except OSError as err:
            return FileProblem("missing", Path(job.path), f"listed in RECORD but {_why(err)}",
                               job.dist)
        if actual != job.digest:
            return FileProblem("modified", Path(job.path),
                               f"content differs from RECORD ({job.algorithm}={actual}, RECORD "
                               f"says {job.algorithm}={job.digest})", job.dist)
        return None

    big = [job for job in jobs if job.st.st_size >= _THREADED_SIZE]
    small = [job for job in jobs if job.st.st_size < _THREADED_SIZE]
    if workers > 1 and big:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending = pool.map(run, big)
            results = [run(job) for job in small] + list(pending)
    else:
        results = [run(job) for job in jobs]
    problems += sorted((p for p in results if p is not None), key=lambda p: p.path)
    return problems, len(jobs)


def _why(err: OSError) -> str:
    if isinstance(err, FileNotFoundError):
        return "it does not exist"
    return f"it cannot be read ({err.strerror or err})"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    return "special file"


def listed_paths(dists: Iterable[Distribution]) -> dict[str, str]:
    """Absolute, normalised path of every RECORD entry -> the distribution listing it."""
    owners: dict[str, str] = {}
    for dist in dists:
        for path in dist.paths:
            owners.setdefault(path, dist.name)
    return owners


def _is_runtime_bytecode(path: str, listed: dict[str, str]) -> bool:
    """A `__pycache__/X.<tag>.pyc` whose `X.py` is listed: Python's own cache."""
    folder, name = os.path.split(path)
    if os.path.basename(folder) != "__pycache__" or not name.endswith(".pyc"):
        return False
    source = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
    return source in listed


def unlisted_files(sites: Iterable[Path], dists: Sequence[Distribution],
                   listed: dict[str, str], ignore: Iterable[Path] = ()
                   ) -> tuple[list[FileProblem], list[str]]:
    """Files in site-packages that no RECORD lists, and every directory looked into.

    Walks each directory some distribution owns (its top-level packages and
    its `.dist-info`) and every top-level entry. Paths in `ignore` (start-up
    hooks, already reported more precisely) are skipped. The directories are
    returned so that a cache can tell, from their stat alone, that nothing
    was added or removed since (see `verify_cache`).
    """
    skip = {os.path.normpath(str(p)) for p in ignore}
    tops: dict[str, str] = {}  # absolute top-level path -> an owner
    for dist in dists:
        site = str(dist.site)
        for entry in dist.entries:
            first = entry.path.replace("\\", "/").split("/", 1)[0]
            if first not in ("", ".", ".."):
                tops.setdefault(os.path.join(site, first), dist.name)
    problems: list[FileProblem] = []
    folders: list[str] = []
    for site_path in unique_sites(Path(os.path.abspath(s)) for s in sites):
        folders.append(str(site_path))
        for name in sorted(os.listdir(site_path)):
            top = os.path.join(str(site_path), name)
            if top in skip:
                continue
            if top in tops or name == "__pycache__":
                if os.path.isdir(top) and not os.path.islink(top):
                    _walk_unlisted(top, tops.get(top), listed, skip, problems, folders)
                elif top not in listed:
                    problems.append(_unlisted(top, tops.get(top)))
                continue
            problems.append(FileProblem(
                "unowned", Path(top), "no installed distribution lists this in its RECORD", None))
    return problems, folders


def _walk_unlisted(folder: str, owner: str | None, listed: dict[str, str], skip: set[str],
                   problems: list[FileProblem], folders: list[str]) -> None:
    """Append every unlisted file under `folder`; symlinks are reported, never followed."""
    folders.append(folder)
    with os.scandir(folder) as found:
        for item in found:
            if item.is_dir(follow_symlinks=False):
                _walk_unlisted(item.path, owner, listed, skip, problems, folders)
            elif not (item.path in listed or item.path in skip
                      or _is_runtime_bytecode(item.path, listed)):
                problems.append(_unlisted(item.path, owner))


def _unlisted(path: str, owner: str | None) -> FileProblem:
    if owner is None:
        return FileProblem("unowned", Path(path),
                           "no installed distribution lists this in its RECORD", None)
    return FileProblem("unlisted", Path(path),
                       f"inside a directory of {owner} but no RECORD lists it", owner)


# --- the canonical RECORD digest --------------------------------------------------------------

def canonical_record(entries: Iterable[RecordEntry], dist_info_name: str, *,
                     from_wheel: bool) -> list[tuple[str, str]]:
    """The part of a RECORD that a wheel and its pip installation share, sorted.

    Worked out by installing wheels from the lock with pip 26 and diffing the
    RECORDs. pip keeps every row of the wheel's RECORD (with the wheel's own
    hash) except that it moves `NAME.data/purelib|platlib/X` to `X`, moves
    `NAME.data/scripts/X` to `../../../bin/X` (rewriting a `#!python` line,
    so the hash changes), `NAME.data/data` and `headers` outside
    site-packages; it adds INSTALLER, REQUESTED, direct_url.json (when
    installed from a file or URL), console-script launchers under
    `../../../bin/`, and `.pyc` rows without a hash. So the canonical form is:

    1. rows with a hash only (this drops RECORD, signatures and `.pyc`);
    2. rows for INSTALLER_FILES inside the `.dist-info` are dropped;
    3. wheel: `NAME.data/purelib/` and `NAME.data/platlib/` are stripped, any
       other `NAME.data/` row is dropped; installed: rows whose path leaves
       site-packages (`../`, absolute) are dropped. Scripts and data files
       are therefore not covered by the digest (the installed ones are still
       checked against the installed RECORD);
    4. the `.dist-info` directory name becomes `{dist-info}` (an installer may
       normalise it);
    5. each row becomes (posix path, "algorithm=digest"), the digest urlsafe
       base64 without padding, the algorithm lower-case; rows are sorted.
    """
    dist_info = dist_info_name.rstrip("/")
    data = dist_info.removesuffix(".dist-info") + ".data"
    rows = []
    for entry in entries:
        if not entry.digest:
            continue
        path = posixpath.normpath(entry.path.replace("\\", "/"))
        if from_wheel and path.startswith(data + "/"):
            _, kind, rest = path.split("/", 2) if path.count("/") >= 2 else ("", "", "")
            if kind not in ("purelib", "platlib") or not rest:
                continue
            path = rest
        elif not from_wheel and (path.startswith(("../", "/")) or path == ".."):
            continue
        if path.startswith(dist_info + "/"):
            if posixpath.basename(path) in INSTALLER_FILES:
                continue
            path = "{dist-info}" + path[len(dist_info):]
        rows.append((path, f"{entry.algorithm.lower()}={entry.digest.rstrip('=')}"))
    return sorted(rows)


def record_digest(rows: Sequence[tuple[str, str]]) -> str:
    """sha256 (hex) of the canonical rows as compact UTF-8 JSON: [[path, hash], ...]."""
    text = json.dumps([list(row) for row in rows], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_digest_from_wheel(path: Path) -> str:
    """The canonical RECORD digest of a wheel file (see `canonical_record`)."""
    try:
        with zipfile.ZipFile(path) as wheel:
            records = [n for n in wheel.namelist() if n.count("/") == 1
                       and n.endswith(".dist-info/RECORD")]
            if len(records) != 1:
                raise ValueError(f"{path.name}: expected one top-level *.dist-info/RECORD, "
                                 f"found {len(records)}; is this a wheel?")
            info = wheel.getinfo(records[0])
            if info.file_size > _MAX_TEXT:
                raise ValueError(f"{path.name}: RECORD is larger than "
                                 f"{_MAX_TEXT // (1024 * 1024)} MiB")
            text = wheel.read(info).decode("utf-8")
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path.name} is not a wheel (not a zip file: {err})") from err
    entries, problems = parse_record(text)
    if problems:
        raise ValueError(f"{path.name}: malformed RECORD: {problems[0]}")
    return record_digest(canonical_record(entries, records[0].split("/")[0], from_wheel=True))


def record_digest_installed(dist_info: Path) -> str:
    """The canonical RECORD digest of an installed distribution (see `canonical_record`)."""
    entries, problems = parse_record(_read_text(dist_info / "RECORD"))
    if problems:
        raise ValueError(f"{dist_info / 'RECORD'}: malformed RECORD: {problems[0]}")
    return record_digest(canonical_record(entries, dist_info.name, from_wheel=False))


def installed_record_digest(dist: Distribution) -> str:
    """`record_digest_installed` for an already-parsed distribution (no second read)."""
    return record_digest(canonical_record(dist.entries, dist.dist_info.name, from_wheel=False))
