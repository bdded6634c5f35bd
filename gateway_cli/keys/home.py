"""Where the gateway keeps its state on this machine.

Client-key hashes, the key index, the encrypted secret store and the
control sockets of running gateways live in one directory that only its
owner can enter. A directory that others can write to would let another
user plant a client key or a control socket, so such a directory is refused
rather than repaired silently.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gateway_cli.errors import GatewayError


class HomeError(GatewayError):
    """The state directory is missing, unsafe or unusable."""


def default_home() -> Path:
    explicit = os.environ.get("GATEWAY_HOME")
    if explicit:
        return Path(explicit).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data).expanduser() if data else Path.home() / ".local" / "share"
    return base / "gateway"


def gateway_home(explicit: Path | None = None, *, create: bool = True) -> Path:
    """The state directory, created 0700 when missing; refused when others can write to it."""
    home = (explicit or default_home()).expanduser().absolute()
    if create:
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise HomeError(f"cannot create the gateway's state directory {home} "
                            f"({err.strerror})") from None
    try:
        info = home.stat()
    except FileNotFoundError:
        return home
    if not stat.S_ISDIR(info.st_mode):
        raise HomeError(f"{home} is not a directory; set GATEWAY_HOME or --home elsewhere")
    if os.name == "posix":
        if info.st_uid != os.getuid():
            raise HomeError(f"{home} belongs to another user; the gateway's state must be "
                            "its own user's")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise HomeError(f"{home} can be written by other users; run: chmod 700 {home}")
        if info.st_mode & 0o077 and create:
            # Readable by others (e.g. made by hand with the usual 0755): the client-key
            # index and sockets inside are nobody else's business. Ours, so tightened.
            try:
                os.chmod(home, 0o700)
            except OSError as err:
                raise HomeError(f"cannot make {home} private ({err.strerror}); run: "
                                f"chmod 700 {home}") from None
    return home


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with a 0600 file, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_new_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file at `path`; an existing file or link there is never replaced."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
    except FileExistsError:
        raise HomeError(f"{path} already exists; choose a new file name") from None
    except OSError as err:
        raise HomeError(f"cannot create {path} ({err.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
