"""`gateway tokens`: short-lived scoped tokens for agents (MCP tools, and models if granted).

`issue` prints the token and nothing else on stdout, so `TOKEN=$(gateway tokens
issue ...)` works; the token is never stored, only its id and what it grants
(keys/issued.py). `revoke` reaches running gateways over their control socket,
as a client-key revocation does.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from gateway_cli.cli.shared import (
    config_option,
    home_option,
    new_file,
    notify,
    open_cli_store,
    record_event,
    shared_keys,
    signing_store,
    store_options,
    write_token,
)
from gateway_cli.errors import GatewayError


@click.group()
def tokens() -> None:
    """Scoped gateway tokens (JWTs): issue, list, revoke.

    A token grants the MCP scopes it was issued with, and models only when
    issued with --models. It ends at its --ttl (at most a day) or when revoked.
    """


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


@tokens.command("issue")
@click.option("--scope", "scopes", multiple=True, metavar="mcp:SERVER:TOOL",
              help="An MCP scope the token grants, e.g. 'mcp:fs:read_*' (repeatable).")
@click.option("--ttl", type=int, default=600, show_default=True, metavar="SECONDS",
              help="Lifetime, 10 to 86400 seconds.")
@click.option("--name", default="token", show_default=True,
              help="Who or what the token is for: shown in logs, the audit log and "
                   "`tokens list`; limits in [limits.keys] apply by this name.")
@click.option("--models", default=None, metavar="A,B",
              help="Public model names the token may call (default: none; scopes grant "
                   "tools, not models).")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              callback=new_file,
              help="Write the token, alone on one line, to this new 0600 file instead of "
                   "printing it.")
@config_option
@store_options
def issue(scopes: tuple[str, ...], ttl: int, name: str, models: str | None,
          output: Path | None, config_path: Path | None, home: Path | None,
          secrets_spec: str | None, passphrase_fd: int | None,
          passphrase_file: Path | None) -> None:
    """Issue a scoped token and print it (stdout holds the token alone)."""
    from gateway_cli.keys import issued, signing

    # Every refusal comes before the store is opened or a passphrase asked for.
    issued.check_name(name)
    issued.check_scopes(scopes)
    issued.check_ttl(ttl)
    allowed = [m.strip() for m in models.split(",") if m.strip()] if models else None
    issued.check_models(allowed)
    state, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                                  create=True, config_path=config_path)
    before = signing.load(store).current("tokens")
    key = signing.ensure(store).current("tokens")
    assert key is not None  # ensure made one
    if before is None:  # a fresh signing key: running gateways must learn it first
        notify(state, ("signing",))
    record, token = issued.issue(state, key, name=name, scopes=scopes, models=allowed,
                                 ttl=ttl)
    record_event(state, store, "token.issued", {
        "jti": record.jti, "name": record.name, "kid": record.kid,
        "scopes": list(record.scopes), "models": allowed, "expires": record.expires})
    if output is not None:
        write_token(output, token)
        click.echo(f"issued token {record.jti} ({name}), valid until "
                   f"{_when(record.expires)}; written to {output}", err=True)
    else:
        click.echo(token)


@tokens.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all", "show_all", is_flag=True,
              help="Include expired and revoked tokens (state grace: the signing key it "
                   "was made with is retiring, see rotate-keys --signing --grace).")
@home_option
def list_(fmt: str, show_all: bool, home: Path | None) -> None:
    """Issued tokens: id, name, state, times, models, scopes. Never the tokens."""
    from gateway_cli.keys import issued
    from gateway_cli.keys.home import gateway_home

    now = time.time()
    shown = [r for r in issued.list_issued(gateway_home(home))
             if show_all or r.state(now) in ("active", "grace")]
    if fmt == "json":
        click.echo(json.dumps([{**r.to_json(), "state": r.state(now)} for r in shown],
                              indent=1))
        return
    if not shown:
        click.echo("no live tokens; issue one with `gateway tokens issue --scope ...`",
                   err=True)
        return
    click.echo(f"{'ID':25} {'NAME':16} {'STATE':8} {'ISSUED':19} {'EXPIRES':19} "
               f"{'REVOKED':19} {'MODELS':18} SCOPES")
    for r in shown:
        click.echo(f"{r.jti:25} {r.name:16} {r.state(now):8} {_when(r.issued):19} "
                   f"{_when(r.expires):19} {_when(r.revoked):19} "
                   f"{','.join(r.models) if r.models else '-':18} "
                   f"{' '.join(r.scopes) or '-'}")


def share_revocations(shared: Any, live: dict[str, float], now: float) -> None:
    """Put the ids on the list every gateway on the shared store follows."""
    import asyncio

    from gateway_cli.keys import shared_revoked, shared_table
    from gateway_cli.limits.model import StoreUnavailable
    from gateway_cli.limits.resp import ReplyError

    async def push() -> None:
        client = shared_table.connect(shared.url, shared.password)
        try:
            await shared_revoked.add(client, live, now)
        finally:
            await client.close()

    try:
        asyncio.run(push())
    except (StoreUnavailable, ReplyError) as err:
        raise GatewayError(f"the shared revocation list cannot be updated ({err}); nothing "
                           "was revoked on any instance") from None


@tokens.command("revoke")
@click.argument("ident", metavar="ID")
@config_option
@store_options
def revoke(ident: str, config_path: Path | None, home: Path | None,
           secrets_spec: str | None, passphrase_fd: int | None,
           passphrase_file: Path | None) -> None:
    """Revoke the token ID (or every live token with that name); running gateways obey
    at once."""
    from gateway_cli.keys import issued
    from gateway_cli.keys.home import gateway_home

    state = gateway_home(home)
    shared = shared_keys(config_path)  # a bad config stops the command before any change
    signer = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                           config_path=config_path)
    if shared is not None:
        # Shared first: if Redis cannot take it, nothing changes anywhere (a revocation
        # only some instances know would be reported done while others accept the token).
        now = time.time()
        live = {r.jti: r.expires for r in issued.list_issued(state)
                if (r.jti == ident or r.name == ident) and r.state(now) in ("active", "grace")}
        if live:
            share_revocations(shared, live, now)
    gone = issued.revoke(state, ident)
    record_event(state, signer, "token.revoked", {"jtis": [r.jti for r in gone]})
    for record in gone:
        click.echo(f"revoked token {record.jti} ({record.name})", err=True)
    notify(state, ("clients",), shared=shared)
