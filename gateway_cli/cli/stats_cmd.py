"""`gateway stats`: who uses which models and providers, what it costs, what the guards found.

The view a security team wants of "shadow AI": every request went through the
gateway, so its request log already says which keys talk to which providers.
This reads that log (auditlog/stats_cache.py) and prints one row per key,
team, model, provider or deployment.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gateway_cli.cli.moments import record_time
from gateway_cli.cli.shared import config_option, home_option

if TYPE_CHECKING:
    from gateway_cli.auditlog.summary import Dims, Tally

# summary.DIMENSIONS, spelled out so that `gateway --help` does not import the summary.
DIMENSIONS = ("key", "team", "model", "provider", "deployment")

_BLOCKS = " ▏▎▍▌▋▊▉█"
_NAME_WIDTH = 32


@click.command()
@click.option("--by", type=click.Choice(DIMENSIONS), default="key", show_default=True,
              help="One row per client key, team, model, provider or deployment.")
@click.option("--since", default=None, metavar="24h|7d|DATE",
              help="Only requests that ended at or after this (a duration before now, or "
                   "an ISO date/time, UTC unless it says otherwise).")
@click.option("--until", default=None, metavar="24h|7d|DATE",
              help="Only requests that ended before this.")
@click.option("--bar", type=click.Choice(["requests", "cost"]), default="requests",
              show_default=True, help="What the bar of each row measures.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--no-cache", is_flag=True,
              help="Read every file in full; neither read nor write the summaries of "
                   "rotated files.")
@config_option
@home_option
def stats(by: str, since: str | None, until: str | None, bar: str, fmt: str, no_cache: bool,
          config_path: Path | None, home: Path | None) -> None:
    """Requests, errors, blocks, tokens, cost, latency and guard findings from the
    request log, per key, team, model, provider or deployment, and which keys use
    which providers and models.

    Stats does not check the log's chain or signatures; `gateway log verify`
    does. Lines that are not records are skipped and counted. P50 and P95
    are estimated from a latency histogram with fixed buckets.

    Rotated files (requests-<seq>.jsonl) never change, so each is summarised
    once per UTC hour into <home>/stats-cache/ and later runs read only the
    summaries and the active file. So --since/--until are exact for the
    active file and whole UTC hours for rotated files: an hour is counted
    when any part of it lies in the window (exact for windows on the hour).
    The summaries are a convenience in the 0700 home: one is used while it
    matches its file's size, mtime and last line, else recomputed;
    --no-cache reads every file.
    """
    import shutil

    from gateway_cli.auditlog.files import request_log_path
    from gateway_cli.auditlog.stats_cache import collect, hour_window
    from gateway_cli.auditlog.summary import Tally
    from gateway_cli.config import load_config
    from gateway_cli.keys.home import gateway_home

    now = time.time()
    start = None if since is None else record_time(since, now, "--since")
    end = None if until is None else record_time(until, now, "--until")
    if start is not None and end is not None and start >= end:
        raise click.BadParameter(f"{start} is not before --until {end}", param_hint="--since")
    config = load_config(config_path)
    state = gateway_home(home)
    active = request_log_path(config.audit.path, state)
    usage = collect(active, None if no_cache else state / "stats-cache", since=start,
                    until=end)
    index = DIMENSIONS.index(by)
    rows: dict[str | None, Tally] = {}
    total = Tally()
    uses: dict[Use, int] = {}
    for dims, tally in usage.groups.items():
        rows.setdefault(dims[index], Tally()).add(tally)
        total.add(tally)
        pair = _use(dims)
        uses[pair] = uses.get(pair, 0) + tally.requests
    ordered = sorted(rows.items(), key=lambda kv: (-kv[1].requests, kv[0] is None, kv[0] or ""))
    key_use = _key_order(uses)
    for warning in usage.warnings:
        click.echo(f"gateway: warning: {warning}", err=True)
    if fmt == "json":
        click.echo(json.dumps({
            "by": by, "since": start, "until": end, "records": usage.records,
            "unreadable_lines": usage.unreadable, "odd_records": usage.odd,
            "other_events": usage.other_events,
            "files": [{"name": name, "read": how} for name, how in usage.files],
            "rows": [{"name": name, **_numbers(t)} for name, t in ordered],
            "total": _numbers(total),
            "key_usage": [{"key": k, "provider": p, "model": m, "requests": n}
                          for (k, p, m), n in key_use],
        }, indent=1, ensure_ascii=False))
    elif not ordered:
        click.echo("no requests in the log" + ("" if start is None and end is None
                                               else " in that time window"), err=True)
    else:
        width = shutil.get_terminal_size((100, 24)).columns
        for line in table(by, ordered, total, bar, width):
            click.echo(line)
        click.echo("")
        for line in key_table(key_use):
            click.echo(line)
    wide = [f for f, how in usage.files if how != "scanned"]
    if fmt == "table" and wide and (start is not None or end is not None):
        low, high = hour_window(start, end)
        click.echo(f"gateway: rotated files are counted by whole UTC hours, here from "
                   f"{low or 'the start'} to {high or 'the end'}", err=True)
    if total.dropped:
        click.echo(f"gateway: the log's writer dropped {total.dropped} request records "
                   "(its queue was full, [audit] on_full = \"drop\"): these counts are low",
                   err=True)
    if usage.unreadable:
        click.echo(f"gateway: {usage.unreadable} unreadable lines skipped; run "
                   "`gateway log verify`", err=True)
    if usage.odd:
        click.echo(f"gateway: {usage.odd} records held values that make no sense (negative "
                   "or non-numeric tokens, cost or latency, ...): counted, those values "
                   "left out", err=True)


Use = tuple[str | None, str | None, str | None]  # key, provider, model


def _key_order(uses: dict[Use, int]) -> list[tuple[Use, int]]:
    """Keys by their requests, then each key's providers by theirs, then its models."""
    per_key: dict[str | None, int] = {}
    per_provider: dict[tuple[str | None, str | None], int] = {}
    for (key, provider, _), count in uses.items():
        per_key[key] = per_key.get(key, 0) + count
        per_provider[key, provider] = per_provider.get((key, provider), 0) + count

    def order(item: tuple[Use, int]) -> tuple[Any, ...]:
        (key, provider, model), count = item
        return (-per_key[key], key is None, key or "", -per_provider[key, provider],
                provider is None, provider or "", -count, model or "")

    return sorted(uses.items(), key=order)


def _use(dims: Dims) -> Use:
    return dims[0], dims[3], dims[2]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _numbers(t: Tally) -> dict[str, Any]:
    return {
        "requests": t.requests, "errors": t.errors, "blocked": t.blocked,
        "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
        "cost": round(t.cost, 6) if t.cost_records else None, "cost_records": t.cost_records,
        "latency_ms": {"p50": _rounded(t.percentile(50)), "p95": _rounded(t.percentile(95)),
                       "mean": _rounded(t.latency_mean),
                       "max": _rounded(t.latency_max) if t.latency_records else None},
        "findings": dict(sorted(t.findings.items())), "dropped": t.dropped,
    }


def clean(name: str | None, width: int = _NAME_WIDTH) -> str:
    """A name fit for a terminal: no control characters (a log line could carry escape
    sequences), at most `width` characters."""
    if name is None:
        return "-"
    text = "".join(c if c.isprintable() else "?" for c in name)
    return text if len(text) <= width else text[:width - 1] + "…"


def _cost(t: Tally) -> str:
    if not t.cost_records:
        return "-"
    return f"${t.cost:,.2f}" if t.cost >= 1 else f"${t.cost:.4f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def findings_text(findings: dict[str, int]) -> str:
    return ", ".join(f"{clean(g, 16)} {n:,}"
                     for g, n in sorted(findings.items(), key=lambda kv: (-kv[1], kv[0])))


def bar_text(value: float, largest: float, width: int) -> str:
    """A bar of `width` cells for the largest value, in eighths of a cell; any value above
    zero shows at least an eighth."""
    if largest <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    return "█" * (eighths // 8) + (_BLOCKS[eighths % 8] if eighths % 8 else "")


def table(by: str, ordered: list[tuple[str | None, Tally]], total: Tally, bar: str,
          columns: int) -> list[str]:
    head = [by.upper(), "REQUESTS", "ERRORS", "BLOCKED", "IN TOKENS", "OUT TOKENS", "COST",
            "P50 MS", "P95 MS", "FINDINGS"]
    body = [[clean(name), f"{t.requests:,}", f"{t.errors:,}", f"{t.blocked:,}",
             f"{t.input_tokens:,}", f"{t.output_tokens:,}", _cost(t),
             _ms(t.percentile(50)), _ms(t.percentile(95)), findings_text(t.findings)]
            for name, t in ordered]
    foot = ["TOTAL", f"{total.requests:,}", f"{total.errors:,}", f"{total.blocked:,}",
            f"{total.input_tokens:,}", f"{total.output_tokens:,}", _cost(total),
            _ms(total.percentile(50)), _ms(total.percentile(95)),
            findings_text(total.findings)]
    widths = [max(len(r[i]) for r in [head, *body, foot]) for i in range(len(head))]
    widths[-1] = min(widths[-1], 40)

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        numbers = [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1], strict=True)]
        last = cells[-1] if len(cells[-1]) <= widths[-1] else cells[-1][:widths[-1] - 1] + "…"
        return "  ".join([first, *numbers, last.ljust(widths[-1])])

    used = sum(widths) + 2 * len(widths)
    room = max(10, min(60, columns - used - 1))
    values = [t.cost if bar == "cost" else float(t.requests) for _, t in ordered]
    largest = max(values, default=0.0)
    out = [line(head) + ("  (bar: cost)" if bar == "cost" else "")]
    for cells, value in zip(body, values, strict=True):
        out.append((line(cells) + "  " + bar_text(value, largest, room)).rstrip())
    out.append(line(foot).rstrip())
    return [text.rstrip() for text in out]


def key_table(key_use: list[tuple[Use, int]]) -> list[str]:
    """Which key uses which provider and model, the key and provider said once each.
    The provider is "-" when the record names none: no deployment answered (blocked,
    refused, failed) or the one that did has no provider (the mock)."""
    rows = [["KEY", "PROVIDER", "MODEL", "REQUESTS"]]
    last_key: object = object()
    last_provider: object = object()
    for (key, provider, model), count in key_use:
        show_key = key != last_key
        show_provider = show_key or provider != last_provider
        rows.append([clean(key) if show_key else "", clean(provider) if show_provider else "",
                     clean(model), f"{count:,}"])
        last_key, last_provider = key, provider
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return ["  ".join([r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].ljust(widths[2]),
                       r[3].rjust(widths[3])]).rstrip() for r in rows]
