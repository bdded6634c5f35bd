"""`gateway log`: the request audit log, verified, followed and exported.

The log is found as the gateway finds it: `[audit] path` in the config given
with `--config`, else `<home>/requests.jsonl`. Verification needs every audit
key still in the secret store (retired ones too: records they signed are
otherwise only "unverifiable"). Export and tail read records without checking
them; `gateway log verify` is what says they can be trusted.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path

import click

from gateway_cli.cli.moments import record_time
from gateway_cli.cli.shared import F, home_option, open_cli_store, store_options
from gateway_cli.errors import GatewayError

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _config_option(func: F) -> F:
    return click.option("--config", "config_path", type=click.Path(path_type=Path),
                        default=None, metavar="PATH",
                        help="gateway.toml whose [audit] path names the log (default: "
                             "<home>/requests.jsonl).")(func)


def _log_path(home: Path | None, config_path: Path | None) -> Path:
    from gateway_cli.auditlog.files import request_log_path
    from gateway_cli.config import load_config
    from gateway_cli.keys.home import gateway_home

    config = load_config(config_path)
    return request_log_path(config.audit.path, gateway_home(home, create=False))


def _exists(path: Path) -> Path:
    from gateway_cli.auditlog.files import log_files

    if not log_files(path) and not path.is_symlink():
        raise GatewayError(f"there is no request log at {path} (a gateway writes it once "
                           "it has served a request; see [audit] path in gateway.toml)")
    return path


@click.group("log")
def log_group() -> None:
    """The request audit log: one chained, signed record per request."""


@log_group.command("verify")
@_config_option
@store_options
def verify(config_path: Path | None, home: Path | None, secrets_spec: str | None,
           passphrase_fd: int | None, passphrase_file: Path | None) -> None:
    """Check every file of the log as one chain, with every audit key in the store.

    A gateway served with --workers N wrote one chain per worker (worker k's beside
    the log as <name>.worker<k>.jsonl): each chain is checked, and all must be intact.
    """
    from gateway_cli.auditlog.files import worker_chains
    from gateway_cli.auditlog.verify_log import verify_log
    from gateway_cli.keys import signing

    path = _exists(_log_path(home, config_path))
    _, store = open_cli_store(home, secrets_spec, passphrase_fd, passphrase_file,
                              config_path=config_path)
    keys = {e.kid: e.key for e in signing.load(store).keys.get("audit", ())}
    intact = True
    for chain in [path, *worker_chains(path)]:
        report = verify_log(chain, keys)
        for problem in report.problems:
            click.echo(f"problem: {problem}")
        if report.starts_at is not None:
            click.echo(f"note: the log starts at seq {report.starts_at}: the records before "
                       "it are not here (older files removed)")
        click.echo(f"{chain}: {report.records} record(s) in {len(report.files)} file(s), "
                   f"{report.signed} signed, {report.unverifiable} signed by retired keys; "
                   + ("intact" if report.ok else "TAMPERED"))
        click.echo(report.where_it_ends())
        intact = intact and report.ok
    if not keys:
        click.echo(f"warning: {store.describe()} holds no audit key; signatures were not "
                   "checked", err=True)
    if not intact:
        sys.exit(1)


@log_group.command("tail")
@click.option("-n", "count", type=click.IntRange(0), default=20, show_default=True,
              help="How many of the last records to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing records as they are "
              "written (across rotations) until interrupted.")
@click.option("--json", "as_json", is_flag=True, help="Print the records as they are.")
@_config_option
@home_option
def tail(count: int, follow: bool, as_json: bool, config_path: Path | None,
         home: Path | None) -> None:
    """The last records, one line each: time, id, principal, model, deployment, status,
    latency, tokens, cost, verdict.

    A gateway served with --workers N wrote one chain per worker: the records of all
    of them are shown, merged by time, each line ending with the worker that wrote it.
    """
    from gateway_cli.auditlog import reading

    path = _exists(_log_path(home, config_path))
    lines, followed, chains = reading.tail_all(path, count)
    out = sys.stdout

    def emit(worker: int, line: bytes) -> None:
        if as_json:
            text = line.decode("utf-8", "replace").rstrip("\n")
        else:
            text = reading.describe(line) + (f" [worker {worker}]" if chains > 1 else "")
        out.write(text + "\n")
        out.flush()

    for worker, line in lines:
        emit(worker, line)
    if not followed:
        if follow:
            raise GatewayError(f"there is no active request log {path} to follow")
        return
    if not follow:
        for _, fd, _ in followed:
            os.close(fd)
        return
    from gateway_cli.auditlog.files import every_chain

    known = {active: worker for worker, active in every_chain(path)}
    workers = [known.get(active, 1) for active, _, _ in followed]

    def discover() -> list[tuple[Path, int, int]]:
        """Chains begun since (a gateway started again with more workers), from their
        first line; a chain that exists only as rotated files waits for its active file."""
        nonlocal chains
        fresh = []
        for worker, active in every_chain(path):
            if worker in workers or not active.exists():
                continue
            try:
                fresh.append((active, reading.open_log_file(active), 0))
            except GatewayError:
                continue
            workers.append(worker)
            chains += 1
        return fresh

    reading.follow_all(followed, lambda k, line: emit(workers[k], line), stop=lambda: False,
                       discover=discover)


def _moment(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The bound as the log writes times, so records compare as strings."""
    if value is None:
        return None
    return record_time(value, time.time())


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: never a formula (a leading ' defuses it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA) else value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@log_group.command("export")
@click.option("--since", callback=_moment, default=None, metavar="24h|7d|ISO",
              help="Records from this time on (a time ago, or an ISO date/time; UTC).")
@click.option("--until", callback=_moment, default=None, metavar="24h|7d|ISO",
              help="Records before this time.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="jsonl: the records as they are; csv: time, seq, "
              "event and one column per record field.")
@_config_option
@home_option
def export(since: str | None, until: str | None, fmt: str, config_path: Path | None,
           home: Path | None) -> None:
    """Request records (llm.request, mcp.call) in a time range, to stdout.

    A gateway served with --workers N wrote one chain per worker: the records of all
    of them come out merged by time (seq counts within a worker's chain; the csv
    format's last column, worker, says which).

    The records are not verified here: run `gateway log verify` first.
    """
    from gateway_cli.auditlog import reading
    from gateway_cli.auditlog.records import FIELDS, REQUEST_EVENTS

    path = _exists(_log_path(home, config_path))
    skipped = 0
    binary = sys.stdout.buffer
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(["time", "seq", "event", *FIELDS, "worker"])
    for worker, line, record in reading.records_all(path):
        if record is None:
            skipped += 1
            continue
        stamp = record.get("time")
        if record.get("event") not in REQUEST_EVENTS or not isinstance(stamp, str):
            continue
        if (since is not None and stamp < since) or (until is not None and stamp >= until):
            continue
        if fmt == "jsonl":
            binary.write(line)
            continue
        data = record["data"]
        assert isinstance(data, dict)
        writer.writerow([csv_cell(stamp), csv_cell(record.get("seq")),
                         csv_cell(record.get("event")),
                         *(csv_cell(data.get(name)) for name in FIELDS), csv_cell(worker)])
    binary.flush()
    if skipped:
        click.echo(f"warning: {skipped} line(s) are not records and were skipped; run "
                   "`gateway log verify`", err=True)
