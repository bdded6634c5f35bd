"""`gateway keys`: provider secrets in the secret store (add, list, remove, test).

Secrets are read from a hidden prompt or from stdin, never from argv, where
every process on the machine could read them (`ps`), and never echoed back:
commands show a fingerprint (the last four characters) instead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from gateway_cli.cli.shared import (
    config_option,
    notify,
    open_cli_store,
    read_secret,
    record_event,
    store_choice,
    store_options,
)
from gateway_cli.errors import GatewayError


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp))


@click.group()
def keys() -> None:
    """Provider secrets in the OS keyring or the encrypted file store."""


@keys.command("add")
@click.argument("provider")
@click.option("--name", default=None, help="Name to store it under (default: PROVIDER). "
              "Reference it in gateway.toml as secret = \"store:NAME\".")
@click.option("--replace", is_flag=True, help="Overwrite an existing key of that name.")
@config_option
@store_options
def add(provider: str, name: str | None, replace: bool, config_path: Path | None,
        home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
        passphrase_file: Path | None) -> None:
    """Store PROVIDER's API key; it is read from a hidden prompt or stdin, never argv."""
    from gateway_cli.keys.index import add_key

    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  create=True, config_path=config_path)
    secret = read_secret(f"{provider} API key")
    record = add_key(store, state, provider, name or provider, secret, replace=replace)
    record_event(state, store, "key.added", {"name": record.name, "provider": record.provider,
                                      "fingerprint": record.fingerprint})
    click.echo(f"stored {record.name} ({record.provider}, {record.fingerprint}) in the "
               f"{store.describe()}", err=True)
    click.echo(f"use it in gateway.toml: secret = \"{record.reference}\"", err=True)
    notify(state, ("secrets",))


@keys.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@config_option
@store_options
def list_(fmt: str, config_path: Path | None, home: Path | None, secrets_spec: str | None,
          passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Stored provider keys: name, provider, fingerprint, dates. Never values.

    The list comes from the key index, so no passphrase is read. The store options are
    accepted so that one set of options serves every `keys` command; a store named by
    them (or by [secrets] of --config) narrows the list to the keys kept in that kind
    of store, which is what a gateway using it can resolve.
    """
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.index import list_keys

    records = list_keys(gateway_home(home))
    spec, _ = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
    if spec != "auto":
        kind = spec.partition(":")[0]
        elsewhere = [r for r in records if r.store != kind]
        records = [r for r in records if r.store == kind]
        if elsewhere:
            click.echo(f"gateway: {len(elsewhere)} key(s) kept in another kind of store than "
                       f"{kind} not shown: {', '.join(r.name for r in elsewhere)}", err=True)
    if fmt == "json":
        click.echo(json.dumps([{
            "name": r.name, "provider": r.provider, "fingerprint": r.fingerprint,
            "store": r.store, "created": r.created, "rotated": r.rotated,
            "previous_until": r.previous_until} for r in records], indent=1))
        return
    if not records:
        click.echo("no provider keys stored; add one with `gateway keys add PROVIDER`", err=True)
        return
    click.echo(f"{'NAME':20} {'PROVIDER':14} {'KEY':8} {'STORE':8} {'CREATED':17} ROTATED")
    for r in records:
        click.echo(f"{r.name:20} {r.provider:14} {r.fingerprint:8} {r.store:8} "
                   f"{_when(r.created):17} {_when(r.rotated)}")


@keys.command("remove")
@click.argument("name")
@config_option
@store_options
def remove(name: str, config_path: Path | None, home: Path | None, secrets_spec: str | None,
           passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Delete the stored key NAME (revoke it at the provider too)."""
    from gateway_cli.keys.index import remove_key

    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    if not remove_key(store, state, name):
        raise GatewayError(f"no stored key named {name!r}; see `gateway keys list`")
    record_event(state, store, "key.removed", {"name": name})
    click.echo(f"removed {name}", err=True)
    notify(state, ("secrets",))


@keys.command("test")
@click.argument("name")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="gateway.toml whose provider NAME gives the base URL and kind, and "
                   "whose [secrets] name the store (unless --secrets/--passphrase-* do).")
@store_options
def test(name: str, config_path: Path | None, home: Path | None, secrets_spec: str | None,
         passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """One cheap authenticated call upstream (list models) with the key NAME."""
    from gateway_cli.config import _DEFAULT_BASE, default_base_url, load_config
    from gateway_cli.keys.index import get_key
    from gateway_cli.keys.probe import probe
    from gateway_cli.keys.refs import resolve

    config = load_config(config_path) if config_path is not None else None
    provider = next((p for p in config.providers if p.name == name), None) if config else None
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    if provider is not None:
        if provider.secret is None:
            raise GatewayError(f"provider {name!r} has no secret to test")
        secret = resolve(provider.secret, f"provider {name!r}", store)
        kind: str = provider.kind
        base = default_base_url(provider)
        api_version, anthropic_version = provider.api_version, provider.anthropic_version
    else:
        record = get_key(state, name)
        if record is None:
            raise GatewayError(f"no stored key and no configured provider named {name!r}")
        kind = record.provider
        if kind not in _DEFAULT_BASE:
            raise GatewayError(f"no default URL for provider {kind!r}; pass --config with a "
                               f"provider named {name!r} that has its base_url")
        base, api_version, anthropic_version = _DEFAULT_BASE[kind], None, "2023-06-01"
        secret = resolve(f"store:{name}", f"key {name!r}", store)
    result = probe(kind, base, secret, api_version=api_version,
                   anthropic_version=anthropic_version)
    click.echo(f"{name}: {result.message}")
    if not result.ok:
        sys.exit(1)


@keys.command("audit")
@config_option
@store_options
def audit_log(config_path: Path | None, home: Path | None, secrets_spec: str | None,
              passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Verify the key-management audit log: hash chain and signatures."""
    from gateway_cli.auditlog.chain import verify
    from gateway_cli.keys import signing
    from gateway_cli.keys.events import audit_path, missed, missed_path

    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  config_path=config_path)
    path = audit_path(state)
    if not path.exists():
        click.echo("no audit log yet", err=True)
        return
    keyset = signing.load(store)
    report = verify(path, {e.kid: e.key for e in keyset.keys.get("audit", ())})
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    gaps = missed(state)
    for gap in gaps:
        click.echo(f"problem: a {gap.get('event')} record could not be written "
                   f"({gap.get('why', '')}); see {missed_path(state)}")
    click.echo(f"{path}: {report.records} record(s), {report.signed} signed, "
               f"{report.unverifiable} signed by retired keys; "
               + ("intact" if report.ok else "TAMPERED")
               + (f"; {len(gaps)} change(s) missing from it" if gaps else ""))
    if not report.ok or gaps:
        sys.exit(1)
