"""The request log's writer: one background thread, one file, batches of records.

The gateway writes a record per request, so the request path must not wait
for a disk: `submit` only appends to a deque (and wakes the thread when it
sleeps), which costs well under a microsecond on the event loop. The thread
takes what has queued, encodes it as one batch (chain.encode_batch) and
writes it with one write and one fsync, so the per-request cost is the
encoding alone, and under load the fsync is shared by every record that
arrived while the previous one ran.

Why it is shaped this way:

- One writer per log: the thread holds an exclusive flock on the active file
  for the writer's life, and a second gateway configured with the same log
  fails at start instead of interleaving a second chain into it.
- A crash can leave a partial last line. Unlike `chain.append`, which refuses
  to build on it, the writer must come back up on its own: it cuts the
  partial bytes and writes a signed `log.resumed` record saying how many were
  lost after which seq, so the loss is in the log rather than hidden.
- Rotation links the full file to its rotated name, then renames a new, already
  locked file over the active name: the active name always exists and is
  always locked, so a gateway starting meanwhile cannot take it over. A crash
  between the two steps is finished at the next start.
- A failed write is retried with the records kept; the caller sees it through
  `healthy` and `depth` (and, with on_full = "block", `has_room`), and the log
  says why without any record content.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from gateway_cli.auditlog import files
from gateway_cli.auditlog.chain import (
    EMPTY,
    MAX_LINE,
    AuditError,
    ChainTail,
    SigningKey,
    encode_batch,
    read_tail,
    tail_after,
)

log = logging.getLogger("gateway.audit")

Record = tuple[str, Mapping[str, object], float]
RESUMED_EVENT = "log.resumed"
_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
_CHUNK = 65536
_LINE_START = b'{"data":'  # every canonical record line starts so (its keys are sorted)


class AuditWriter:
    """Writes submitted records to the chained request log from a background thread."""

    def __init__(self, path: Path, key: SigningKey | None, *, queue: int,
                 on_full: Literal["block", "drop"], rotate_bytes: int | None,
                 rotate_daily: bool, flush_interval: float = 0.05, max_batch: int = 1024,
                 clock: Callable[[], float] = time.time) -> None:
        if queue < 1 or max_batch < 1 or flush_interval <= 0:
            raise ValueError("queue, max_batch and flush_interval must be positive")
        self.path = path
        self._key = key
        self._limit = queue
        self._hard_limit = 2 * queue
        self._drop = on_full == "drop"
        self._rotate_bytes = rotate_bytes
        self._rotate_daily = rotate_daily
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._clock = clock
        self._queue: deque[Record] = deque()
        self._pending: list[Record] = []  # taken from the queue, not yet written
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._key_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._fd = -1
        self._tail = EMPTY
        self._size = 0  # bytes of whole records in the active file
        self._first_seq = 0  # of the active file, for its rotated name
        self._closing = False
        self._abandon = False
        self._closed: bool | None = None
        # Each counter has a single writing thread: submit's caller or the writer.
        self._drops_submitted = 0
        self._drops_recorded = 0
        self._written = self._batches = self._errors = self._refused = 0
        self._healthy = True

    # ------------------------------------------------------------------ the caller's side

    def submit(self, event: str, data: Mapping[str, object], when: float) -> bool:
        """Queue one record; False when it was dropped (queue full with on_full="drop").

        Meant for one thread (the event loop): the drop counter is a plain int.
        """
        queue = self._queue
        # Under "block" the caller stops admitting requests at the limit, but the records
        # of the requests it refuses still come: past twice the limit they are dropped
        # (and counted), so a flood while the disk is stuck cannot grow memory for ever.
        if self._closing or len(queue) >= (self._limit if self._drop else self._hard_limit):
            self._drops_submitted += 1
            return False
        queue.append((event, data, when))
        if not self._wake.is_set():
            self._wake.set()
        return True

    def has_room(self) -> bool:
        """Whether a new request may be admitted (on_full="block" answers 503 otherwise)."""
        return len(self._queue) + len(self._pending) < self._limit

    def set_key(self, key: SigningKey | None) -> None:
        """Sign the records submitted from now on with `key` (after a key rotation)."""
        with self._key_lock:
            if key is None and (self._key is not None or self._tail.signed):
                raise AuditError(f"the request log {self.path} is signed; an unsigned record "
                                 "would read as a stripped signature")
            self._key = key

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def written(self) -> int:
        return self._written

    @property
    def batches(self) -> int:
        return self._batches

    @property
    def dropped(self) -> int:
        return self._drops_submitted

    @property
    def refused(self) -> int:
        """Records the chain refused to encode (not JSON): a bug in the caller, logged."""
        return self._refused

    @property
    def errors(self) -> int:
        return self._errors

    @property
    def depth(self) -> int:
        return len(self._queue) + len(self._pending)

    # ------------------------------------------------------------------ start and close

    def start(self) -> None:
        """Open and lock the log, repair a crash's partial line, start the thread."""
        if self._fd >= 0 or self._closed is not None:
            raise AuditError("the request log writer was already started")
        fd = _open_locked(self.path)
        try:
            self._resume(fd)
        except BaseException:
            if self._fd >= 0 and self._fd != fd:
                os.close(self._fd)
            os.close(fd)
            self._fd = -1
            raise
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> bool:
        """Write everything queued, stop the thread, release the log; True if nothing was lost."""
        if self._closed is not None:
            return self._closed
        self._closing = True
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # the disk keeps failing: give up on what is left
                self._abandon = True
                thread.join(5.0)
        lost = self.depth
        if lost:
            log.error("the request log %s: %d record(s) could not be written before shutdown",
                      self.path, lost)
        if self._fd >= 0 and (thread is None or not thread.is_alive()):
            os.close(self._fd)  # releases the lock
            self._fd = -1
        self._closed = lost == 0
        return self._closed

    def _resume(self, fd: int) -> None:
        self._fd = fd
        size = os.fstat(fd).st_size
        whole = _whole_size(fd, size, self.path)
        rotated = [p for p in files.rotated_files(self.path)
                   if not _same_file(p, fd)]  # a link left by an unfinished rotation
        tail = read_tail_of(fd, whole, self.path) if whole else _last_tail(rotated)
        if self._key is None and tail.signed:
            raise AuditError(f"the request log {self.path} is signed; pass the audit signing "
                             "key (an unsigned record would read as a stripped signature)")
        self._tail = tail
        self._size = whole
        self._first_seq = _first_seq(fd, whole, self.path) if whole else tail.seq
        if whole < size:
            os.ftruncate(fd, whole)
            os.fsync(fd)
            log.warning("the request log %s ended with a partial record of %d bytes (a crash "
                        "while writing); it was cut and the cut recorded", self.path,
                        size - whole)
            after = tail.seq - 1 if tail.seq else None
            self._pending = [(RESUMED_EVENT, {"dropped_bytes": size - whole,
                                              "after_seq": after}, self._clock())]
            if not self._write_pending():
                raise AuditError(f"cannot write to the request log {self.path}")
        if whole and files.rotated_name(self.path, self._first_seq).exists() and _same_file(
                files.rotated_name(self.path, self._first_seq), fd):
            self._rotate()  # a crash between the link and the rename: finish it

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        failures = 0
        last = 0.0  # when the last batch was taken
        while not self._abandon:
            if not self._pending and not self._queue:
                if self._closing:
                    return
                self._wake.wait(self._flush_interval)
                self._wake.clear()
                continue
            # Let a batch gather for up to flush_interval after the last one: writing each
            # record as it came cost a wake-up, a write and an fsync per request (measured:
            # ~0.8 ms of CPU per request on the proxy bench). A crash loses at most this much.
            due = last + self._flush_interval - time.monotonic()
            if due > 0 and not self._closing and self.depth < self._max_batch:
                self._stop.wait(due)
            last = time.monotonic()
            self._take()
            if not self._pending:
                continue
            if self._write_pending():
                failures = 0
                continue
            failures += 1
            pause = min(1.0, self._flush_interval * 2 ** min(failures, 10))
            if self._closing:
                time.sleep(min(pause, 0.1))
            else:
                self._stop.wait(pause)

    def _take(self) -> None:
        queue, pending, room = self._queue, self._pending, self._max_batch - len(self._pending)
        while room > 0 and queue:
            pending.append(queue.popleft())
            room -= 1

    def _write_pending(self) -> bool:
        """Write the pending records as one batch; False (records kept) on an OS error."""
        drops = self._drops_submitted - self._drops_recorded
        try:
            if self._rotation_due():
                self._rotate()
            data, tail, count = self._encode(drops)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except (OSError, AuditError) as err:
            self._errors += 1
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no partial batch left behind
            if self._healthy:
                log.error("cannot write the request log %s (%s); %d record(s) kept, retrying",
                          self.path, _why(err), self.depth)
            self._healthy = False
            return False
        self._tail = tail
        self._size += len(data)
        self._written += count
        self._batches += 1
        if count:  # else the drop count waits for a record to carry it
            self._drops_recorded += drops
        self._pending.clear()
        if not self._healthy:
            log.warning("the request log %s is written again", self.path)
            self._healthy = True
        return True

    def _encode(self, drops: int) -> tuple[bytes, ChainTail, int]:
        with self._key_lock:
            key = self._key
        try:
            encoded, tail = encode_batch(self._tail, _with_drops(self._pending, drops), key,
                                         trusted=True)
            return encoded, tail, len(self._pending)
        except AuditError:
            pass
        # A record the chain refuses is a bug in the caller: write the others, the drop
        # count riding on the first of them.
        parts: list[bytes] = []
        tail = self._tail
        for record in self._pending:
            try:
                part, tail = encode_batch(tail, _with_drops([record], drops if not parts
                                                            else 0), key, trusted=True)
            except AuditError as err:
                self._refused += 1
                log.error("a request record was refused by the audit chain (%s); not written",
                          err)
                continue
            parts.append(part)
        return b"".join(parts), tail, len(parts)

    def _rotation_due(self) -> bool:
        if self._size == 0:
            return False
        if self._rotate_bytes is not None and self._size >= self._rotate_bytes:
            return True
        if self._rotate_daily:
            today = time.strftime("%Y-%m-%d", time.gmtime(self._clock()))
            return self._tail.time[:10] != today
        return False

    def _rotate(self) -> None:
        """Move the active file to its rotated name and continue the chain in a new one."""
        target = files.rotated_name(self.path, self._first_seq)
        with contextlib.suppress(FileExistsError):  # linked before a crash: finish
            os.link(self.path, target, follow_symlinks=False)
        if not _same_file(target, self._fd):
            raise AuditError(f"cannot rotate the request log {self.path}: {target.name} "
                             "exists and is another file")
        fresh = self.path.with_name(f".{self.path.name}.new")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(fresh)  # left by a crash; we hold the log's lock, so it is ours
        fd = os.open(fresh, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(fresh, self.path)
        except BaseException:
            os.close(fd)
            raise
        _fsync_dir(self.path.parent)
        os.close(self._fd)
        self._fd = fd
        self._size = 0
        self._first_seq = self._tail.seq
        log.info("the request log was rotated to %s", target)


def _with_drops(records: list[Record], drops: int) -> list[Record]:
    """The records, the first one saying how many were dropped before it, if any were."""
    if not drops or not records:
        return records
    event, data, when = records[0]
    return [(event, {**data, "dropped": drops}, when), *records[1:]]


# --------------------------------------------------------------------------- files

def _open_locked(path: Path) -> int:
    """The active file, opened 0600 for appending and exclusively locked, or AuditError."""
    for _ in range(5):
        created = True
        try:
            try:
                fd = os.open(path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                created = False
                fd = os.open(path, _FLAGS)
        except OSError as err:
            raise AuditError(f"cannot open the request log {path} ({err.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise AuditError(f"the request log {path} is not a regular file")
            if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                raise AuditError(f"the request log {path} can be written by other users; "
                                 f"run: chmod 600 {path}")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AuditError(f"the request log {path} is in use by another gateway "
                                 "(it holds the lock); give each gateway its own "
                                 "[audit] path") from None
            if created:
                _fsync_dir(path.parent)
            if _same_file(path, fd):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # rotated away while we waited for the lock: open the new one
    raise AuditError(f"the request log {path} keeps being replaced; is another gateway "
                     "rotating it?")


def _why(err: Exception) -> str:
    return (err.strerror or type(err).__name__) if isinstance(err, OSError) else str(err)


def _same_file(path: Path, fd: int) -> bool:
    try:
        there = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    here = os.fstat(fd)
    return (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _whole_size(fd: int, size: int, path: Path) -> int:
    """The size up to the last newline: what is left once a crash's partial line is cut.

    Only bytes that can be the start of a record are cut (every line begins
    with `{"data":`), so a file that is not a request log is refused, not
    truncated.
    """
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    pos = size
    whole = 0
    while pos > 0:
        step = min(_CHUNK, pos)
        pos -= step
        cut = os.pread(fd, step, pos).rfind(b"\n")
        if cut >= 0:
            whole = pos + cut + 1
            break
    partial = os.pread(fd, min(size - whole, len(_LINE_START)), whole)
    if size - whole > MAX_LINE or not _LINE_START.startswith(partial):
        raise AuditError(f"the request log {path} ends with {size - whole} bytes that are "
                         "not a record cut short: it is not a request log, or it is corrupt; "
                         "check it with `gateway log verify`")
    return whole


def read_tail_of(fd: int, size: int, path: Path) -> ChainTail:
    """The chain's tail from the first `size` bytes of the file open at `fd`."""
    if size == os.fstat(fd).st_size:
        return read_tail(fd, path)
    start = max(0, size - MAX_LINE - 1)
    block = os.pread(fd, size - start, start)
    cut = block.rfind(b"\n", 0, len(block) - 1)
    return tail_after(block[cut + 1:], path)


def _last_tail(rotated: list[Path]) -> ChainTail:
    """Where the chain stands when the active file is empty: the last rotated file's end."""
    if not rotated:
        return EMPTY
    newest = rotated[-1]
    try:
        fd = os.open(newest, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        raise AuditError(f"cannot read the rotated request log {newest} "
                         f"({err.strerror})") from None
    try:
        return read_tail(fd, newest)
    finally:
        os.close(fd)


def _first_seq(fd: int, size: int, path: Path) -> int:
    """The seq of the file's first record, which names the file when it is rotated."""
    head = b""
    while b"\n" not in head and len(head) < min(size, MAX_LINE + 1):
        more = os.pread(fd, _CHUNK, len(head))
        if not more:
            break
        head += more
    line = head[:head.find(b"\n") + 1]
    if not line:
        raise AuditError(f"the first line of the request log {path} is not a record")
    return tail_after(line, path).seq - 1
