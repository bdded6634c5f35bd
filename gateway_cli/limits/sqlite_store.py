"""Counters in a SQLite file: spend that survives a restart, shared by the processes of one host.

A monthly budget kept in memory starts afresh whenever the gateway does;
kept here it does not. One table, one row per slot (counter + window). A
reservation is one `BEGIN IMMEDIATE` transaction, which takes the file's
write lock before reading: it reads every slot, checks, and writes every new
value, so two processes sharing the file (or two stores in one) are
serialised and cannot both take the last of a limit. The lock is held for
tens of microseconds; a writer that finds it taken waits up to
`busy_timeout` seconds, then the store reports itself unavailable.

Writers first take turns on a side file (`<file>.lock`, an flock) and only then
ask SQLite for its lock. SQLite's own wait sleeps 1, 2, 5, 10... ms between tries,
which is fine for an occasional meeting and ruinous for the workers of
`serve --workers N`, which meet at the lock hundreds of times a second: two
workers served fewer requests than one (bench/README.md, "2026-12-07: two workers
with limits"). The turn is asked for without blocking and again every 50 µs, so a
meeting costs about one transaction's time; a holder that never lets go (a
stopped process) still ends in `StoreUnavailable` after `busy_timeout`.

The calls are made inline on the event loop rather than in a thread: a
reservation takes well under 100 µs (bench/limits/README.md), less than a
hop to a worker thread and back would. WAL with synchronous=NORMAL means a
commit does not wait for the disk; what a power cut may lose is the last
moments of counting, never the file's consistency.

The file holds only counter names and numbers, but is created 0600 like the
rest of the state directory (SQLite gives its -wal and -shm files the same
mode). Expired rows are deleted at open and every SWEEP_EVERY reservations.
There is no index on expires_at: keeping one up to date cost more on every
reservation (about 25 µs, measured) than the occasional full scan of a table
whose size is the slots in use.

A request's settlement (its tokens corrected to the reported usage, its place in
flight given back) is not a transaction of its own: `adjust_soon` queues it, and
the next transaction of this store applies it first, before anything else reads
the counters: the next reservation's (so this process never decides on counts
without it), or a flush at most SETTLE_DELAY later when no reservation comes. A
busy gateway then writes one transaction per request instead of two (the file
locks, the WAL write and the GIL given up and taken back by each statement were
most of what SQLite cost on the served path: bench/limits/README.md). Other
processes sharing the file see a settlement up to SETTLE_DELAY late; `usage`
and `close` apply what is queued first.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from gateway_cli.limits import outcome
from gateway_cli.limits.model import Counter, Granted, Held, Refused, StoreUnavailable
from gateway_cli.limits.outcome import SLACK

log = logging.getLogger("gateway.limits")

SWEEP_EVERY = 1000
# The page size of a file this store creates (SQLite's default is 4096; an existing file
# keeps its own). A reservation rewrites the page of its slots, and every commit appends
# that whole page to the WAL, checksums it and, at a checkpoint, has the kernel write it
# out: the counters are a few short rows per party, so a quarter of the page carries
# them as well, and each request writes and checksums a quarter of the bytes
# (bench/limits/README.md, session 11: 3.5-6 µs of CPU less per request in process; no
# dearer with 40,000 rows in the table).
PAGE_SIZE = 1024
TURN_POLL = 50e-6  # seconds between tries for the writers' turn while another holds it
# Seconds a queued settlement waits for a reservation to carry it before it is written on
# its own: how late another process sharing the file may see it.
SETTLE_DELAY = 0.002
# Settlements queued at most; past this they are written at once (a store that keeps
# failing must not hold an unbounded queue).
QUEUED_AT_MOST = 10_000
# Builds a NamedTuple without the Python-level __new__ of its class (half the time).
_new = tuple.__new__
_UPDATE = "UPDATE counters SET value = max(0.0, value + ?) WHERE slot = ?"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    slot TEXT PRIMARY KEY,
    value REAL NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""
_SWEEP = "DELETE FROM counters WHERE expires_at <= ?"


@functools.cache
def _upsert(n: int) -> str:
    """One statement writing `n` slots (cheaper than n executions of one row)."""
    rows = ",".join(["(?,?,?)"] * n)
    return (f"INSERT INTO counters (slot, value, expires_at) VALUES {rows} "  # noqa: S608
            f"ON CONFLICT (slot) DO UPDATE SET value = excluded.value, "
            f"expires_at = excluded.expires_at")


@functools.cache
def _select(n: int) -> str:
    """One row: each of `n` slots' value (?2 ... ?n+1), NULL when it has no row or the row
    expired at ?1.

    A point look-up per slot, each a scalar subquery, rather than `slot IN (...)`: SQLite
    builds an ephemeral table for an IN list first, and that form counted 2.4 times the
    instructions of point look-ups for three slots; one row rather than a UNION ALL of
    rows fetches (and lets go of the GIL) once (bench/limits/README.md, session 10)."""
    look = "(SELECT value FROM counters WHERE slot = ?{} AND expires_at > ?1)"
    return "SELECT " + ", ".join(look.format(i + 2) for i in range(n))  # numbers only


def _create_private(path: Path) -> None:
    """Create `path` 0600 if it does not exist; tighten it if it does (it is ours)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                 0o600)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class _Turn:
    """The writers' turn: an exclusive flock on the side file, polled (see the module)."""

    def __init__(self, path: Path, patience: float) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                          | getattr(os, "O_CLOEXEC", 0), 0o600)
        if stat.S_IMODE(os.fstat(self.fd).st_mode) & 0o077:
            os.fchmod(self.fd, 0o600)
        self.patience = patience

    def take(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        deadline = time.monotonic() + self.patience
        while True:
            time.sleep(TURN_POLL)
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(
                        f"another process held the writers' turn for {self.patience:g} s"
                    ) from None

    def give(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self.fd)


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 2.0) -> None:
        self.path = Path(path)
        try:
            _create_private(self.path)
            self._turn = _Turn(self.path.with_name(self.path.name + ".lock"), busy_timeout)
        except OSError as exc:
            raise StoreUnavailable(f"sqlite store {self.path}: cannot open: {exc}") from exc
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as exc:
            self._turn.close()
            raise StoreUnavailable(f"sqlite store {self.path}: cannot open: {exc}") from exc
        # One cursor for the statements of every request: Connection.execute makes a cursor
        # per statement (about 1k instructions each, made and freed). Each statement's rows
        # are read before the next runs on it.
        self._cur = self._db.cursor()
        self._since_sweep = 0
        # Settlements not written yet (see the module), in the order they came; what to
        # tell when writing them failed; the flush timer while one is armed.
        self._queued: list[tuple[Held, float]] = []
        self._on_failure: Callable[[StoreUnavailable], None] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        try:
            with self._failures("open"):
                self._prepare(busy_timeout)
            self.sweep(time.time())
        except StoreUnavailable:
            self._db.close()
            self._turn.close()
            raise

    def _prepare(self, busy_timeout: float) -> None:
        """WAL mode and the tables. Several processes opening one new file at once (the
        workers of `serve --workers N`) can find it locked: switching the journal mode takes
        an exclusive lock and SQLite answers "database is locked" at once rather than
        waiting, so that step is retried until the busy timeout. WAL is a property of the
        file, so whoever comes second usually finds it already set."""
        deadline = time.monotonic() + busy_timeout
        pause = 0.01
        while True:
            try:
                mode = self._db.execute("PRAGMA journal_mode").fetchone()
                if not mode or str(mode[0]).lower() != "wal":
                    # Only a file without content takes a page size: before WAL is set,
                    # which writes the header. Ignored by SQLite for an existing file.
                    self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
                    self._db.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) \
                        or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.2)
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(_SCHEMA)

    @contextlib.contextmanager
    def _failures(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise StoreUnavailable(f"sqlite store {self.path}: {doing}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._failures(doing):
            self._turn.take()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                self._turn.give()

    def _unavailable(self, doing: str, exc: sqlite3.Error) -> StoreUnavailable:
        """What `_failures` does, for the two calls of every request, which spell it out
        (two generator-based context managers cost them some 5 µs, a tenth of the store)."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        return StoreUnavailable(f"sqlite store {self.path}: {doing}: {exc}")

    def _read(self, db: sqlite3.Connection | sqlite3.Cursor,
              where: Sequence[tuple[str, float]], now: float) -> list[float]:
        if not where:
            return []
        # A slot without a row, or expired: nothing counted yet.
        return [0.0 if value is None else value
                for value in db.execute(_select(len(where)),
                                        (now, *[s for s, _ in where])).fetchone()]

    async def reserve(self, counters: Sequence[Counter], now: float) -> Granted | Refused:
        outcome.check_amounts(counters)
        if not counters:
            return Granted((), ())
        return await self.reserve_at(counters, outcome.slots(counters, now), now)

    async def reserve_at(self, counters: Sequence[Counter], where: Sequence[tuple[str, float]],
                         now: float) -> Granted | Refused:
        """`reserve` for the request path: at `where`, the counters' (slot, window end) at
        `now` as `outcome.slots` gives them (kept per window: slots.py), of counters whose
        amounts and limits the caller has checked are finite, and at least one counter."""
        db, cur = self._db, self._cur
        try:
            self._turn.take()
        except sqlite3.Error as exc:
            raise self._unavailable("reserve", exc) from exc
        queued = self._queued
        try:
            cur.execute("BEGIN IMMEDIATE")
            if queued:
                self._apply(cur, queued)
            # One pass: the check (outcome.first_without_room, in order) and what to write
            # and to answer (outcome.granted), without its zips (each as dear as a loop).
            new_values: list[float] = []
            rows: list[str | float] = []
            held: list[Held] = []
            for c, (s, end), v in zip(counters, where, self._read(cur, where, now)):  # noqa: B905
                value = v + c.amount
                if not value <= c.limit + SLACK:  # outcome.fits
                    cur.execute("COMMIT" if queued else "ROLLBACK")  # the settlements stand
                    queued.clear()
                    return outcome.refused(c, v, end, now)
                new_values.append(value)
                rows += (s, value, end)
                held.append(_new(Held, (s, c.amount, end)))
            cur.execute(_upsert(len(where)), rows)
            self._since_sweep += 1
            if self._since_sweep >= SWEEP_EVERY:
                self._since_sweep = 0
                cur.execute(_SWEEP, (now,))
            cur.execute("COMMIT")
            queued.clear()
        except sqlite3.Error as exc:
            raise self._unavailable("reserve", exc) from exc
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            self._turn.give()
        return _new(Granted, (tuple(held), counters, new_values, now))

    async def adjust(self, changes: Sequence[tuple[Held, float]]) -> None:
        outcome.check_deltas(changes)
        if not changes:
            return
        db, cur = self._db, self._cur
        try:
            self._turn.take()
        except sqlite3.Error as exc:
            raise self._unavailable("adjust", exc) from exc
        queued = self._queued
        try:
            cur.execute("BEGIN IMMEDIATE")
            if queued:
                self._apply(cur, queued)
            self._apply(cur, changes)
            cur.execute("COMMIT")
            queued.clear()
        except sqlite3.Error as exc:
            raise self._unavailable("adjust", exc) from exc
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            self._turn.give()

    @staticmethod
    def _apply(db: sqlite3.Connection | sqlite3.Cursor,
               changes: Sequence[tuple[Held, float]]) -> None:
        """Add each delta to its slot, in order, never below zero (inside a transaction).

        One UPDATE per change: one statement for all of a settlement's slots (an UPDATE
        with a CASE over `slot IN (...)`) counted more instructions than two of these."""
        for held, delta in changes:
            if db.execute(_UPDATE, (delta, held.slot)).rowcount == 0 and delta > 0:
                # Forgotten already: count what was used again, until its window ends.
                db.execute(_upsert(1), (held.slot, delta, held.expires_at))

    def adjust_soon(self, changes: Sequence[tuple[Held, float]],
                     on_failure: Callable[[StoreUnavailable], None]) -> None:
        """`adjust`, carried by this store's next transaction (see the module); called from
        the event loop. `on_failure` is told if writing them fails (they are then dropped,
        as a failed `adjust` drops them)."""
        outcome.check_deltas(changes)
        if not changes:
            return
        self._queued += changes
        self._on_failure = on_failure
        if len(self._queued) >= QUEUED_AT_MOST:
            self.flush()
        elif self._flush_timer is None:
            self._flush_timer = asyncio.get_running_loop().call_later(SETTLE_DELAY,
                                                                      self._flush_soon)

    def _flush_soon(self) -> None:
        self._flush_timer = None
        self.flush()

    def flush(self) -> None:
        """Write the queued settlements now, in a transaction of their own."""
        if not self._queued:
            return
        changes, self._queued = self._queued, []
        try:
            self._write(changes)
        except StoreUnavailable as exc:
            if self._on_failure is not None:
                self._on_failure(exc)
            else:
                log.warning("%s: %d settlements were not written", exc, len(changes))

    def _write(self, changes: Sequence[tuple[Held, float]]) -> None:
        db, cur = self._db, self._cur
        try:
            self._turn.take()
        except sqlite3.Error as exc:
            raise self._unavailable("adjust", exc) from exc
        try:
            cur.execute("BEGIN IMMEDIATE")
            self._apply(cur, changes)
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._unavailable("adjust", exc) from exc
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            self._turn.give()

    async def usage(self, counters: Sequence[Counter], now: float) -> list[float]:
        self.flush()
        with self._failures("usage"):
            return self._read(self._db, outcome.slots(counters, now), now)

    def sweep(self, now: float) -> int:
        """Delete the rows expired at `now`; how many went."""
        with self._transaction("sweep") as db:
            return db.execute(_SWEEP, (now,)).rowcount

    async def close(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self.flush()
        self._db.close()
        self._turn.close()
