"""`gateway clients`: the keys apps use to call this gateway.

A token is printed once, at creation, and only its hash is kept: a lost
token is replaced (`gateway rotate-keys --clients NAME`), never recovered.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from gateway_cli.cli.shared import (
    config_option,
    current_clients,
    home_option,
    new_file,
    notify,
    parse_expiry,
    record_event,
    shared_keys,
    signing_store,
    store_options,
    write_token,
)
from gateway_cli.errors import GatewayError


@click.group()
def clients() -> None:
    """Gateway client keys (gwk_...): create, list, revoke.

    Once any client key exists, every request needs one.
    """


@clients.command("create")
@click.argument("name")
@click.option("--models", default=None, metavar="A,B",
              help="Only these public model names (default: all).")
@click.option("--rpm", type=click.IntRange(1), default=None,
              help="Requests per minute (overrides [limits] for this key).")
@click.option("--team", default=None, help="Team name, for inspection rules and team limits.")
@click.option("--admin", is_flag=True, default=False,
              help="May read /metrics and readiness detail from other machines (loopback "
                   "callers may without a key).")
@click.option("--budget", type=click.FloatRange(0), default=None, metavar="USD",
              help="Monthly spend limit in USD (UTC calendar month); 0 refuses every "
                   "request.")
@click.option("--expires", default=None, metavar="30d|ISO-DATE", help="When the key stops "
              "working.")
@click.option("--owner", default=None, metavar="NAME",
              help="Who the key is for (a person or team name); shown by `clients list`, "
                   "never used to authenticate.")
@click.option("--contact", default=None, metavar="EMAIL",
              help="Where to send the key and ask about it; shown by `clients list` and "
                   "in the manifest of `rotate-keys --output-dir`.")
@click.option("--scope", "scopes", multiple=True, metavar="mcp:SERVER:TOOL",
              help="An MCP scope this key grants, e.g. 'mcp:fs:read_*' (repeatable; none: "
                   "no MCP tool at all). Scopes grant tools only, never models.")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              callback=new_file,
              help="Write the token, alone on one line, to this new 0600 file instead of "
                   "printing it.")
@config_option
@store_options
def create(name: str, models: str | None, rpm: int | None, team: str | None, admin: bool,
           budget: float | None, expires: str | None, owner: str | None,
           contact: str | None, scopes: tuple[str, ...], output: Path | None,
           config_path: Path | None,
           home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
           passphrase_file: Path | None) -> None:
    """Create the client key NAME and print its token once."""
    from gateway_cli.keys import clients as registry
    from gateway_cli.keys import shared_sync
    from gateway_cli.keys.home import gateway_home

    if owner is not None:  # refused before the store is opened or a passphrase asked for
        registry.check_owner(owner)
    if contact is not None:
        registry.check_contact(contact)
    registry.check_scopes(scopes)
    state = gateway_home(home)
    shared = shared_keys(config_path)  # a bad config stops the command before any change
    signer = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                           config_path=config_path)
    now = time.time()
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    ends = parse_expiry(expires, now) if expires else None
    client, token = shared_sync.change(state, shared, lambda: registry.create(
        state, name, models=allowed, rpm=rpm, budget=budget, expires=ends, team=team,
        admin=admin, owner=owner, contact=contact, scopes=scopes, now=now))
    record_event(state, signer, "client.created", {"name": name, "id": client.id,
                                          "models": allowed, "rpm": rpm, "admin": admin,
                                          "owner": owner, "contact": contact,
                                          "scopes": list(client.scopes)})
    if output is not None:
        write_token(output, token)
        click.echo(f"created client key {name} ({client.id}); token written to {output}",
                   err=True)
    else:
        click.echo(token)
        click.echo(f"created client key {name} ({client.id}); the token above is shown "
                   "only now", err=True)
    notify(state, ("clients",), shared=shared)


@clients.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all", "show_all", is_flag=True, help="Include revoked, expired and run keys.")
@config_option
@home_option
def list_(fmt: str, show_all: bool, config_path: Path | None, home: Path | None) -> None:
    """Client keys: name, id, state, models, limits, MCP scopes, owner; never tokens
    (json adds the contact)."""
    from gateway_cli.keys.home import gateway_home

    now = time.time()
    shown = [c for c in current_clients(gateway_home(home), config_path)
             if show_all or (c.kind == "client" and c.state(now) in ("active", "grace"))]
    if fmt == "json":
        click.echo(json.dumps([{**{k: v for k, v in c.to_json().items() if k != "digest"},
                                "state": c.state(now)} for c in shown], indent=1))
        return
    if not shown:
        click.echo("no client keys; create one with `gateway clients create NAME`", err=True)
        return
    # Owner last: it is the one free-text column (spaces, up to 64 characters).
    click.echo(f"{'NAME':20} {'ID':13} {'STATE':8} {'MODELS':18} {'RPM':5} {'BUDGET':8} "
               f"{'TEAM':12} {'ADMIN':5} {'EXPIRES':16} {'SCOPES':24} OWNER")
    for c in shown:
        ends = c.expires if c.state(now) != "grace" else c.revoked
        budget = f"${c.budget:g}" if c.budget is not None else "-"
        when = time.strftime('%Y-%m-%d %H:%M', time.localtime(ends)) if ends else "-"
        click.echo(f"{c.name:20} {c.id:13} {c.state(now):8} "
                   f"{','.join(c.models) if c.models else 'all':18} {c.rpm or '-'!s:5} "
                   f"{budget:8} {c.team or '-':12} {'yes' if c.admin else '-':5} {when:16} "
                   f"{','.join(c.scopes) or '-':24} {c.owner or '-'}")


@clients.command("revoke")
@click.argument("names", nargs=-1, required=True)
@click.option("--grace", type=click.FloatRange(0), default=0.0, show_default=True,
              metavar="SECONDS", help="Keep accepting the key this long.")
@config_option
@store_options
def revoke(names: tuple[str, ...], grace: float, config_path: Path | None, home: Path | None,
           secrets_spec: str | None, passphrase_fd: int | None,
           passphrase_file: Path | None) -> None:
    """Revoke the client keys NAMES (names or ids); running gateways obey at once."""
    from gateway_cli.keys import clients as registry
    from gateway_cli.keys import shared_sync
    from gateway_cli.keys.home import gateway_home

    state = gateway_home(home)
    shared = shared_keys(config_path)  # a bad config stops the command before any change
    signer = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                           config_path=config_path)
    now = time.time()
    gone = shared_sync.change(state, shared, lambda: registry.revoke(
        state, names, at=now + grace, now=now))
    if not gone:
        raise GatewayError("nothing revoked")
    record_event(state, signer, "client.revoked", {"ids": [c.id for c in gone], "grace": grace})
    for client in gone:
        click.echo(f"revoked {client.name} ({client.id})"
                   + (f" after {grace:g} s" if grace else ""), err=True)
    notify(state, ("clients",), shared=shared)


@clients.command("scopes")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, metavar="mcp:SERVER:TOOL",
              help="The MCP scopes the key grants from now on (repeatable); they replace "
                   "the ones it had.")
@click.option("--none", "clear", is_flag=True, help="Remove every scope (no MCP tool at all).")
@config_option
@store_options
def set_scopes(name: str, scopes: tuple[str, ...], clear: bool, config_path: Path | None,
               home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
               passphrase_file: Path | None) -> None:
    """Replace the MCP scopes of client key NAME; running gateways apply it at once."""
    from gateway_cli.keys import clients as registry
    from gateway_cli.keys import shared_sync
    from gateway_cli.keys.home import gateway_home

    if bool(scopes) == clear:
        raise click.UsageError("give --scope (one or more) or --none")
    checked = registry.check_scopes(scopes)  # refused before the store is opened
    state = gateway_home(home)
    shared = shared_keys(config_path)
    signer = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                           config_path=config_path)
    changed = shared_sync.change(state, shared, lambda: registry.set_scopes(
        state, name, checked))
    record_event(state, signer, "client.scopes", {"name": name, "scopes": list(checked)})
    click.echo(f"client key {name}: scopes {' '.join(checked) or 'none'} "
               f"({changed} record(s))", err=True)
    notify(state, ("clients",), shared=shared)
