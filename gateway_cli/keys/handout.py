"""Handing many client tokens out without a terminal seeing them: one file per key.

`gateway rotate-keys --output-dir DIR` writes DIR/<name>.token (the token
alone) for each key it issues, and DIR/manifest.csv (name, owner, contact,
file, expiry: no token) for the operator's mail-merge. Everything is 0700 or
0600 and created new; the directory is opened once, without following links,
and every file is made relative to it, so a link swapped in after the check
cannot redirect a token.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway_cli.errors import GatewayError
from gateway_cli.keys.clients import Client

MANIFEST = "manifest.csv"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class HandoutError(GatewayError):
    """The token directory cannot be used; no token has been issued yet when it is raised
    by `check` or `open_dir`."""


def check(path: Path) -> None:
    """Refuse, before anything changes, a directory that would mix a new handout with
    old files or lead somewhere else."""
    if path.is_symlink():
        raise HandoutError(f"{path} is a symbolic link; tokens go only to a real directory")
    if path.exists():
        if not path.is_dir():
            raise HandoutError(f"{path} exists and is not a directory")
        if any(path.iterdir()):
            raise HandoutError(f"{path} is not empty; tokens go only to a new or empty "
                               "directory")


def open_dir(path: Path) -> int:
    """A descriptor of `path`, made 0700 (created if absent), checked empty once opened."""
    check(path)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as err:
        raise HandoutError(f"cannot create {path} ({err.strerror})") from None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise HandoutError(f"cannot open {path} ({err.strerror})") from None
    try:
        if os.listdir(fd):
            raise HandoutError(f"{path} is not empty; tokens go only to a new or empty "
                               "directory")
        os.fchmod(fd, 0o700)
        if stat.S_IMODE(os.fstat(fd).st_mode) != 0o700:
            raise HandoutError(f"{path} cannot be made private (0700)")
    except OSError as err:
        os.close(fd)
        raise HandoutError(f"cannot use {path} ({err.strerror})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def file_names(clients: Sequence[Client]) -> list[str]:
    """`<name>.token` for each (names hold only letters, digits, '-', '_' and '.', so no
    separator). A name starting with '-' or '.' gets a '_' first: such a file reads as an
    option to `cat` or hides from `ls`. A name that clashes with an earlier one, case
    aside (a case-insensitive file system would merge them), gets its id as well."""
    seen: set[str] = set()
    names = []
    for client in clients:
        stem = "_" + client.name if client.name.startswith(("-", ".")) else client.name
        name = f"{stem}.token"
        if name.casefold() in seen:
            name = f"{stem}.{client.id}.token"
        seen.add(name.casefold())
        names.append(name)
    return names


def cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula gets a '."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def manifest(clients: Sequence[Client], files: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "owner", "contact", "file", "expires"])
    for client, name in zip(clients, files, strict=True):
        expires = "" if client.expires is None else datetime.fromtimestamp(
            client.expires, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow([cell(v) for v in (client.name, client.owner or "",
                                           client.contact or "", name, expires)])
    return out.getvalue().encode()


def _write(dir_fd: int, name: str, data: bytes, where: Path) -> None:
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dir_fd)
    except OSError as err:
        raise HandoutError(f"cannot create {where / name} ({err.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as err:
        raise HandoutError(f"cannot write {where / name} ({err.strerror})") from None


def write(dir_fd: int, where: Path, issued: Sequence[tuple[Client, str]]) -> list[str]:
    """Each token to its own 0600 file, then the manifest; the file names, in order."""
    clients = [client for client, _ in issued]
    files = file_names(clients)
    for (_, token), name in zip(issued, files, strict=True):
        _write(dir_fd, name, token.encode() + b"\n", where)
    _write(dir_fd, MANIFEST, manifest(clients, files), where)
    os.fsync(dir_fd)
    return files
