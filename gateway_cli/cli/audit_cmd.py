"""`gateway audit`: fail when a locked dependency has an advisory or is malicious.

Exit codes are the contract CI relies on: 0 nothing found, 1 findings, 2 the
audit could not be done (bad option or lock, service unreachable or talking
nonsense). An audit that did not happen must never look clean.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from gateway_cli.supply.advisories import Finding, Report

DEFAULT_LOCK = Path("lockfiles/requirements.txt")


def _read_pins(paths: tuple[Path, ...]) -> dict[tuple[str, str], list[str]]:
    from gateway_cli.supply.lockfile import exact_pins

    where: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise click.UsageError(f"{path} is not UTF-8 text; pass a requirements "
                                   "file") from None
        except OSError as err:
            raise click.UsageError(f"cannot read {path}: {err.strerror}") from None
        pins, problems = exact_pins(text)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise click.UsageError(f"{path}: {problems[0]}{more}")
        if not pins:
            raise click.UsageError(f"{path} pins no packages; nothing to audit")
        for pin in pins:
            if str(path) not in where[pin]:
                where[pin].append(str(path))
    return where


@click.command()
@click.option("--lock", "locks", multiple=True, metavar="FILE",
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Hash-pinned requirements file to audit; repeat for several. "
                   f"Default: {DEFAULT_LOCK}.")
@click.option("--osv-url", default=None, metavar="URL",
              help="Full query endpoint of an OSV-compatible service (the same value "
                   "pip-audit's --osv-url takes). Default: https://api.osv.dev/v1/query.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json is for machines; its schema is versioned.")
@click.option("--ignore", "ignores", multiple=True, metavar="'ID: REASON'",
              help="Accept one advisory (by id or alias) for the reason given, which is "
                   "printed with the result; repeatable. Malicious releases cannot be "
                   "ignored.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              metavar="SECONDS", help="Per-request network timeout.")
def audit(locks: tuple[Path, ...], osv_url: str | None, fmt: str, ignores: tuple[str, ...],
          timeout: float) -> None:
    """Check every locked release against an OSV advisory service.

    Known-malicious releases (such as litellm 1.82.7 and 1.82.8) are reported
    as MALICIOUS, apart from ordinary vulnerabilities, which come with the
    versions that fix them. Exits 0 when nothing is found, 1 on any finding,
    and 2 when the audit could not be done, so CI never mistakes a failed
    audit for a clean one.
    """
    from gateway_cli.supply import advisories, osv

    try:
        accepted = [advisories.parse_ignore(text) for text in ignores]
        client = osv.Client(osv_url or osv.DEFAULT_URL, timeout)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    paths = locks or (DEFAULT_LOCK,)
    if not locks and not DEFAULT_LOCK.is_file():
        raise click.UsageError(f"{DEFAULT_LOCK} not found; run from the project directory "
                               "or pass --lock FILE")
    where = _read_pins(paths)
    releases = {pin: osv.Release(*pin) for pin in where}
    answers = osv.query_all(client, releases.values())
    report = advisories.build_report(client.url, [str(p) for p in paths], answers,
                                   {releases[pin]: files for pin, files in where.items()},
                                   accepted)
    click.echo(_as_json(report) if fmt == "json" else _as_text(report))
    if report.findings:
        raise SystemExit(1)


def _as_json(report: Report) -> str:
    import msgspec

    return msgspec.json.format(msgspec.json.encode(report), indent=2).decode()


def _ids(finding: Finding) -> str:
    return finding.id + (f" ({', '.join(finding.aliases)})" if finding.aliases else "")


def _as_text(report: Report) -> str:
    """One block per finding, malicious first, then what was ignored and why."""
    pad = " " * 12
    lines = []
    for f in report.findings:
        label = "MALICIOUS" if f.kind == "malicious" else "VULNERABLE"
        lines.append(f"{label:<11} {f.package} {f.version}  {_ids(f)}")
        if f.summary:
            lines.append(f"{pad}{f.summary}")
        if f.fix_versions:
            lines.append(f"{pad}fixed in: {', '.join(f.fix_versions)}")
        if f.kind == "malicious":
            lines.append(f"{pad}remove this release, and rotate every credential the "
                         "machines that installed it could read")
        elif not f.fix_versions:
            lines.append(f"{pad}no fixed release yet")
    for i in report.ignored:
        lines.append(f"{'ignored':<11} {i.finding.package} {i.finding.version}  "
                     f"{_ids(i.finding)}: {i.reason}")
    for n in report.ignores_not_applied:
        lines.append(f"note: --ignore {n.id} not applied: {n.why}")
    checked = (f"{report.packages_checked} releases from {', '.join(report.locks)} "
               f"checked against {report.service}")
    if report.findings:
        vulnerable = len(report.findings) - report.malicious
        lines.append(f"{report.malicious} malicious, {vulnerable} vulnerable: {checked}")
    else:
        lines.append(f"no known advisories: {checked}")
    if report.ignored:
        lines[-1] += f"; {len(report.ignored)} ignored"
    return "\n".join(lines)
