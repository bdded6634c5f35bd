"""`gateway scan` and `gateway import`: find plain-text provider keys, move them into the store.

Neither command ever prints a whole key: hits show at most the first and last
four characters, and the advice names the file, line and variable to delete,
never the value. `gateway import` never edits the user's files either; it
stores the keys and says what to remove, so nothing is lost if it guessed a
line wrong.

The scanning code is imported when a command runs, so `gateway --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gateway_cli.cli.shared import config_option, store_choice, store_options

if TYPE_CHECKING:
    from gateway_cli.keys.refs import Secret
    from gateway_cli.keys.scan import Hit, ScanReport
    from gateway_cli.keys.store import SecretStore

F = TypeVar("F", bound=Callable[..., Any])

IMPORT_HINT = "move them into the secret store with `gateway import`"
RUN_HINT = "run apps with `gateway run -- CMD` instead of exporting keys"
_MAX_SUFFIX = 100

# How gateway.toml reaches each provider: its `kind` and, for OpenAI-compatible APIs, the
# base URL. Providers not listed get a commented base_url to fill in.
_PROVIDER_CONFIG: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", None),
    "anthropic": ("anthropic", None),
    "azure": ("azure", None),
    "google": ("openai-compatible", "https://generativelanguage.googleapis.com/v1beta/openai"),
    "groq": ("openai-compatible", "https://api.groq.com/openai/v1"),
    "mistral": ("openai-compatible", "https://api.mistral.ai/v1"),
    "together": ("openai-compatible", "https://api.together.xyz/v1"),
    "deepseek": ("openai-compatible", "https://api.deepseek.com/v1"),
    "openrouter": ("openai-compatible", "https://openrouter.ai/api/v1"),
    "xai": ("openai-compatible", "https://api.x.ai/v1"),
    "perplexity": ("openai-compatible", "https://api.perplexity.ai"),
    "cohere": ("openai-compatible", "https://api.cohere.ai/compatibility/v1"),
    "huggingface": ("openai-compatible", "https://router.huggingface.co/v1"),
}


def _source_options(func: F) -> F:
    func = click.option("--no-home", is_flag=True,
                        help="Do not read shell rc files and AI tool configs in $HOME.")(func)
    func = click.option("--no-env", is_flag=True,
                        help="Do not look at this process's environment variables.")(func)
    return click.argument("paths", nargs=-1, metavar="[PATH]...",
                          type=click.Path(exists=True, path_type=Path))(func)


def _run_scan(paths: Sequence[Path], no_env: bool, no_home: bool) -> ScanReport:
    from gateway_cli.keys.scan import run_scan

    report = run_scan(env=None if no_env else dict(os.environ),
                      home=None if no_home else Path.home(), paths=list(paths))
    for note in report.notes:
        click.echo(f"gateway: {note}", err=True)
    return report


def _hit_line(hit: Hit) -> str:
    line = f"{hit.location}  {hit.variable or '-'}  {hit.provider}  {hit.masked}"
    return line if hit.importable else f"{line}  (gateway client key: not importable)"


def _where(report: ScanReport) -> str:
    files = len({h.source for h in report.hits if h.line is not None})
    env = any(h.line is None for h in report.hits)
    parts = [f"{files} file{'s' if files != 1 else ''}"] if files else []
    if env:
        parts.append("the environment")
    return " and ".join(parts)


@click.command("scan")
@_source_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for scripts.")
def scan(paths: tuple[Path, ...], no_env: bool, no_home: bool, fmt: str) -> None:
    """Find LLM provider keys lying in plain text, and show where (masked).

    Looks at the environment, shell rc files and AI tool configs in $HOME
    (aider, Continue, Codex, Claude Code, LiteLLM, Cursor, .netrc), and each
    PATH: a file, or a directory searched for .env files, .envrc,
    docker-compose files and those tool configs. A key is never printed
    whole: at most its first and last four characters.

    Exit 0 when nothing is found, 1 when keys are found (so CI can fail on
    it), 2 on a usage error.
    """
    report = _run_scan(paths, no_env, no_home)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for hit in report.hits:
            click.echo(_hit_line(hit))
        scanned = (f"scanned {report.files} file{'s' if report.files != 1 else ''} and "
                   f"{report.env_vars} environment variable{'s' if report.env_vars != 1 else ''}")
        if not report.hits:
            click.echo(f"no provider keys found ({scanned})")
        else:
            distinct = len({h.secret.reveal() for h in report.hits})
            n = len(report.hits)
            click.echo(f"found {n} key{'s' if n != 1 else ''} ({distinct} distinct) in "
                       f"{_where(report)}; {scanned}")
            if any(h.importable for h in report.hits):
                click.echo(IMPORT_HINT)
    if report.hits:
        sys.exit(1)


# --------------------------------------------------------------------------- import

@dataclass
class _Planned:
    """One distinct key and what import does with it."""

    secret: Secret
    provider: str
    hits: list[Hit] = field(default_factory=list)
    existing: str | None = None  # already stored under this name
    name: str | None = None  # the new name to store it as

    @property
    def preview(self) -> str:
        return self.hits[0].masked


def _group(hits: Sequence[Hit]) -> list[_Planned]:
    by_value: dict[str, _Planned] = {}
    for hit in hits:
        if not hit.importable:
            continue
        plan = by_value.setdefault(hit.secret.reveal(), _Planned(hit.secret, hit.provider))
        plan.hits.append(hit)
    return list(by_value.values())


def _file_target(spec: str, home: Path) -> Path | None:
    """The encrypted file a `--secrets file[:PATH]` spec names; None for keyring/auto."""
    from gateway_cli.keys.store import DEFAULT_FILE_NAME

    kind, _, path = spec.partition(":")
    if kind != "file":
        return None
    return Path(path) if path else home / DEFAULT_FILE_NAME


def _plan(plans: list[_Planned], store: SecretStore | None, home: Path) -> None:
    """Find keys already stored (same value) and pick free names for the others."""
    from gateway_cli.keys.index import index_path, list_keys

    # A dry run does not create the state directory, so there may be no index to read.
    records = list_keys(home) if index_path(home).exists() else []
    taken = {r.name for r in records}
    for plan in plans:
        if store is None:
            continue
        fp = plan.hits[0].fingerprint
        for record in records:
            if record.fingerprint == fp and store.get(record.name) == plan.secret:
                plan.existing = record.name
                break
    for plan in plans:
        if plan.existing is not None:
            continue
        for i in range(1, _MAX_SUFFIX + 1):
            name = plan.provider if i == 1 else f"{plan.provider}-{i}"
            current = store.get(name) if store is not None else None
            if current is not None and current == plan.secret and name not in taken:
                plan.name = name  # in the store but not in the index: record it
                taken.add(name)
                break
            if name in taken or current is not None:
                continue
            plan.name = name
            taken.add(name)
            break
        else:
            from gateway_cli.errors import GatewayError

            raise GatewayError(f"no free key name for provider {plan.provider!r} "
                               f"({plan.provider}-2 .. -{_MAX_SUFFIX} are taken)")


def _place(hit: Hit) -> str:
    return f"{hit.location} {hit.variable}" if hit.variable else hit.location


def _removal_hints(plans: list[_Planned]) -> list[str]:
    out: list[str] = []
    for plan in plans:
        for hit in plan.hits:
            if hit.line is None:
                out.append(f"environment: unset {hit.variable} in the shell that set it")
            elif hit.variable:
                out.append(f"{hit.location}: delete the line defining {hit.variable}")
            else:
                out.append(f"{hit.location}: delete the key {hit.fingerprint} from this line")
    return list(dict.fromkeys(out))


def _config_snippet(names: list[tuple[str, str]]) -> list[str]:
    out = ["in gateway.toml, point each provider at its stored key:"]
    for name, provider in names:
        kind, base_url = _PROVIDER_CONFIG.get(provider, ("openai-compatible", None))
        out += ["  [[providers]]", f'  name = "{name}"', f'  kind = "{kind}"']
        if kind == "azure":
            out += ['  base_url = "https://YOUR-RESOURCE.openai.azure.com"',
                    '  api_version = "2024-10-21"']
        elif base_url is not None:
            out.append(f'  base_url = "{base_url}"')
        elif kind == "openai-compatible":
            out.append(f"  # base_url = the OpenAI-compatible URL of {provider}")
        out.append(f'  secret = "store:{name}"')
    return out


@click.command("import")
@_source_options
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be stored; store nothing.")
@config_option
@store_options
def import_keys(paths: tuple[Path, ...], no_env: bool, no_home: bool, yes: bool, dry_run: bool,
                config_path: Path | None, home: Path | None, secrets_spec: str | None,
                passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Move the provider keys `gateway scan` finds into the secret store.

    Each distinct key is stored once, named after its provider (openai,
    openai-2, ...); a key already in the store is only reported. Then it
    prints which lines to delete and which variables to unset. It never
    edits your files: removing the plain-text copies is up to you.
    Gateway client keys (gwk_) are never imported. Asks before storing
    unless --yes.
    """
    from gateway_cli.keys import index
    from gateway_cli.keys.home import gateway_home
    from gateway_cli.keys.store import open_store

    spec, passphrase = store_choice(config_path, secrets_spec, passphrase_fd, passphrase_file)
    report = _run_scan(paths, no_env, no_home)
    plans = _group(report.hits)
    skipped = [h for h in report.hits if not h.importable]
    for hit in skipped:
        click.echo(f"{hit.location}  {hit.variable or '-'}  gateway client key {hit.masked}: "
                   "not imported (it belongs to the gateway)")
    if not plans:
        click.echo("no provider keys to import")
        return
    state = gateway_home(home, create=not dry_run)
    target = _file_target(spec, state)
    store: SecretStore | None = None
    if target is None or target.exists():
        store = open_store(spec, home=state, passphrase=passphrase)
    _plan(plans, store, state)
    verb = "would store" if dry_run else "to store"
    for plan in plans:
        places = ", ".join(_place(h) for h in plan.hits)
        if plan.existing is not None:
            click.echo(f"{plan.provider}  {plan.preview}  already stored as "
                       f"store:{plan.existing}  ({places})")
        else:
            click.echo(f"{plan.provider}  {plan.preview}  {verb} as store:{plan.name}  "
                       f"({places})")
    new = [p for p in plans if p.name is not None]
    if dry_run:
        click.echo(f"dry run: nothing stored ({len(new)} key{'s' if len(new) != 1 else ''} "
                   "would be)")
    elif not new:
        click.echo("nothing new to store: every key found is already in the store")
    else:
        where = store.describe() if store is not None else str(target)
        if not yes:
            click.confirm(f"store {len(new)} key{'s' if len(new) != 1 else ''} in {where}?",
                          abort=True)
        if store is None:
            store = open_store(spec, home=state, passphrase=passphrase, create=True)
        for plan in new:
            assert plan.name is not None
            index.add_key(store, state, plan.provider, plan.name, plan.secret)
            click.echo(f"stored {plan.provider} key {plan.hits[0].fingerprint} as "
                       f"store:{plan.name}")
    click.echo("now remove the plain-text copies (gateway import never edits your files):")
    for line in _removal_hints(plans):
        click.echo(f"  {line}")
    names = [(p.existing or p.name or "", p.provider) for p in plans]
    for line in _config_snippet(names):
        click.echo(line)
    click.echo(RUN_HINT)
