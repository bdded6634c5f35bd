"""The request log read for `gateway stats`: rotated files from a cache, the active one scanned.

A rotated file never changes, so its summary (summary.py: buckets per UTC
hour) is computed once and kept in `<home>/stats-cache/<file name>.json`
(0600, in the 0700 home). The cache is used only while its key still matches
the file: path, size, mtime and the SHA-256 of the file's last line. A cache
that does not decode, has the wrong shape or another key is recomputed from
the file and replaced. The cache is a convenience, not evidence: anyone who
can write the home can edit its numbers without touching the log, exactly as
they could edit the log itself; `gateway log verify` is what checks the log.

Time windows are exact for the active file. For a rotated file they are
widened to whole UTC hours (the cache's granularity): an hour is counted
when any part of it lies in the window.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

import msgspec

from gateway_cli.auditlog.files import rotated_files, worker_chains
from gateway_cli.auditlog.summary import (
    BUCKETS,
    LATENCY_BOUNDS,
    Dims,
    Partial,
    Row,
    Tally,
    scan,
)
from gateway_cli.errors import GatewayError
from gateway_cli.keys.home import write_private

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Bump when the summary's meaning changes, so older caches are recomputed, not misread.
VERSION: Final = 2
_CHUNK = 65536
_LAST_LINE_LIMIT = 2 << 20
# Below this much to read, starting worker processes costs more than it saves.
PARALLEL_BYTES = 64 << 20
ACTIVE_PARALLEL_BYTES = 16 << 20
_READ = 1 << 20


class NoLogError(GatewayError):
    """There is no request log to read at the configured path."""


class CacheKey(msgspec.Struct, frozen=True):
    """What a summary was computed from; it is used only while all of it still matches.

    Size and mtime catch the usual changes cheaply; the last line's hash catches a
    file replaced by one of the same size within the mtime's resolution. The
    histogram's bounds are part of it so that new bounds recompute the summaries.
    """

    path: str
    size: int
    mtime_ns: int
    last_line_sha256: str
    bounds: tuple[float, ...] = LATENCY_BOUNDS


class FileSummary(msgspec.Struct):
    """A rotated file's cache: per-hour rows and, for the usual query that takes the
    whole file, their totals per dimension tuple, so most runs never decode the hours."""

    version: int
    key: CacheKey
    records: int
    other_events: int
    unreadable: int
    odd: int
    first_time: str | None
    last_time: str | None
    dims: list[Dims]  # msgspec checks each is a 5-tuple
    totals: list[Row]  # per dimension tuple, over every hour
    # Per hour; decoded only when a time window cuts through the file.
    hours: msgspec.Raw


_SUMMARY = msgspec.json.Decoder(FileSummary)
_HOURS = msgspec.json.Decoder(list[Row])
_ENCODE = msgspec.json.Encoder().encode


@dataclass
class Usage:
    """The merged sums of the files read, by the full dimension tuple."""

    groups: dict[Dims, Tally] = field(default_factory=dict)
    records: int = 0
    other_events: int = 0
    unreadable: int = 0
    odd: int = 0
    files: list[tuple[str, str]] = field(default_factory=list)  # (name, how it was read)
    warnings: list[str] = field(default_factory=list)

    def add_row(self, dims: Dims, row: Row) -> None:
        tally = self.groups.get(dims)
        if tally is None:
            tally = self.groups[dims] = Tally()
        tally.add(row)


def _last_line_hash(fd: int, size: int) -> str:
    """SHA-256 of the file's last line (its newline included), read backwards from the end."""
    tail = b""
    pos = size
    while pos > 0 and len(tail) < _LAST_LINE_LIMIT:
        step = min(_CHUNK, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        cut = tail.rfind(b"\n", 0, len(tail) - 1)
        if cut >= 0:
            return hashlib.sha256(tail[cut + 1:]).hexdigest()
    return hashlib.sha256(tail).hexdigest()


def file_key(handle: BinaryIO, path: Path) -> CacheKey:
    info = os.fstat(handle.fileno())
    return CacheKey(str(path.absolute()), info.st_size, info.st_mtime_ns,
                    _last_line_hash(handle.fileno(), info.st_size))


def summarise(handle: BinaryIO, key: CacheKey) -> FileSummary:
    """Scan a whole file into per-hour buckets and their totals over every hour."""
    part = scan(lines_in(handle.fileno(), 0, os.fstat(handle.fileno()).st_size), hourly=True)
    dims, rows = part.rows()
    totals: dict[int, Tally] = {}
    for row in rows:
        totals.setdefault(row.dim, Tally()).add(row)
    return FileSummary(VERSION, key, part.records, part.other_events, part.unreadable,
                       part.odd, part.first_time, part.last_time, dims,
                       [t.row("", dim) for dim, t in totals.items()],
                       msgspec.Raw(_ENCODE(rows)))


def _sound(rows: list[Row], dims: int) -> bool:
    return all(0 <= r.dim < dims and len(r.histogram) == BUCKETS for r in rows)


def read_cache(cache: Path, key: CacheKey) -> FileSummary | None:
    """The cached summary when it decodes, is whole and its key is this file's; else None."""
    try:
        info = cache.lstat()
        if not stat.S_ISREG(info.st_mode):
            return None
        summary = _SUMMARY.decode(cache.read_bytes())
    except (OSError, msgspec.DecodeError):
        return None
    if summary.version != VERSION or summary.key != key:
        return None
    if not _sound(summary.totals, len(summary.dims)):
        return None
    return summary


def write_cache(cache: Path, summary: FileSummary) -> None:
    cache.parent.mkdir(mode=0o700, exist_ok=True)
    write_private(cache, _ENCODE(summary))


def _ceil_hour(moment: str) -> str:
    parsed = datetime.strptime(moment, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    floor = parsed.replace(minute=0, second=0, microsecond=0)
    if floor != parsed:
        floor += timedelta(hours=1)
    return floor.strftime("%Y-%m-%dT%H:00:00.000Z")


def hour_window(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """[since, until) widened to whole UTC hours."""
    return (None if since is None else since[:13] + ":00:00.000Z",
            None if until is None else _ceil_hour(until))


def _selected(summary: FileSummary, since: str | None, until: str | None) -> list[Row] | None:
    """The summary's rows inside the hour-widened window; None if its hours are broken."""
    first, last = summary.first_time, summary.last_time
    if first is None or last is None:
        return []
    if (since is not None and last < since) or (until is not None and first >= until):
        return []
    if (since is None or first >= since) and (until is None or last < until):
        return summary.totals
    try:
        rows = _HOURS.decode(summary.hours)
    except msgspec.DecodeError:
        return None
    if not _sound(rows, len(summary.dims)):
        return None
    low = None if since is None else since[:13]
    return [row for row in rows
            if (low is None or row.hour >= low)
            and (until is None or row.hour + ":00:00.000Z" < until)]


def _add_cached(usage: Usage, summary: FileSummary, rows: list[Row]) -> None:
    usage.other_events += summary.other_events
    usage.unreadable += summary.unreadable
    usage.odd += summary.odd
    dims = summary.dims
    for row in rows:
        usage.add_row(dims[row.dim], row)
        usage.records += row.requests


def collect(active: Path, cache_dir: Path | None, *, since: str | None = None,
            until: str | None = None) -> Usage:
    """Sum the request log: rotated files through their caches (whole hours), the active
    file exactly. `since`/`until` are record time strings; `cache_dir` None: no cache.

    A gateway served with --workers N wrote one chain per worker (files.py): every
    chain is summed."""
    usage = Usage()
    found = [_add_chain(usage, chain, cache_dir, since, until)
             for chain in [active, *worker_chains(active)]]
    if not any(found):
        raise NoLogError(f"no request log at {active} (audit.path in gateway.toml, else "
                         "<home>/requests.jsonl; the gateway writes it with [audit] "
                         "enabled)")
    return usage


def _add_chain(usage: Usage, active: Path, cache_dir: Path | None, since: str | None,
               until: str | None) -> bool:
    """Add one chain's files to `usage`; False if it has none."""
    try:
        active_handle: BinaryIO | None = open_log(active)
    except FileNotFoundError:
        active_handle = None
    try:
        # Listed after the active file is open: a file rotated in between is the one
        # already open, recognised by its inode, and read once.
        rotated = rotated_files(active)
        if active_handle is not None:
            mine = os.fstat(active_handle.fileno())
            rotated = [p for p in rotated if not _same_file(p, mine)]
        if active_handle is None and not rotated:
            return False
        _add_rotated_files(usage, rotated, cache_dir, *hour_window(since, until))
        if active_handle is not None:
            _add_partial(usage, _scan_active(active_handle.fileno(), since, until))
            usage.files.append((active.name, "scanned"))
    finally:
        if active_handle is not None:
            active_handle.close()
    return True


def lines_in(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The lines between two offsets (newlines dropped), read with pread so that forked
    workers sharing the descriptor do not share a file position. A last line without a
    newline is yielded too: half a record is an unreadable line, not nothing."""
    pos, rest = start, b""
    while pos < end:
        chunk = os.pread(fd, min(_READ, end - pos), pos)
        if not chunk:
            break
        pos += len(chunk)
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _line_starts(fd: int, size: int, parts: int) -> list[int]:
    """Offsets that cut the file into about `parts` ranges, each at the start of a line."""
    starts = [0]
    for i in range(1, parts):
        pos = max(size * i // parts, starts[-1])
        while pos < size:
            chunk = os.pread(fd, _CHUNK, pos)
            cut = chunk.find(b"\n")
            if cut >= 0:
                pos += cut + 1
                break
            pos += len(chunk)
        starts.append(min(pos, size))
    return starts


def _scan_range(fd: int, start: int, end: int, since: str | None,
                until: str | None) -> Partial:
    return scan(lines_in(fd, start, end), since=since, until=until, hourly=False)


def _scan_active(fd: int, since: str | None, until: str | None) -> Partial:
    """The active file up to its size now (lines appended meanwhile wait for the next run),
    split between worker processes when it is big enough."""
    size = os.fstat(fd).st_size
    workers = _workers(size, ACTIVE_PARALLEL_BYTES)
    if workers < 2:
        return _scan_range(fd, 0, size, since, until)
    starts = _line_starts(fd, size, workers)
    ends = [*starts[1:], size]
    with _pool(workers) as pool:
        parts = list(pool.map(_scan_range, [fd] * workers, starts, ends, [since] * workers,
                              [until] * workers))
    whole = parts[0]
    for part in parts[1:]:
        whole.merge(part)
    return whole


def _workers(size: int, threshold: int, tasks: int | None = None) -> int:
    """How many processes to share `size` bytes of reading: 1 below `threshold`, or
    without fork (forked workers import and run nothing again, so a frozen binary works)."""
    from multiprocessing import get_all_start_methods

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if size < threshold or cpus < 2 or "fork" not in get_all_start_methods():
        return 1
    return cpus if tasks is None else min(cpus, tasks)


def _pool(workers: int) -> ProcessPoolExecutor:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork"))


def _same_file(path: Path, info: os.stat_result) -> bool:
    try:
        other = path.stat()
    except OSError:
        return False
    return (other.st_dev, other.st_ino) == (info.st_dev, info.st_ino)


def _add_partial(usage: Usage, part: Partial) -> None:
    dims, rows = part.rows()
    for row in rows:
        usage.add_row(dims[row.dim], row)
    usage.records += part.records
    usage.other_events += part.other_events
    usage.unreadable += part.unreadable
    usage.odd += part.odd


def _from_cache(path: Path, cache_dir: Path | None, since: str | None,
                until: str | None) -> tuple[FileSummary, list[Row]] | None:
    """The file's summary and rows in the window from its cache, when the cache is good."""
    if cache_dir is None:
        return None
    with _open_rotated(path) as handle:
        summary = read_cache(cache_dir / f"{path.name}.json", file_key(handle, path))
    rows = None if summary is None else _selected(summary, since, until)
    return None if summary is None or rows is None else (summary, rows)


def open_log(path: Path) -> BinaryIO:
    """A log file opened for reading, never through a symbolic link, never a non-file:
    what a link points at is not the gateway's log. FileNotFoundError passes through."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise
    except OSError as err:
        why = "it is a symbolic link" if path.is_symlink() else err.strerror
        raise GatewayError(f"cannot read the request log {path} ({why})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise GatewayError(f"the request log {path} is not a regular file")
    return os.fdopen(fd, "rb")


def _open_rotated(path: Path) -> BinaryIO:
    try:
        return open_log(path)
    except FileNotFoundError:
        raise GatewayError(f"the rotated request log {path} disappeared while being "
                           "read") from None


def _summarise_path(path: Path, cache_dir: Path | None) -> tuple[bytes, str | None]:
    """Summarise a file and write its cache: (the summary encoded, a warning or None).
    Bytes, not the struct, so a worker process hands back what the cache holds."""
    with _open_rotated(path) as handle:
        encoded = _ENCODE(summarise(handle, file_key(handle, path)))
    if cache_dir is None:
        return encoded, None
    cache = cache_dir / f"{path.name}.json"
    try:
        cache.parent.mkdir(mode=0o700, exist_ok=True)
        write_private(cache, encoded)
    except OSError as err:
        return encoded, (f"cannot write the stats cache {cache} ({err.strerror}); every "
                         f"run will read {path.name} again")
    return encoded, None


def _summarise_all(paths: list[Path], cache_dir: Path | None) -> list[tuple[bytes, str | None]]:
    """Summarise files, in worker processes when there is enough to share between cores."""
    workers = _workers(sum(p.stat().st_size for p in paths), PARALLEL_BYTES, len(paths))
    if workers < 2:
        return [_summarise_path(p, cache_dir) for p in paths]
    with _pool(workers) as pool:
        return list(pool.map(_summarise_path, paths, [cache_dir] * len(paths)))


def _add_rotated_files(usage: Usage, rotated: list[Path], cache_dir: Path | None,
                       since: str | None, until: str | None) -> None:
    found: dict[Path, tuple[FileSummary, list[Row], str]] = {}
    for path in rotated:
        hit = _from_cache(path, cache_dir, since, until)
        if hit is not None:
            found[path] = (*hit, "cache")
    pending = [p for p in rotated if p not in found]
    for path, (encoded, warning) in zip(pending, _summarise_all(pending, cache_dir),
                                        strict=True):
        summary = _SUMMARY.decode(encoded)
        found[path] = (summary, _selected(summary, since, until) or [], "summarised")
        if warning is not None:
            usage.warnings.append(warning)
    for path in rotated:
        summary, rows, how = found[path]
        _add_cached(usage, summary, rows)
        usage.files.append((path.name, how))
