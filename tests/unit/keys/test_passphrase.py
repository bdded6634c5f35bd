"""Passphrase sources: a pipe, a private key file, a terminal, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway_cli.keys.passphrase import MAX_BYTES, read_passphrase
from gateway_cli.keys.store import StoreError

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture
def pipe_with() -> Iterator[Callable[[bytes], int]]:
    """A read end holding `data` then EOF, as `--passphrase-fd 3 3<file` would give."""
    opened: list[int] = []

    def make(data: bytes) -> int:
        read_end, write_end = os.pipe()
        os.write(write_end, data)
        os.close(write_end)
        opened.append(read_end)
        return read_end

    yield make
    for fd in opened:
        os.close(fd)


def key_file(tmp_path: Path, data: bytes, mode: int) -> Path:
    path = tmp_path / "passphrase"
    path.write_bytes(data)
    path.chmod(mode)
    return path


def test_fd_reads_to_eof_and_strips_one_newline(pipe_with: Callable[[bytes], int]) -> None:
    cases = {PASSPHRASE + b"\n": PASSPHRASE, b" pw \n\n": b" pw \n", b"pw\r\n": b"pw",
             b"pw": b"pw"}
    for data, expected in cases.items():
        assert read_passphrase(f"fd:{pipe_with(data)}", interactive=False) == expected


def test_fd_is_left_open_for_its_owner(pipe_with: Callable[[bytes], int]) -> None:
    fd = pipe_with(PASSPHRASE)
    read_passphrase(f"fd:{fd}", interactive=False)
    os.fstat(fd)  # still open: closing it is the caller's business


@pytest.mark.parametrize("data", [b"", b"\n"])
def test_fd_empty_is_refused(pipe_with: Callable[[bytes], int], data: bytes) -> None:
    with pytest.raises(StoreError, match="is empty"):
        read_passphrase(f"fd:{pipe_with(data)}", interactive=False)


def test_fd_too_long_is_refused(tmp_path: Path) -> None:
    """A descriptor pointing at a data file by mistake is refused, not read whole."""
    big = key_file(tmp_path, b"x" * (MAX_BYTES + 10), 0o600)
    fd = os.open(big, os.O_RDONLY)
    try:
        with pytest.raises(StoreError, match="longer than"):
            read_passphrase(f"fd:{fd}", interactive=False)
    finally:
        os.close(fd)


def test_fd_not_open_or_not_a_number() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    os.close(write_end)
    with pytest.raises(StoreError, match=rf"file descriptor {read_end} \(OSError\)"):
        read_passphrase(f"fd:{read_end}", interactive=False)
    with pytest.raises(StoreError, match="needs a file descriptor number"):
        read_passphrase("fd:three", interactive=False)


def test_private_key_file(tmp_path: Path) -> None:
    path = key_file(tmp_path, PASSPHRASE + b"\n", 0o600)
    assert read_passphrase(f"file:{path}", interactive=False) == PASSPHRASE


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, PASSPHRASE, mode)
    with pytest.raises(StoreError) as info:
        read_passphrase(f"file:{path}", interactive=False)
    message = str(info.value)
    assert f"run: chmod 600 {path}" in message and PASSPHRASE.decode() not in message


@pytest.mark.parametrize("data", [b"", b"\n"])
def test_empty_key_file_is_refused(tmp_path: Path, data: bytes) -> None:
    path = key_file(tmp_path, data, 0o600)
    with pytest.raises(StoreError, match="is empty"):
        read_passphrase(f"file:{path}", interactive=False)


def test_missing_key_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        read_passphrase(f"file:{tmp_path / 'nope'}", interactive=False)
    tmp_path.joinpath("dir").mkdir(mode=0o700)
    with pytest.raises(StoreError, match="not a regular file"):
        read_passphrase(f"file:{tmp_path / 'dir'}", interactive=False)


@pytest.mark.parametrize("spec", [None, "prompt"])
def test_prompt_refused_when_not_interactive(spec: str | None) -> None:
    with pytest.raises(StoreError) as info:
        read_passphrase(spec, interactive=False, confirm=True)
    assert "--passphrase-fd N or --passphrase-file PATH" in str(info.value)


def test_prompt_without_a_terminal() -> None:
    """No controlling terminal and stdin not a tty: both the auto and the forced prompt refuse."""
    code = """
from gateway_cli.keys.passphrase import read_passphrase
from gateway_cli.keys.store import StoreError
for interactive in (None, True):
    try:
        read_passphrase("prompt", interactive=interactive)
    except StoreError as err:
        print(err)
"""
    result = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=30, check=False,
                            start_new_session=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout + result.stderr
    assert lines[0].startswith("cannot prompt for the secrets passphrase without a terminal")
    assert lines[1].startswith("cannot prompt for the secrets passphrase: no terminal")
    assert all("--passphrase-fd N or --passphrase-file PATH" in line for line in lines)


@pytest.mark.parametrize("spec", ["hunter2", "env:GW_PASS", "file:", "pass:hunter2"])
def test_unknown_source_is_not_echoed(spec: str) -> None:
    """A passphrase typed where the source belongs must not end up in an error message."""
    with pytest.raises(StoreError) as info:
        read_passphrase(spec, interactive=False)
    assert "hunter2" not in str(info.value) and "GW_PASS" not in str(info.value)
    assert "--passphrase-fd N" in str(info.value)
