"""Where the encrypted file store's passphrase comes from: a terminal, a descriptor or a key file.

The passphrase itself is never accepted on the command line or from an
environment variable: argv is visible to every user through `ps` and
/proc, and the environment is inherited by every child process and often
logged. A pipe (`fd:N`), a 0600 key file (`file:PATH`) or a hidden prompt on
the terminal leave no such copies. Error messages never repeat the source
string when it is not understood, since it may be a passphrase typed into
the wrong flag.
"""

from __future__ import annotations

import getpass
import os
import stat
import sys
import warnings
from pathlib import Path

from gateway_cli.keys.store import StoreError

MAX_BYTES = 64 * 1024
NO_TTY_HINT = "pass it with --passphrase-fd N or --passphrase-file PATH"


def read_passphrase(spec: str | None, *, interactive: bool | None,
                    confirm: bool = False) -> bytes:
    """The passphrase from `spec` ("prompt"/None, "fd:N" or "file:PATH"), never empty.

    `interactive=None` means "prompt only if stdin is a terminal"; `confirm` asks
    twice, for a new file, so a typo does not lock the secrets away.
    """
    if spec is None or spec == "prompt":
        return _prompt(interactive=interactive, confirm=confirm)
    kind, _, rest = spec.partition(":")
    if kind == "fd":
        return _from_fd(_fd_number(rest))
    if kind == "file" and rest:
        return _from_file(Path(rest))
    raise StoreError("unknown passphrase source; use prompt, --passphrase-fd N "
                     "or --passphrase-file PATH")


def _strip_newline(data: bytes) -> bytes:
    """Drop the one newline `echo` or an editor adds; any other whitespace is the passphrase's."""
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def _fd_number(text: str) -> int:
    if not text.isdigit():
        raise StoreError("--passphrase-fd needs a file descriptor number, e.g. --passphrase-fd 3")
    return int(text)


def _from_fd(fd: int) -> bytes:
    """Read to EOF without closing: the descriptor belongs to whoever opened it."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= MAX_BYTES:
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as err:
        raise StoreError(f"cannot read the passphrase from file descriptor {fd} "
                         f"({type(err).__name__}); is it open in this process?") from None
    return _checked(b"".join(chunks), f"file descriptor {fd}")


def _from_file(path: Path) -> bytes:
    """Permissions are checked before reading, so a key file others can read is never used."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"passphrase file {path} is not a regular file")
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StoreError(f"passphrase file {path} is readable by other users; "
                             f"run: chmod 600 {path}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"passphrase file {path} does not exist") from None
    except OSError as err:
        raise StoreError(f"passphrase file {path} cannot be read ({type(err).__name__})") from None
    return _checked(data, f"passphrase file {path}")


def _checked(data: bytes, source: str) -> bytes:
    if len(data) > MAX_BYTES:
        raise StoreError(f"the passphrase from {source} is longer than {MAX_BYTES} bytes; "
                         "pass the passphrase, not a file of data")
    passphrase = _strip_newline(data)
    if not passphrase:
        raise StoreError(f"the passphrase from {source} is empty")
    return passphrase


def _prompt(*, interactive: bool | None, confirm: bool) -> bytes:
    allowed = sys.stdin.isatty() if interactive is None else interactive
    if not allowed:
        raise StoreError(f"cannot prompt for the secrets passphrase without a terminal; "
                         f"{NO_TTY_HINT}")
    first = _ask("Passphrase for the gateway secrets file: ")
    if confirm and _ask("Repeat the passphrase: ") != first:
        raise StoreError("the two passphrases did not match; nothing was created")
    return first


def _ask(prompt: str) -> bytes:
    """getpass on /dev/tty; its echoing fallback to stdin is turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", getpass.GetPassWarning)
        try:
            answer = getpass.getpass(prompt)
        except getpass.GetPassWarning:
            raise StoreError(f"cannot prompt for the secrets passphrase: no terminal to read "
                             f"it from without echo; {NO_TTY_HINT}") from None
        except EOFError:
            raise StoreError("no passphrase was entered") from None
    if not answer:
        raise StoreError("an empty passphrase is not allowed")
    return answer.encode("utf-8")
