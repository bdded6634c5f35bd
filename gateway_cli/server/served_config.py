"""Which gateway.toml the workers serve, so that a restarted worker serves it too.

A worker forked again after a death (workers.py) starts from the parent, which
read gateway.toml once at start; the other workers may have reloaded it since
(`gateway reload`, SIGHUP). Each worker that reloads records the digest of the
configuration it now serves in `<home>/run/served-config`, and a restarted
worker compares: when the file on disk is the configuration recorded there, it
loads it as the others did; when the file changed since and was not reloaded,
it keeps the configuration read at start and says so (the others serve yet
another one; `gateway reload` makes them all agree).

The record is a digest of the parsed configuration, not a secret (gateway.toml
holds references to secrets, never their values), written atomically in the
0700 run directory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import msgspec

from gateway_cli.config import Config
from gateway_cli.keys.notify import run_dir

_NAME = "served-config"


def digest(config: Config) -> str:
    return hashlib.sha256(msgspec.json.encode(config)).hexdigest()


def record(home: Path, config: Config) -> None:
    """Say that this configuration is the one served from now on."""
    directory = run_dir(home)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{_NAME}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(digest(config) + "\n")
        os.replace(temporary, directory / _NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def recorded(home: Path) -> str | None:
    """The digest of the configuration the workers last reloaded (None: none did)."""
    try:
        text = (home / "run" / _NAME).read_text().strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    return text if len(text) == 64 else None


def forget(home: Path) -> None:
    """At start: the workers serve what the parent read, whatever an earlier run reloaded."""
    (home / "run" / _NAME).unlink(missing_ok=True)
