"""Where a rotated log lives: the active file and the files rotated out of it.

The request log is one chain spread over several files. The active file is
the configured path (`requests.jsonl`); when it is rotated (by size or day)
it is renamed to `<stem>-<first seq, 12 digits><suffix>` in the same
directory, so a plain name sort is the order of the chain, and the next
record in the new active file continues the chain (seq and prev) from the
last record of the file rotated out.
"""

from __future__ import annotations

import re
from pathlib import Path

SEQ_DIGITS = 12


def rotated_name(active: Path, first_seq: int) -> Path:
    """The name `active` takes when rotated out, its first record being `first_seq`."""
    return active.with_name(f"{active.stem}-{first_seq:0{SEQ_DIGITS}d}{active.suffix}")


def _rotated_pattern(active: Path) -> re.Pattern[str]:
    return re.compile(re.escape(active.stem) + rf"-(\d{{{SEQ_DIGITS}}})"
                      + re.escape(active.suffix))


def rotated_files(active: Path) -> list[Path]:
    """The files rotated out of `active`, oldest first (by the seq in their names)."""
    pattern = _rotated_pattern(active)
    try:
        names = [p for p in active.parent.iterdir() if pattern.fullmatch(p.name)]
    except FileNotFoundError:
        return []
    return sorted(names, key=lambda p: p.name)


def log_files(active: Path) -> list[Path]:
    """Every file of the log in chain order: the rotated ones, then the active one if any."""
    files = rotated_files(active)
    if active.exists():
        files.append(active)
    return files


def first_seq_of(path: Path, active: Path) -> int | None:
    """The first seq a rotated file's name promises; None for the active file."""
    match = _rotated_pattern(active).fullmatch(path.name)
    return int(match.group(1)) if match else None


def request_log_path(configured: str | None, home: Path) -> Path:
    """The active request log: `audit.path` in gateway.toml, else `<home>/requests.jsonl`."""
    return Path(configured).expanduser() if configured else home / "requests.jsonl"


# `gateway serve --workers N`: each worker process writes a chain of its own (one writer
# per file, so no two processes ever interleave records of one chain). Worker 1 writes
# the configured file; worker k writes `<stem>.worker<k><suffix>` beside it, rotated the
# same way (`<stem>.worker<k>-<seq><suffix>`).
_WORKER_INFIX = ".worker"


def worker_log_path(active: Path, worker: int) -> Path:
    """The active file of worker `worker`'s chain."""
    if worker == 1:
        return active
    return active.with_name(f"{active.stem}{_WORKER_INFIX}{worker}{active.suffix}")


def _other_workers(active: Path) -> list[int]:
    pattern = re.compile(re.escape(active.stem + _WORKER_INFIX) + r"([2-9]|[1-9]\d{1,3})"
                         + rf"(?:-\d{{{SEQ_DIGITS}}})?" + re.escape(active.suffix))
    try:
        found = {int(m.group(1)) for p in active.parent.iterdir()
                 if (m := pattern.fullmatch(p.name))}
    except FileNotFoundError:
        return []
    return sorted(found)


def worker_chains(active: Path) -> list[Path]:
    """The active files (existing or only rotated out) of the chains workers 2, 3, ...
    wrote beside `active`, in worker order."""
    return [worker_log_path(active, worker) for worker in _other_workers(active)]


def every_chain(active: Path) -> list[tuple[int, Path]]:
    """(worker, active file) of each chain that has a file: worker 1's (the configured
    path) first, then the others in worker order."""
    first = [(1, active)] if log_files(active) else []
    return first + [(w, worker_log_path(active, w)) for w in _other_workers(active)]
