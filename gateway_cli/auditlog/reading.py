"""Reading the request log for people: its last records, following it, one line each.

The log may be large (rotated at 100 MB by default) and written while it is
read, so the last records are read backwards from the end, and following it
reads only what was added, switching to the new active file when the
gateway rotates (after finishing the old one, whose last batch may have
landed just before the rename). What is printed for a person has its
control characters replaced: the log is data, and a tampered one must not
be able to drive the terminal.

A gateway served with --workers N wrote one chain per worker: the `*_all`
functions read every chain and merge their records by time (each chain is
in time order already; a line that is not a record keeps its place after the
record before it in its own chain).
"""

from __future__ import annotations

import heapq
import json
import os
import stat
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway_cli.auditlog import files
from gateway_cli.auditlog.chain import AuditError
from gateway_cli.auditlog.records import REQUEST_EVENTS

_CHUNK = 65536
_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)


def open_log_file(path: Path) -> int:
    """A log file opened for reading: never through a symbolic link, never a non-file."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise AuditError(f"there is no request log at {path}") from None
    except OSError as err:
        why = "it is a symbolic link" if path.is_symlink() else err.strerror
        raise AuditError(f"cannot read the request log {path} ({why})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AuditError(f"the request log {path} is not a regular file")
    return fd


def last_lines(fd: int, end: int, count: int) -> list[bytes]:
    """Up to `count` whole lines ending at offset `end`, read backwards, oldest first."""
    found: list[bytes] = []
    rest = b""
    pos = end
    while pos > 0 and len(found) < count:
        step = min(_CHUNK, pos)
        pos -= step
        block = os.pread(fd, step, pos) + rest
        parts = block.split(b"\n")
        rest = parts[0]
        for part in reversed(parts[1:]):
            if part and len(found) < count:
                found.append(part + b"\n")
    if pos == 0 and rest and len(found) < count:
        found.append(rest + b"\n")
    found.reverse()
    return found


def tail(active: Path, count: int) -> tuple[list[bytes], int | None, int]:
    """The last `count` lines across the log's files, and the active file's fd and end
    (the active file is left open so following it starts exactly where this ended)."""
    paths = files.log_files(active)
    if not paths:
        raise AuditError(f"there is no request log at {active}")
    found: list[bytes] = []
    fd: int | None = None
    end = 0
    for path in reversed(paths):
        here = open_log_file(path)
        size = os.fstat(here).st_size
        if path == active:
            size = _whole(here, size)
            fd, end = here, size
        try:
            if len(found) < count:
                found[:0] = last_lines(here, size, count - len(found))
        finally:
            if here != fd:
                os.close(here)
    return found, fd, end


def _whole(fd: int, size: int) -> int:
    """The end of the last whole line: a partial one is still being written."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    lines = last_lines(fd, size, 1)
    return size - len(lines[0]) + 1 if lines else 0


class _Followed:
    """One chain being followed: its open file, how far it was read, a partial line."""

    def __init__(self, active: Path, fd: int, position: int) -> None:
        self.active, self.fd, self.position, self.pending = active, fd, position, b""

    def step(self, emit: Callable[[bytes], None]) -> bool:
        """Emit what was added since the last step; True if anything was read."""
        data = os.pread(self.fd, _CHUNK, self.position)
        if data:
            self.position += len(data)
            self.pending = _emit_lines(self.pending + data, emit)
            return True
        if not _same_file(self.active, self.fd):
            while data := os.pread(self.fd, _CHUNK, self.position):  # the last batch
                self.position += len(data)
                self.pending = _emit_lines(self.pending + data, emit)
            fresh = _next_file(self.active, self.fd)
            if fresh >= 0:
                os.close(self.fd)
                self.fd, self.position, self.pending = fresh, 0, b""
                return True
        return False

    def close(self) -> None:
        os.close(self.fd)


def follow(active: Path, fd: int, position: int, emit: Callable[[bytes], None],
           stop: Callable[[], bool], poll: float = 0.2) -> None:
    """Emit each whole line added to the log from `position` on, until `stop()`."""
    follow_all([(active, fd, position)], lambda _, line: emit(line), stop, poll)


def follow_all(chains: list[tuple[Path, int, int]], emit: Callable[[int, bytes], None],
               stop: Callable[[], bool], poll: float = 0.2,
               discover: Callable[[], list[tuple[Path, int, int]]] | None = None) -> None:
    """Follow several chains (active file, open fd, position) at once: emit(k, line) for
    each whole line added to the k-th, until `stop()`. `discover()`, asked before each
    round, returns chains begun since (a gateway started again with more workers):
    they are followed too, numbered on from the last."""
    followed = [_Followed(*chain) for chain in chains]
    try:
        while True:
            if discover is not None:
                followed += [_Followed(*chain) for chain in discover()]
            busy = False
            for k, one in enumerate(followed):
                while one.step(lambda line, k=k: emit(k, line)):  # type: ignore[misc]
                    busy = True
            if busy:
                continue
            if stop():
                return
            time.sleep(poll)
    finally:
        for one in followed:
            one.close()


def _next_file(active: Path, fd: int) -> int:
    """The file after the one open at `fd`, which was rotated out (-1: none yet).

    Several rotations may have happened since the last look: the next file is
    the one after this one in chain order, not necessarily the active one.
    """
    paths = files.log_files(active)
    here = [i for i, path in enumerate(paths) if _same_file(path, fd)]
    candidates = paths[here[0] + 1:] if here else paths[-1:]
    for path in candidates:
        try:
            return os.open(path, _READ_FLAGS)
        except FileNotFoundError:  # rotated or removed meanwhile: try the next
            continue
    return -1


def _emit_lines(data: bytes, emit: Callable[[bytes], None]) -> bytes:
    *whole, rest = data.split(b"\n")
    for line in whole:
        emit(line + b"\n")
    return rest


def _same_file(path: Path, fd: int) -> bool:
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)


def records(active: Path) -> Iterator[tuple[bytes, dict[str, object] | None]]:
    """Every line of the log in chain order, with its record (None: not a record)."""
    paths = files.log_files(active)
    if not paths:
        raise AuditError(f"there is no request log at {active}")
    for path in paths:
        with os.fdopen(open_log_file(path), "rb") as handle:
            for line in handle:
                if line.endswith(b"\n"):
                    yield line, parse(line)


def parse(line: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("data"), dict):
        return None
    return value


def clean(text: str) -> str:
    """`text` without control or formatting characters (escapes, bidi overrides)."""
    return "".join("?" if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def describe(line: bytes) -> str:
    """One line a person reads: who asked which model, what happened, at what cost."""
    record = parse(line)
    if record is None:
        return "(not a record: run `gateway log verify`)"
    data = record["data"]
    assert isinstance(data, dict)
    head = f"{record.get('time')} "
    if record.get("event") not in REQUEST_EVENTS:
        return clean(head + f"{record.get('event')} "
                     + json.dumps(data, sort_keys=True, separators=(",", ":")))

    def field(name: str) -> str:
        value = data.get(name)
        return "-" if value is None else str(value)

    tokens = f"{field('input_tokens')}/{field('output_tokens')} tok"
    cost = data.get("cost")
    latency = data.get("latency_ms")
    parts = [field("id"), field("principal"), field("model"), field("deployment"),
             field("status"),
             f"{latency:.0f}ms" if isinstance(latency, int | float) else "-ms",
             tokens, f"${cost:.6f}" if isinstance(cost, int | float) else "$-",
             field("verdict")]
    if data.get("dropped"):
        parts.append(f"(+{data['dropped']} dropped before)")
    return clean(head + " ".join(parts))


def record_time(line: bytes) -> str | None:
    """The time a record line was written, as the log spells it (None: not a record)."""
    record = parse(line)
    stamp = record.get("time") if record is not None else None
    return stamp if isinstance(stamp, str) else None


def _timed(lines: list[bytes]) -> list[str]:
    """Each line's sort time: its record's, else the time of the line before it."""
    keys, last = [], ""
    for line in lines:
        last = record_time(line) or last
        keys.append(last)
    return keys


Tagged = tuple[int, bytes]  # (worker, line)


def tail_all(active: Path, count: int) -> tuple[list[Tagged], list[tuple[Path, int, int]],
                                                  int]:
    """The last `count` lines across every worker's chain, merged by time, each with its
    worker; the chains' active files (path, fd, end) to follow; how many chains."""
    chains = files.every_chain(active)
    if not chains:
        raise AuditError(f"there is no request log at {active}")
    merged: list[tuple[str, int, int, bytes]] = []
    open_files: list[tuple[Path, int, int]] = []
    try:
        for worker, path in chains:
            lines, fd, end = tail(path, count)
            if fd is not None:
                open_files.append((path, fd, end))
            merged += [(key, worker, n, line)
                       for n, (key, line) in enumerate(zip(_timed(lines), lines, strict=True))]
    except BaseException:
        for _, fd, _ in open_files:
            os.close(fd)
        raise
    merged.sort()
    chosen = merged[-count:] if count else []
    return [(worker, line) for _, worker, _, line in chosen], open_files, len(chains)


def records_all(active: Path) -> Iterator[tuple[int, bytes, dict[str, object] | None]]:
    """Every line of every worker's chain, merged by time: (worker, line, record)."""
    chains = files.every_chain(active)
    if not chains:
        raise AuditError(f"there is no request log at {active}")

    def keyed(worker: int, path: Path) -> Iterator[tuple[str, int, int, bytes,
                                                         dict[str, object] | None]]:
        last = ""
        for n, (line, record) in enumerate(records(path)):
            stamp = record.get("time") if record is not None else None
            last = stamp if isinstance(stamp, str) else last
            yield last, worker, n, line, record

    for _, worker, _, line, record in heapq.merge(*(keyed(w, p) for w, p in chains)):
        yield worker, line, record
