"""Small JSON state files that several gateway commands may update at once.

`gateway clients create` in one terminal and `gateway rotate-keys` in
another must not lose each other's changes, and a running gateway reloading
the file must never read half of it. Updates therefore run under an
exclusive lock on a sidecar file, read the current contents, and replace the
file atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from gateway_cli.errors import GatewayError
from gateway_cli.keys.home import write_private

T = TypeVar("T")


class StateError(GatewayError):
    """A state file is unreadable, corrupt or unsafe."""


@contextlib.contextmanager
def _locked(path: Path, exclusive: bool) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def _read(path: Path, empty: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        info = path.stat()
        raw = path.read_bytes()
    except FileNotFoundError:
        return empty()
    except OSError as err:
        raise StateError(f"cannot read {path} ({err.strerror})") from None
    if os.name == "posix" and info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateError(f"{path} can be written by other users; run: chmod 600 {path}")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise StateError(f"{path} is not valid JSON (edited by hand or corrupted); "
                         "restore it from a backup or remove it") from None
    if not isinstance(data, dict) or data.get("version") != 1:
        raise StateError(f"{path} has an unknown format (expected version 1)")
    return data


def load(path: Path, empty: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    if not path.parent.is_dir():  # nothing was ever stored here: do not create anything
        return empty()
    with _locked(path, exclusive=False):
        return _read(path, empty)


def update(path: Path, empty: Callable[[], dict[str, Any]],
           change: Callable[[dict[str, Any]], T]) -> T:
    """Apply `change` to the current contents under the lock and write the result."""
    with _locked(path, exclusive=True):
        data = _read(path, empty)
        result = change(data)
        write_private(path, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n")
        return result
