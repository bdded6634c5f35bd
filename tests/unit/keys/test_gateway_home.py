"""The state directory's permissions and the new-file writer (keys/home.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gateway_cli.keys.home import HomeError, gateway_home, write_new_private


def test_an_existing_readable_home_is_made_private(tmp_path: Path) -> None:
    home = tmp_path / "state"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    assert gateway_home(home) == home
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_a_home_others_can_write_is_refused_not_repaired(tmp_path: Path) -> None:
    home = tmp_path / "state"
    home.mkdir()
    home.chmod(0o777)
    with pytest.raises(HomeError, match="can be written by other users"):
        gateway_home(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o777


def test_a_new_home_is_private(tmp_path: Path) -> None:
    home = gateway_home(tmp_path / "a" / "b")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_write_new_private_never_replaces(tmp_path: Path) -> None:
    target = tmp_path / "tokens.json"
    write_new_private(target, b"one")
    assert target.read_bytes() == b"one"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(HomeError, match="already exists"):
        write_new_private(target, b"two")
    assert target.read_bytes() == b"one"
    elsewhere = tmp_path / "elsewhere"
    link = tmp_path / "link.json"
    os.symlink(elsewhere, link)  # a dangling link: O_EXCL refuses it too
    with pytest.raises(HomeError):
        write_new_private(link, b"three")
    assert not elsewhere.exists()
