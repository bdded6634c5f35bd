"""The ELF stub checks of the release binary, on PyInstaller's own Linux bootloader."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gateway_cli.supply.elf_stub import NotElf, elf_end, loaded_digest
from tests.conftest import require_program

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ELF")


def _bootloader() -> Path:
    import PyInstaller
    from PyInstaller import PLATFORM

    return Path(PyInstaller.__file__).parent / "bootloader" / PLATFORM / "run"


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return loaded_digest(handle)


def _end(path: Path) -> int:
    with path.open("rb") as handle:
        return elf_end(handle)


def test_attaching_an_archive_as_a_section_keeps_the_loaded_digest(tmp_path: Path) -> None:
    """What PyInstaller does on Linux: objcopy --add-section pydata=PKG."""
    objcopy = require_program("objcopy")
    exe = tmp_path / "exe"
    shutil.copy2(_bootloader(), exe)
    archive = tmp_path / "pkg"
    archive.write_bytes(b"MEI archive " * 50_000)
    subprocess.run([objcopy, "--add-section", f"pydata={archive}", str(exe)], check=True)
    assert _digest(exe) == _digest(_bootloader())
    assert _end(exe) == exe.stat().st_size  # the section is inside the ELF


def test_appended_bytes_are_past_the_end(tmp_path: Path) -> None:
    exe = tmp_path / "exe"
    shutil.copy2(_bootloader(), exe)
    size = exe.stat().st_size
    assert _end(exe) == size
    with exe.open("ab") as handle:
        handle.write(b"\0" * 1234)
    assert _end(exe) == size
    assert _digest(exe) == _digest(_bootloader())


def test_a_changed_byte_in_loaded_data_changes_the_digest(tmp_path: Path) -> None:
    exe = tmp_path / "exe"
    data = bytearray(_bootloader().read_bytes())
    where = data.index(b"Failed to extract %s")
    data[where] ^= 0x01
    exe.write_bytes(bytes(data))
    assert _digest(exe) != _digest(_bootloader())


@pytest.mark.parametrize("content", [b"", b"#!/bin/sh\necho hi\n", b"\x7fELF\x01\x01" + b"\0" * 80,
                                     b"\x7fELF\x02\x01" + b"\0" * 20])
def test_anything_else_is_not_elf(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    with path.open("rb") as handle, pytest.raises(NotElf):
        loaded_digest(handle)
