"""`gateway limits` and `gateway budgets`: what is used of each limit, and the keys' budgets.

The CLI reads the same store the gateway counts in, through the same config
(`--config`): the SQLite file in the state directory, or the shared Redis.
The `memory` store lives inside a running gateway process and cannot be read
from outside it; the commands say so rather than show zeros.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click

from gateway_cli.cli.shared import (
    config_option,
    current_clients,
    home_option,
    notify,
    record_event,
    redis_password,
    shared_keys,
    signing_store,
    store_options,
)
from gateway_cli.errors import GatewayError

_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True)


def _principal(state: Path, key: str | None, team: str | None,
               config_path: Path | None) -> Any:
    from gateway_cli.keys.principal import Principal

    if key is None:
        return Principal(id="-", name="-", kind="client", team=team)
    now = time.time()
    for client in current_clients(state, config_path):
        if client.name == key and client.active(now):
            return Principal(id=client.id, name=client.name, kind=client.kind,
                             models=client.models, rpm=client.rpm, team=client.team,
                             budget=client.budget)
    raise GatewayError(f"no live client key named {key!r}; see `gateway clients list`")


async def _usage(config: Any, state: Path, counters: list[Any]) -> list[float]:
    from gateway_cli.limits.stores import open_store

    limits = config.limits
    if limits.store == "memory":
        raise GatewayError("the limits store is 'memory': it lives inside the running gateway "
                           "and cannot be read from here; use store = \"sqlite\" or \"redis\" "
                           "under [limits] to see usage from the command line")
    store = open_store(limits.store, path=state / "limits.sqlite", url=limits.redis_url,
                       password=redis_password(config))
    try:
        return await store.usage(counters, time.time())
    finally:
        await store.close()


@click.group()
def limits() -> None:
    """Rate limits, budgets and what is used of them."""


@limits.command("show")
@click.option("--key", default=None, metavar="NAME", help="A client key's limits.")
@click.option("--team", default=None, help="A team's limits.")
@click.option("--model", default=None, help="Also a public model's limits.")
@config_option
@_FORMAT
@home_option
def show(key: str | None, team: str | None, model: str | None, config_path: Path | None,
         fmt: str, home: Path | None) -> None:
    """Usage against each limit and budget that applies, and when each resets."""
    from gateway_cli.config import load_config
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.limits import plan
    from gateway_cli.limits.windows import window

    if key is None and team is None and model is None:
        raise click.UsageError("give --key, --team or --model")
    config = load_config(config_path)
    state = gateway_home(home)
    principal = _principal(state, key, team, config_path)
    scopes = plan.scopes(config.limits, principal, model or "")
    if key is None:
        scopes = scopes[1:]  # no key asked: only the team's and the model's
    counters = plan.counters(scopes, plan.Ask(0, 0, 0.0))
    if not counters:
        click.echo("no limits apply", err=True)
        return
    used = asyncio.run(_usage(config, state, counters))
    now = time.time()
    rows: list[dict[str, Any]] = [{"limit": c.label, "used": u, "max": c.limit,
             "resets": None if c.period == "none" else window(c.period, now)[1]}
            for c, u in zip(counters, used, strict=True)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    for row in rows:
        resets = "-" if row["resets"] is None else time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(row["resets"]))
        click.echo(f"{row['limit']:60} {row['used']:>12g} / {row['max']:<10g} {resets}")


@click.group()
def budgets() -> None:
    """Spend budgets of client keys (teams and models: [limits] in gateway.toml)."""


@budgets.command("list")
@config_option
@_FORMAT
@home_option
def list_(config_path: Path | None, fmt: str, home: Path | None) -> None:
    """Every budget: those in gateway.toml and those set on client keys."""
    from gateway_cli.config import load_config
    from gateway_cli.keys.home import gateway_home

    config = load_config(config_path)
    state = gateway_home(home)
    rows: list[dict[str, Any]] = []
    lim = config.limits
    groups = [("every client key", [lim.per_key])] + [
        (kind, list(getattr(lim, attr))) for kind, attr in
        (("client key", "keys"), ("team", "teams"), ("model", "models"))]
    for kind, entries in groups:
        for entry in entries:
            who = kind if kind == "every client key" else f"{kind} {entry.name!r}"
            for period in ("daily", "monthly"):
                amount = getattr(entry, f"{period}_budget")
                if amount is not None:
                    rows.append({"who": who, "period": period, "usd": amount,
                                 "from": "gateway.toml"})
    now = time.time()
    for client in current_clients(state, config_path):
        if client.budget is not None and client.active(now):
            rows.append({"who": f"client key {client.name!r}", "period": "monthly",
                         "usd": client.budget, "from": "gateway clients"})
    if fmt == "json":
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no budgets", err=True)
    for row in rows:
        click.echo(f"{row['who']:40} {row['period']:8} ${row['usd']:<12g} ({row['from']})")


@budgets.command("set")
@click.option("--key", required=True, metavar="NAME", help="The client key.")
@click.option("--monthly", type=click.FloatRange(0), default=None, metavar="USD",
              help="Monthly budget in USD (UTC calendar month); 0 refuses every request.")
@click.option("--remove", is_flag=True, help="Remove the key's own budget.")
@config_option
@store_options
def set_(key: str, monthly: float | None, remove: bool, config_path: Path | None,
         home: Path | None, secrets_spec: str | None, passphrase_fd: int | None,
         passphrase_file: Path | None) -> None:
    """Set a client key's monthly budget; running gateways apply it at once."""
    from gateway_cli.keys import clients as registry
    from gateway_cli.keys import shared_sync
    from gateway_cli.keys.home import gateway_home

    if (monthly is None) == (not remove):
        raise click.UsageError("give --monthly USD or --remove")
    state = gateway_home(home)
    shared = shared_keys(config_path)  # a bad config stops the command before any change
    signer = signing_store(state, secrets_spec, passphrase_fd, passphrase_file,
                           config_path=config_path)
    shared_sync.change(state, shared, lambda: registry.set_limits(
        state, key, budget=None if remove else monthly))
    record_event(state, signer, "client.budget", {"name": key, "monthly": monthly})
    click.echo(f"client key {key}: " + ("no budget of its own" if remove
                                        else f"monthly budget ${monthly:g}"), err=True)
    notify(state, ("clients",), shared=shared)
