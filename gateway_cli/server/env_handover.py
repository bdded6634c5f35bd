"""`env:` secrets leave no trace in the serving process's environment block.

Removing a variable from `os.environ` does not remove it from the block the
kernel shows as `/proc/<pid>/environ`, which any process of the same user can
read for as long as the gateway runs. So when an `env:` secret is present,
`gateway serve` re-executes itself at once, before it does anything else,
with those variables removed from the new environment and their values
handed over through a pipe (only the descriptor's number is in the
environment; nothing is in argv). The new process image reads the pipe and
closes it; its environment block never held the secrets.

Limit: in the one-file release binary the bootloader is a parent process
that keeps the original environment; use `store:` secrets there (or the
one-directory build).
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterable

from gateway_cli.errors import StartupError

FD_VARIABLE = "GATEWAY_ENV_SECRETS_FD"
_MAX = 60 * 1024  # below a pipe's capacity, so the write never blocks before the exec


def env_names(references: Iterable[str | None]) -> list[str]:
    names = []
    for reference in references:
        scheme, _, name = (reference or "").partition(":")
        if scheme == "env" and name:
            names.append(name)
    return names


def _argv() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, *sys.argv[1:]]
    return [sys.executable, "-m", "gateway_cli", *sys.argv[1:]]


def reexec_without(names: Iterable[str]) -> None:
    """Re-execute this command without the named variables, their values in a pipe.

    Returns only when there is nothing to hand over (or on a system without exec).
    """
    if os.name != "posix" or FD_VARIABLE in os.environ:
        return
    present = {name: os.environ[name] for name in names if os.environ.get(name)}
    if not present:
        return
    data = json.dumps(present).encode()
    if len(data) > _MAX:
        raise StartupError("the env: secrets are too large to hand over; use store: secrets")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, data)
    finally:
        os.close(write_end)
    os.set_inheritable(read_end, True)
    env = {k: v for k, v in os.environ.items() if k not in present}
    env[FD_VARIABLE] = str(read_end)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, _argv(), env)  # noqa: S606 - this same program, no shell


def receive() -> dict[str, str]:
    """The values handed over by the process this one replaced (empty if none)."""
    fd_text = os.environ.pop(FD_VARIABLE, None)
    if fd_text is None:
        return {}
    try:
        fd = int(fd_text)
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise ValueError("not a pipe")  # never read a terminal or a file named this way
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        os.close(fd)
        values = json.loads(b"".join(chunks))
    except (ValueError, OSError):
        raise StartupError("the env: secrets handed over at start-up could not be read") \
            from None
    if not isinstance(values, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise StartupError("the env: secrets handed over at start-up are malformed")
    return values


def parent_keeps_environment() -> bool:
    """True in the one-file binary: its launcher (the bootloader) is a parent process that
    holds the environment block it was started with for as long as the gateway runs."""
    from gateway_cli.supply import selfcheck

    return selfcheck.is_frozen() and selfcheck.mode() == "onefile"
