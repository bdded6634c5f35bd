"""`gateway reload`: have every gateway running from this state directory re-read its
gateway.toml (the same as sending it SIGHUP, with an answer)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gateway_cli.cli.shared import home_option


@click.command("reload")
@home_option
def reload(home: Path | None) -> None:
    """Re-read gateway.toml in every running gateway; an invalid file changes nothing."""
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.notify import notify_all

    results = notify_all(gateway_home(home), ("config",), timeout=30.0)
    if not results:
        click.echo("gateway: no running gateway uses this state directory", err=True)
        sys.exit(1)
    for result in results:
        state = "reloaded" if result.ok else "REFUSED"
        detail = result.detail.removeprefix("reloaded config").lstrip(", ")
        click.echo(f"{result.socket}: {state}" + (f" ({detail})" if detail else "")
                   + f" in {result.seconds * 1000:.0f} ms")
    if not all(r.ok for r in results):
        sys.exit(1)
