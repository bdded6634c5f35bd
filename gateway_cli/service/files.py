"""What `gateway service install` writes, where, and how it is taken back.

Install writes one file (the unit or plist) and records its path and SHA-256
in `<home>/service.json`, so uninstall removes exactly that file, and only
while it is still what install wrote: a unit someone edited since is theirs
now, and is removed only with --force. A file install did not write is never
replaced without --force either. Directories install had to create are
recorded too and removed when they are empty again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway_cli.errors import GatewayError
from gateway_cli.keys.home import write_private

MANIFEST = "service.json"
Manager = Literal["systemd", "launchd"]


class ServiceFileError(GatewayError):
    """A unit file cannot be written or removed safely; nothing was changed."""


def default_unit_dir(manager: Manager, user: bool) -> Path:
    if manager == "launchd":
        return Path.home() / "Library" / "LaunchAgents" if user else Path("/Library/LaunchDaemons")
    if not user:
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME")
    return (Path(config).expanduser() if config else Path.home() / ".config") / "systemd" / "user"


def file_name(manager: Manager, name: str, label: str) -> str:
    return f"{label}.plist" if manager == "launchd" else f"{name}.service"


def manifest_key(manager: Manager, user: bool, name: str) -> str:
    return f"{manager}:{'user' if user else 'system'}:{name}"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One installed service as the manifest records it."""

    path: Path
    sha256: str
    created_dirs: tuple[Path, ...]
    label: str

    def to_json(self) -> dict[str, object]:
        return {"path": str(self.path), "sha256": self.sha256,
                "created_dirs": [str(d) for d in self.created_dirs], "label": self.label,
                "installed": int(time.time())}

    @classmethod
    def from_json(cls, raw: object, where: Path) -> Entry:
        try:
            assert isinstance(raw, dict)
            return cls(Path(raw["path"]), str(raw["sha256"]),
                       tuple(Path(d) for d in raw.get("created_dirs", [])),
                       str(raw.get("label", "")))
        except (AssertionError, KeyError, TypeError):
            raise ServiceFileError(f"{where}: damaged entry; remove the unit by hand and "
                                   "the entry from that file") from None


def read_manifest(home: Path) -> dict[str, object]:
    path = home / MANIFEST
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ServiceFileError(f"{path}: cannot be read as the service manifest "
                               f"({type(err).__name__})") from None
    services = raw.get("services") if isinstance(raw, dict) else None
    if not isinstance(services, dict):
        raise ServiceFileError(f"{path}: not a service manifest (no \"services\" table)")
    return services


def find(home: Path, key: str) -> Entry | None:
    raw = read_manifest(home).get(key)
    return None if raw is None else Entry.from_json(raw, home / MANIFEST)


def _save(home: Path, services: dict[str, object]) -> None:
    path = home / MANIFEST
    if not services:
        path.unlink(missing_ok=True)
        return
    write_private(path, json.dumps({"version": 1, "services": services}, indent=1,
                                   sort_keys=True).encode() + b"\n")


def current_digest(path: Path) -> str | None:
    try:
        return digest(path.read_bytes())
    except FileNotFoundError:
        return None
    except OSError as err:
        raise ServiceFileError(f"cannot read {path} ({err.strerror})") from None


def check_target(path: Path, previous: Entry | None, *, force: bool) -> str | None:
    """Why writing `path` would clobber someone else's file, or None when it is ours to write."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return f"{path} exists and is not a regular file; remove it by hand"
    found = current_digest(path)
    if found is None or force:
        return None
    if previous is None or previous.path != path:
        return (f"{path} already exists and was not written by `gateway service install`; "
                "pass --force to replace it")
    if found != previous.sha256:
        return (f"{path} was changed since `gateway service install` wrote it; "
                "pass --force to replace it")
    return None


def install(home: Path, key: str, path: Path, text: str, label: str, *,
            force: bool) -> bool:
    """Write the unit and record it; True when a file was replaced."""
    services = read_manifest(home)
    previous = find(home, key)
    if previous is not None and previous.path != path:
        raise ServiceFileError(f"this service is already installed as {previous.path}; run "
                               "`gateway service uninstall` first; nothing was written")
    problem = check_target(path, previous, force=force)
    if problem:
        raise ServiceFileError(problem + "; nothing was written")
    created = _make_dirs(path.parent)
    if previous is not None and previous.path == path:
        created = previous.created_dirs + created  # still ours to remove
    replaced = path.exists()
    data = text.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # systemd and launchd read units as their own users: world-readable, as units are;
        # a unit holds no secret (the renderers never put one in).
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        _remove_empty(created)
        raise ServiceFileError(f"cannot write {path} ({err.strerror}); nothing was "
                               "written") from None
    services[key] = Entry(path, digest(data), created, label).to_json()
    _save(home, services)
    return replaced


def uninstall(home: Path, key: str, *, force: bool) -> tuple[Entry, bool]:
    """Remove what install wrote; (entry, whether the file was still there)."""
    entry = find(home, key)
    if entry is None:
        raise ServiceFileError(f"{home / MANIFEST} records no service {key.split(':')[-1]!r} "
                               f"({key.split(':')[1]} scope); nothing was removed")
    found = current_digest(entry.path)
    if found is not None and found != entry.sha256 and not force:
        raise ServiceFileError(f"{entry.path} was changed since `gateway service install` "
                               "wrote it; pass --force to remove it anyway; nothing was "
                               "removed")
    if found is not None:
        try:
            entry.path.unlink()
        except OSError as err:
            raise ServiceFileError(f"cannot remove {entry.path} ({err.strerror})") from None
    _remove_empty(entry.created_dirs)
    services = read_manifest(home)
    services.pop(key, None)
    _save(home, services)
    return entry, found is not None


def _make_dirs(directory: Path) -> tuple[Path, ...]:
    missing: list[Path] = []
    probe = directory
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    try:
        for each in reversed(missing):
            each.mkdir(mode=0o755)
    except OSError as err:
        _remove_empty(tuple(reversed(missing)))
        raise ServiceFileError(f"cannot create {directory} ({err.strerror}); nothing was "
                               "written") from None
    return tuple(reversed(missing))


def _remove_empty(created: tuple[Path, ...]) -> None:
    """Deepest first; a directory someone has put something in since stays."""
    for directory in sorted(created, key=lambda d: len(d.parts), reverse=True):
        with contextlib.suppress(OSError):
            directory.rmdir()
