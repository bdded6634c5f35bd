"""Verify a rotated request log as the one chain it is, across all its files.

Rotation splits the chain, not the rules: seq and prev continue from the last
record of one file to the first of the next, so a deleted or truncated middle
file shows as a break at the start of the file after it, and a rotated file's
name must agree with its first record. Two things are not problems:

- The oldest file may start after seq 0, once retention has deleted older
  files: that is reported as `starts_at`, and what remains is still checked.
- The active file may end with a partial line, which a crash mid-write leaves
  (and the writer cuts at its next start, recording it). It is reported with
  where the log ends, because whole records cut from the end of the active
  file cannot be told from a log that simply ends there: the MAC covers each
  record, not their count, so the end is printed for comparison with what
  was expected (the gateway's `written` counter, the last request's time).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway_cli.auditlog import files
from gateway_cli.auditlog.chain import AuditError, Checker


@dataclass(frozen=True)
class LogEnd:
    """The last well-formed record: where a reader should expect the log to end."""

    seq: int
    time: str
    file: Path
    line: int


@dataclass(frozen=True)
class LogReport:
    files: list[Path]
    records: int  # lines read, well-formed or not
    signed: int
    unverifiable: int  # signed with a kid not among the keys given (a retired key)
    problems: list[str]  # one line each, naming the file, line and seq
    starts_at: int | None  # the first record's seq when it is not 0 (older files removed)
    end: LogEnd | None
    partial_bytes: int  # a partial last line of the active file: a crash while writing

    @property
    def ok(self) -> bool:
        return not self.problems

    def where_it_ends(self) -> str:
        if self.end is None:
            text = "the log holds no record"
        else:
            text = (f"the log ends at seq {self.end.seq} ({self.end.time}), "
                    f"{self.end.file.name} line {self.end.line}")
        if self.partial_bytes:
            text += (f", followed by a partial record of {self.partial_bytes} bytes: a crash "
                     "while writing")
        return text


def verify_log(active: Path, keys: Mapping[str, bytes]) -> LogReport:
    """Check every file of the log at `active` as one chain; AuditError if there is none."""
    paths = files.log_files(active)
    if not paths and not active.is_symlink():
        raise AuditError(f"there is no request log at {active}")
    if active.is_symlink() and active not in paths:
        paths.append(active)
    checker = Checker(keys, start_anywhere=True)
    problems = checker.problems
    end: LogEnd | None = None
    partial = 0
    for path in paths:
        is_active = path == active
        named = files.first_seq_of(path, active)
        first = True
        count = 0
        for number, line in _lines(path, problems):
            count += 1
            where = f"{path.name} line {number}"
            if is_active and not line.endswith(b"\n"):
                partial = len(line)
                break
            record = checker.line(line, where)
            first, was_first = False, first
            if record is None:
                continue
            seq = record["seq"]
            assert isinstance(seq, int)
            if was_first and named is not None and seq != named:
                problems.append(f"{where} (seq {seq}): the file's name says it starts at seq "
                                f"{named} (renamed, or records removed from its start)")
            end = LogEnd(seq, str(record["time"]), path, number)
        if count == 0 and not is_active and not _unreadable(path):
            problems.append(f"{path.name}: empty (a rotated file holds at least one record: "
                            "its records were removed)")
    starts_at = checker.first_seq if checker.first_seq else None
    return LogReport(files=paths, records=checker.records,
                     signed=checker.signed, unverifiable=checker.unverifiable,
                     problems=problems, starts_at=starts_at, end=end, partial_bytes=partial)


def _unreadable(path: Path) -> bool:
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        return True
    return not stat.S_ISREG(info.st_mode)


def _lines(path: Path, problems: list[str]) -> Iterator[tuple[int, bytes]]:
    """The file's lines, numbered; a file that is not a safe regular file is a problem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        why = "a symbolic link, not the log" if path.is_symlink() else err.strerror
        problems.append(f"{path.name}: cannot be read ({why})")
        return
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        problems.append(f"{path.name}: not a regular file")
        return
    with os.fdopen(fd, "rb") as handle:
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            problems.append(f"{path.name}: can be written by other users (run: chmod 600 "
                            f"{path}); the gateway refuses to write it")
        try:
            yield from enumerate(handle, start=1)
        except OSError as err:
            problems.append(f"{path.name}: read failed ({err.strerror})")
