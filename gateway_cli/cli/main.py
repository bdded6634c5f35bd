"""The `gateway` command.

Each command group lives in its own module and imports heavy libraries
(Litestar, Granian, sigstore) only when it runs, so `gateway --version` and
`--help` stay fast. Every foreseeable failure ends as one line on stderr and a
non-zero exit: click usage errors (exit 2) and GatewayError (exit 1) are
caught here, and no traceback reaches the user.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from gateway_cli import __version__
from gateway_cli.errors import GatewayError


class _OneLineErrors(click.Group):
    """A click group that reports usage errors as a single line."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.UsageError as err:
            where = err.ctx.command_path if err.ctx else "gateway"
            click.echo(f"gateway: {err.format_message()} (see '{where} --help')", err=True)
            sys.exit(err.exit_code)
        except click.ClickException as err:
            click.echo(f"gateway: {err.format_message()}", err=True)
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("gateway: aborted", err=True)
            sys.exit(1)
        except GatewayError as err:
            click.echo(f"gateway: {err}", err=True)
            sys.exit(err.exit_code)
        except KeyboardInterrupt:
            sys.exit(130)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="gateway",
                      message="%(prog)s %(version)s")
def cli() -> None:
    """A supply-chain-hardened AI gateway.

    Sits between your apps or agents and LLM providers behind one local
    base URL, so that apps never hold a provider's real key.

    Start it with `gateway serve`, then point an OpenAI client at
    http://127.0.0.1:4000/v1 and ask for the model `mock/echo`.
    """


def _register() -> None:
    from gateway_cli.cli.audit_cmd import audit
    from gateway_cli.cli.clients_cmd import clients
    from gateway_cli.cli.inspect_cmd import inspect
    from gateway_cli.cli.keys_cmd import keys
    from gateway_cli.cli.limits_cmd import budgets, limits
    from gateway_cli.cli.lock_cmd import lock
    from gateway_cli.cli.log_cmd import log_group
    from gateway_cli.cli.mcp_cmd import mcp
    from gateway_cli.cli.provenance_cmd import provenance
    from gateway_cli.cli.reload_cmd import reload
    from gateway_cli.cli.rotate_cmd import rotate_keys
    from gateway_cli.cli.run_cmd import run
    from gateway_cli.cli.sbom_cmd import sbom
    from gateway_cli.cli.scan_cmd import import_keys, scan
    from gateway_cli.cli.serve_cmd import serve
    from gateway_cli.cli.service_cmd import service
    from gateway_cli.cli.stats_cmd import stats
    from gateway_cli.cli.tokens_cmd import tokens
    from gateway_cli.cli.verify_cmd import verify

    cli.add_command(serve)
    cli.add_command(audit)
    cli.add_command(sbom)
    cli.add_command(provenance)
    cli.add_command(verify)
    cli.add_command(lock)
    cli.add_command(inspect)
    cli.add_command(keys)
    cli.add_command(clients)
    cli.add_command(tokens)
    cli.add_command(limits)
    cli.add_command(log_group)
    cli.add_command(budgets)
    cli.add_command(rotate_keys)
    cli.add_command(reload)
    cli.add_command(run)
    cli.add_command(scan)
    cli.add_command(import_keys)
    cli.add_command(stats)
    cli.add_command(service)
    cli.add_command(mcp)


_register()


def main() -> None:
    cli.main(prog_name="gateway")
