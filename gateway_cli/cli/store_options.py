"""Options shared by every command that reads or writes the secret store.

The passphrase of the encrypted-file store is never an option value or an
environment variable (both end up in process listings or child processes):
it comes from a prompt, a file descriptor or a 0600 key file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def home_option(func: F) -> F:
    return click.option(
        "--home", type=click.Path(path_type=Path, file_okay=False), default=None,
        help="The gateway's state directory (client keys, key index, control sockets). "
             "Default: $GATEWAY_HOME, else $XDG_DATA_HOME/gateway, else "
             "~/.local/share/gateway.")(func)


def store_options(func: F) -> F:
    func = click.option(
        "--passphrase-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
        help="Read the encrypted store's passphrase from this 0600 file.")(func)
    func = click.option(
        "--passphrase-fd", type=click.IntRange(0), default=None, metavar="N",
        help="Read the encrypted store's passphrase from file descriptor N.")(func)
    func = click.option(
        "--secrets", "secrets_spec", default="auto", show_default=True,
        metavar="auto|keyring|file[:PATH]",
        help="Where provider secrets live: the OS keyring, or an encrypted file "
             "(default <home>/secrets.enc). auto: the keyring when usable, else an "
             "existing encrypted file.")(func)
    return home_option(func)


def passphrase_spec(passphrase_fd: int | None, passphrase_file: Path | None) -> str | None:
    if passphrase_fd is not None and passphrase_file is not None:
        raise click.UsageError("give --passphrase-fd or --passphrase-file, not both")
    if passphrase_fd is not None:
        return f"fd:{passphrase_fd}"
    if passphrase_file is not None:
        return f"file:{passphrase_file}"
    return None


def open_cli_store(home: Path | None, secrets_spec: str, passphrase_fd: int | None,
                   passphrase_file: Path | None, *, create: bool = False) -> tuple[Path, Any]:
    """(state directory, secret store) for a command's options."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.store import open_store

    state = gateway_home(home)
    store = open_store(secrets_spec, home=state,
                       passphrase=passphrase_spec(passphrase_fd, passphrase_file),
                       create=create)
    return state, store
