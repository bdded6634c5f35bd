"""What the command modules share: the secret-store options, reading a secret, telling a
running gateway about a change, and signing the audit record of a change.

Options shared by every command that reads or writes the secret store:

The passphrase of the encrypted-file store is never an option value or an
environment variable (both end up in process listings or child processes):
it comes from a prompt, a file descriptor or a 0600 key file.

Where the store is, and where its passphrase comes from, is settled in one
place (`store_choice`): the command line, else `[secrets]` of the `--config`
gateway.toml (as `gateway serve` reads it), else auto. An operator who keeps
the store in gateway.toml then passes `--config` to every admin command and
nothing else.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import click

from gateway_cli.errors import GatewayError
from gateway_cli.keys.refs import Secret

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
        "--secrets", "secrets_spec", default=None,
        metavar="auto|keyring|file[:PATH]",
        help="Where provider secrets live: the OS keyring, or an encrypted file "
             "(default <home>/secrets.enc). auto: the keyring when usable, else an "
             "existing encrypted file. Default: [secrets] store of --config, else auto.")(func)
    return home_option(func)


def config_option(func: F) -> F:
    return click.option("--config", "config_path", type=click.Path(path_type=Path),
                         default=None, metavar="PATH",
                         help="gateway.toml of the gateway: its [secrets] store and "
                              "passphrase unless --secrets/--passphrase-* say otherwise; "
                              "with [limits] store = \"redis\", client keys are shared "
                              "through it.")(func)


def redis_password(config: Any) -> str | None:
    """The shared store's password, from its secret reference (never from argv)."""
    from gateway_cli.keys.refs import resolve

    limits = config.limits
    if limits.store != "redis" or not limits.redis_password:
        return None
    return resolve(limits.redis_password, "the limits store").reveal()


def shared_keys(config_path: Path | None) -> Any:
    """Where the shared client-key table is (keys.shared_sync.Shared), or None: no config,
    or a config whose limits store is not Redis."""
    if config_path is None:
        return None
    from gateway_cli.config import load_config
    from gateway_cli.keys.shared_sync import Shared

    config = load_config(config_path)
    if config.limits.store != "redis":
        return None
    return Shared(config.limits.redis_url, redis_password(config))


def current_clients(home: Path, config_path: Path | None) -> list[Any]:
    """The client records in force: the shared table's when the config shares one (and
    Redis holds it), else clients.json's."""
    from gateway_cli.keys.clients import list_clients
    from gateway_cli.keys.shared_sync import read

    shared = shared_keys(config_path)
    records = read(shared) if shared is not None else None
    return records if records is not None else list_clients(home)


def passphrase_spec(passphrase_fd: int | None, passphrase_file: Path | None) -> str | None:
    if passphrase_fd is not None and passphrase_file is not None:
        raise click.UsageError("give --passphrase-fd or --passphrase-file, not both")
    if passphrase_fd is not None:
        return f"fd:{passphrase_fd}"
    if passphrase_file is not None:
        return f"file:{passphrase_file}"
    return None


def store_choice(config_path: Path | None, secrets_spec: str | None,
                 passphrase_fd: int | None, passphrase_file: Path | None
                 ) -> tuple[str, str | None]:
    """(store spec, passphrase source): each from the command line when given, else from
    [secrets] of the config, else auto and none.

    Field by field, as `gateway serve` does, so an admin command given the same
    config and options opens the store the gateway opens.
    """
    passphrase = passphrase_spec(passphrase_fd, passphrase_file)
    if config_path is not None and (secrets_spec is None or passphrase is None):
        from gateway_cli.config import load_config

        settings = load_config(config_path).secrets
        secrets_spec = secrets_spec or settings.store
        passphrase = passphrase or settings.passphrase
    return secrets_spec or "auto", passphrase


def open_cli_store(home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
                   passphrase_file: Path | None, *, create: bool = False,
                   config_path: Path | None = None, read_only: bool = False
                   ) -> tuple[Path, Any]:
    """(state directory, secret store) for a command's options; `read_only`: a command
    that only reads (the state directory is not created when missing)."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.store import open_store

    state = gateway_home(home, create=not read_only)
    spec, passphrase = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
    store = open_store(spec, home=state, passphrase=passphrase, create=create)
    return state, store


def read_secret(what: str) -> Secret:
    """A secret from a hidden prompt (terminal) or the first line of stdin (scripts)."""
    if sys.stdin.isatty():
        value = click.prompt(f"{what} (input hidden)", hide_input=True, default="",
                             show_default=False, err=True)
    else:
        value = sys.stdin.readline()
    value = value.strip()
    if not value:
        raise GatewayError(f"no {what} given (type it at the prompt or pipe it on stdin); "
                           "nothing was stored")
    return Secret(value)


def notify(home: Path, what: tuple[str, ...], *, shared: object = None) -> None:
    """Tell the local gateways; `shared`: the change went to the shared client-key table.

    A gateway that serves the shared table reloads it, not clients.json, so a change
    made here without `--config` does not reach it: say so rather than let "applied"
    suggest a revocation is in force.
    """
    from gateway_cli.keys.notify import SHARED_CLIENTS, notify_all

    for result in notify_all(home, what):
        state = "applied" if result.ok else "FAILED"
        click.echo(f"running gateway ({result.socket}): {state}, {result.detail} "
                   f"in {result.seconds * 1000:.0f} ms", err=True)
        if shared is None and "clients" in what and SHARED_CLIENTS in result.detail:
            click.echo(f"gateway: warning: the gateway ({result.socket}) serves the client "
                       "keys shared through Redis, and this change was made only in the "
                       "local clients.json: run it again with --config (the gateway's "
                       "config) for it to take effect", err=True)


def signing_store(home: Path, secrets_spec: str | None = None,
                  passphrase_fd: int | None = None, passphrase_file: Path | None = None,
                  *, config_path: Path | None = None) -> Any:
    """The store that signs this command's audit record, found before anything changes.

    The keyring's audit key when there is one. When the log is already signed
    and the keyring cannot sign, the store the options name (the encrypted
    file, with its passphrase from --passphrase-fd/-file or a prompt) must; a
    command that cannot sign refuses here, having changed nothing, because an
    unsigned record after a signed one reads as a stripped signature.
    """
    from gateway_cli.auditlog.chain import AuditError, is_signed
    from gateway_cli.keys.events import audit_key, audit_path
    from gateway_cli.keys.store import StoreError, open_store

    spec, passphrase = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
    explicit = spec != "auto" or passphrase is not None
    if not explicit:
        try:
            keyring = open_store("keyring", home=home)
            if audit_key(keyring) is not None:
                return keyring
        except StoreError:
            pass
    try:
        signed = is_signed(audit_path(home))
    except AuditError:
        # A damaged log must not block a revocation: the record will fail to be written,
        # be noted as missed, and `keys audit` will fail until the log is repaired.
        signed = False
    if not signed and not explicit:
        return None
    try:
        store = open_store(spec, home=home, passphrase=passphrase)
    except StoreError as err:
        raise GatewayError(f"the audit log is signed and this change must be too, but the "
                           f"secret store holding the audit key cannot be opened ({err}); "
                           "nothing was changed") from None
    if signed and audit_key(store) is None:
        raise GatewayError(f"the audit log is signed but {store.describe()} holds no audit "
                           "key; pass --secrets (or --config naming it) for the store that "
                           "does; nothing was changed")
    return store


def record_event(home: Path, store: Any, event: str, data: dict[str, object]) -> None:
    from gateway_cli.auditlog.chain import AuditError
    from gateway_cli.keys.events import note_missed, record
    from gateway_cli.keys.store import StoreError, open_store

    if store is None:  # sign with the keyring's audit key when there is one, never prompt
        try:
            store = open_store("keyring", home=home)
        except StoreError:
            store = None
    try:
        record(home, store, event, data)
    except (AuditError, GatewayError) as err:
        click.echo(f"gateway: warning: the audit log was not written: {err}", err=True)
        try:
            note_missed(home, event, str(err))
        except OSError:
            click.echo("gateway: warning: the missed record could not be noted either",
                       err=True)


_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expiry(text: str, now: float) -> float:
    """`30d`, `12h`, `90m` from now, or an ISO date/time (UTC unless it says otherwise)."""
    match = _DURATION.match(text.strip())
    if match:
        return now + int(match.group(1)) * _UNIT[match.group(2)]
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter("expected a duration like 30d, 12h, 90m or an ISO date "
                                 "such as 2027-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = moment.timestamp()
    if stamp <= now:
        raise click.BadParameter("the expiry is in the past")
    return stamp


def new_file(_: click.Context, __: click.Parameter, value: Path | None) -> Path | None:
    """Refuse an --output that exists before anything is created, so no token is lost."""
    if value is not None and (value.exists() or value.is_symlink()):
        raise click.BadParameter(f"{value} already exists; tokens go only to a new file")
    return value


def write_token(path: Path, token: str) -> None:
    """One token, alone on its line, in a new 0600 file: what `--output` promises, so
    `$(cat FILE)` or an app's key file can use it as it is."""
    from gateway_cli.keys.home import write_new_private

    write_new_private(path, token.encode() + b"\n")


def write_tokens(path: Path, issued: list[tuple[str, str]]) -> None:
    """Several tokens to a new 0600 file, as a JSON object of name to token: one rotation
    can issue many, and a script needs to know whose each one is."""
    from gateway_cli.keys.home import write_new_private

    write_new_private(path, json.dumps({name: token for name, token in issued}, indent=1)
                  .encode() + b"\n")
