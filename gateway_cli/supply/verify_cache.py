"""Remembered clean results, so that verifying at every start-up stays cheap.

Hashing every installed file takes about a second; doing it at each start
of the gateway would be paid for in latency, and skipped by people. So a
clean result is remembered under a fingerprint of everything it depended
on, and a later check that computes the same fingerprint skips the work:

- a distribution is clean under the sha256 of: its `.dist-info` path, the
  stat of its METADATA and RECORD, and for every hashed RECORD row the
  path, the expected hash and the file's stat (device, inode, mode, size,
  mtime_ns, ctime_ns). A warm check re-reads every RECORD and re-stats
  every listed file, so any write to any of them changes the fingerprint
  (ctime cannot be set back by an unprivileged process, and a replaced file
  has a new inode), and that distribution is hashed again in full;
- its cached bytecode is clean under that fingerprint plus the path and
  stat of every `__pycache__` file Python could load for one of its hashed
  sources. Each such folder is listed and each file stat'ed at every start,
  in the same pass as the distribution's files: a directory's stat alone
  would not do, since a file rewritten in place leaves its directory's
  mtime as it was;
- the canonical RECORD digest (for provenance.json) is remembered under
  the `.dist-info` path and the stat of RECORD, whose content is all it
  depends on;
- the search for unlisted files is clean under the stat of every directory
  the last full walk looked into (adding, removing or renaming an entry
  changes its directory's mtime and ctime), plus the distributions'
  fingerprints and the start-up hooks found;
- nothing else is cached: the lock comparison and the start-up hook scan
  run every time, they cost a few milliseconds.

Only clean results (and RECORD digests) are stored; anything with a problem
is re-checked every time. The cache lives in `$XDG_CACHE_HOME/gateway` (else
`~/.cache/gateway`): a 0700 directory, `verify-cache` and the HMAC key
`verify-cache.key`, both 0600. A cache that fails its HMAC, is not owned by
us, or is writable by others is ignored (the check runs cold) and rewritten.

Threat model, honestly: the HMAC stops accidental corruption, a cache left
by another gateway version, and a process that can write the cache file but
not read the key. It does not stop an attacker running as the same user: the
user who can write site-packages can also read the key and forge a cache
entry for a tampered file. That attacker is out of scope (SECURITY.md); the
poisoned release is in scope, and installing one rewrites RECORD and files,
so no fingerprint matches and the new files are hashed. Root can reset
ctime via the clock; root is out of scope too. Use `--no-cache` in CI.
"""

from __future__ import annotations

import array
import hashlib
import hmac
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from gateway_cli import __version__
from gateway_cli.supply.bytecode import MAGIC, cached_bytecode
from gateway_cli.supply.installed import Distribution

SCHEMA = 1
MAX_CLEAN = 4096  # fingerprints kept: enough for a few venvs of a few hundred packages
MAX_TREES = 32
_MAX_BYTES = 64 * 1024 * 1024
CACHE_NAME = "verify-cache"
_FLAGS = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
KEY_NAME = "verify-cache.key"


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/gateway` when that is an absolute path, else `~/.cache/gateway`."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "gateway"


class DistPrint(NamedTuple):
    """What the checks of one distribution depend on, from one pass over its files."""

    files: str | None  # fingerprint of a clean RECORD check; None: a listed file is gone
    bytecode: str | None  # of a clean bytecode check: `files` and every cached file's stat
    cached: tuple[tuple[str, str, int], ...]  # (pyc, source, optimization) Python could load
    record: str | None  # key of the canonical RECORD digest: the dist-info path and
    # RECORD's stat (None: RECORD is gone)


def _packed(stats: Sequence[os.stat_result]) -> bytes:
    """Device, inode, mode, size, mtime_ns and ctime_ns of each stat, as bytes to hash."""
    try:
        return array.array("q", [field for s in stats for field in (
            s.st_dev, s.st_ino, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns)]).tobytes()
    except OverflowError:  # an inode or device number beyond 63 bits: spelled out instead
        return repr([(s.st_dev, s.st_ino, s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns)
                     for s in stats]).encode()


def dist_fingerprint(dist: Distribution) -> DistPrint:
    """What a clean check of `dist` and of its cached bytecode depended on.

    One pass: every hashed file and every cached file of a hashed source is
    stat'ed once. The rows' paths and hashes are not spelled out: they are
    RECORD's content, which the stat of RECORD already stands for.
    """
    info = str(dist.dist_info)
    hashed = []
    sources: dict[str, set[str]] = {}
    for entry, path in zip(dist.entries, dist.paths, strict=True):
        if entry.digest:
            hashed.append(path)
            if path.endswith(".py"):
                folder, _, name = path.rpartition(os.sep)
                sources.setdefault(folder, set()).add(name[:-3])
    # In listing order: an unchanged folder lists the same way, and a changed one is a
    # miss anyway.
    cached, cached_stats = cached_bytecode(sources)
    found = tuple(cached)
    head = f"{SCHEMA}:{__version__}\n{info}".encode("utf-8", "surrogateescape")
    lstat = os.lstat
    try:
        record = lstat(os.path.join(info, "RECORD"))
    except OSError:
        return DistPrint(None, None, found, None)
    record_key = _digest(b"record:" + head, _packed([record]))
    try:
        stats = [lstat(os.path.join(info, "METADATA")), record]
        stats += [lstat(path) for path in hashed]
    except OSError:
        return DistPrint(None, None, found, record_key)
    files = _digest(b"dist:" + head, _packed(stats))
    names = "\0".join([c[0] for c in cached]).encode("utf-8", "surrogateescape")
    code = _digest(f"pyc:{MAGIC.hex()}:{files}".encode(), head, names, _packed(cached_stats))
    return DistPrint(files, code, found, record_key)


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def tree_fingerprint(folders: Iterable[str], dists: Iterable[str | None],
                     ignored: Iterable[str]) -> str | None:
    """What a clean search for unlisted files depended on; None when a folder is gone."""
    parts = [f"tree:{SCHEMA}:{__version__}", *(d or "-" for d in dists), *sorted(ignored)]
    names = list(folders)
    try:
        stats = [os.lstat(folder) for folder in names]
    except OSError:
        return None
    return _digest("\n".join(parts).encode("utf-8", "surrogateescape"),
                   "\0".join(names).encode("utf-8", "surrogateescape"), _packed(stats))


class _Unusable(Exception):
    """The cache directory or key cannot be trusted: run without a cache."""


def _private(st: os.stat_result, mask: int) -> bool:
    owner = getattr(os, "geteuid", lambda: st.st_uid)()
    return st.st_uid == owner and not st.st_mode & mask


class VerifyCache:
    """The clean fingerprints of earlier checks; see the module docstring.

    Never raises on a bad cache: `note` says why it was ignored, and the
    check simply runs cold.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.note = ""
        self.hits = 0
        self.misses = 0
        self._key: bytes | None = None
        self._clean: dict[str, None] = {}
        self._values: dict[str, str] = {}
        self._trees: dict[str, list[object]] = {}
        self._dirty = False

    @classmethod
    def load(cls, directory: Path | None = None) -> VerifyCache:
        try:
            cache = cls(directory or default_cache_dir())
        except RuntimeError as err:  # no home directory to put it in
            cache = cls(Path("/nonexistent"))
            cache.note = f"verify cache not used: {err}"
            return cache
        try:
            cache._open()
        except _Unusable as err:
            cache._key = None
            cache.note = f"verify cache not used: {err}"
        except (OSError, ValueError, TypeError, AttributeError) as err:
            cache._dirty = cache._key is not None
            cache.note = f"verify cache ignored: {err}"
        return cache

    @property
    def usable(self) -> bool:
        return self._key is not None

    def _open(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = os.lstat(self.directory)
        except OSError as err:
            raise _Unusable(f"cannot create {self.directory}: {err.strerror or err}") from err
        if not stat.S_ISDIR(st.st_mode) or not _private(st, 0o022):
            raise _Unusable(f"{self.directory} is not a directory of ours that only we can "
                            "write; remove it to start a fresh cache")
        try:
            self._key = self._read_key()
        except OSError as err:
            raise _Unusable(f"cannot read {self.directory / KEY_NAME}: {err.strerror or err}") \
                from err
        path = self.directory / CACHE_NAME
        try:
            fd = os.open(path, os.O_RDONLY | _FLAGS)
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as handle:
            if not _private(os.fstat(handle.fileno()), 0o077):
                raise ValueError(f"{path} is readable or writable by others; it will be "
                                 "rewritten")
            blob = handle.read(_MAX_BYTES + 1)
        mac, _, payload = blob.partition(b"\n")
        expected = hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(mac, expected):
            raise ValueError(f"{path} failed its integrity check; it will be rewritten")
        data = json.loads(payload)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"{path} is from another gateway version; it will be rewritten")
        self._clean = dict.fromkeys(str(fp) for fp in data.get("clean", []))
        self._trees = {str(k): list(v) for k, v in data.get("trees", {}).items()}
        self._values = {str(k): str(v) for k, v in data.get("values", {}).items()}

    def _read_key(self) -> bytes:
        path = self.directory / KEY_NAME
        flags = _FLAGS
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | flags, 0o600)
        except FileExistsError:
            fd = os.open(path, os.O_RDONLY | flags)
            with os.fdopen(fd, "rb") as handle:
                if not _private(os.fstat(handle.fileno()), 0o077):
                    raise _Unusable(f"{path} is readable by others; remove it") from None
                key = handle.read(129).strip()
            if len(key) != 64:
                raise _Unusable(f"{path} is not a key this gateway wrote; remove it") from None
            return key
        key = secrets.token_hex(32).encode()
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return key

    def is_clean(self, fingerprint: str | None) -> bool:
        found = fingerprint is not None and self.usable and fingerprint in self._clean
        if found:
            self.hits += 1
        else:
            self.misses += 1
        return found

    def mark_clean(self, fingerprint: str | None) -> None:
        if fingerprint is not None and self.usable and fingerprint not in self._clean:
            self._clean[fingerprint] = None
            self._dirty = True

    def value(self, key: str | None) -> str | None:
        """What was remembered under `key` (see `remember`), if anything."""
        return self._values.get(key) if key is not None and self.usable else None

    def remember(self, key: str | None, value: str) -> None:
        """A value computed from inputs that `key` stands for (a RECORD digest)."""
        if key is not None and self.usable and self._values.get(key) != value:
            self._values.pop(key, None)
            self._values[key] = value
            self._dirty = True

    def tree_folders(self, location: str) -> list[str]:
        """The folders of the last clean walk of these sites (empty when unknown)."""
        entry = self._trees.get(location)
        if not entry or len(entry) != 2 or not isinstance(entry[1], list):
            return []
        return [str(f) for f in entry[1]]

    def tree_is_clean(self, location: str, fingerprint: str | None) -> bool:
        entry = self._trees.get(location)
        return self.is_clean(fingerprint if entry and entry[0] == fingerprint else None)

    def mark_tree_clean(self, location: str, fingerprint: str | None,
                        folders: Sequence[str]) -> None:
        if fingerprint is None or not self.usable:
            return
        if self._trees.get(location, [None])[0] != fingerprint:
            self._trees.pop(location, None)
            self._trees[location] = [fingerprint, list(folders)]
            self._clean[fingerprint] = None
            self._dirty = True

    def save(self) -> None:
        """Write the cache back if anything changed (atomically, 0600); failures become `note`."""
        if not self._dirty or self._key is None:
            return
        clean = list(self._clean)[-MAX_CLEAN:]
        trees = dict(list(self._trees.items())[-MAX_TREES:])
        values = dict(list(self._values.items())[-MAX_CLEAN:])
        payload = json.dumps({"schema": SCHEMA, "clean": clean, "trees": trees,
                              "values": values}, separators=(",", ":")).encode()
        mac = hmac.new(self._key, payload, hashlib.sha256).hexdigest().encode()
        temp = ""
        try:
            fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".verify-cache-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(mac + b"\n" + payload)
            os.replace(temp, self.directory / CACHE_NAME)
        except OSError as err:
            self.note = f"verify cache not saved: {err.strerror or err}"
            if temp:
                Path(temp).unlink(missing_ok=True)
        self._dirty = False
