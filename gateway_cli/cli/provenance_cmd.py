"""`gateway provenance pin|check`: PEP 740 provenance for your own project's lockfile.

Heavy imports (sigstore, pydantic) happen inside the commands, so
`gateway --help` does not pay for them.
"""

from __future__ import annotations

from pathlib import Path

import click

_LOCKFILE = click.argument("lockfile", type=click.Path(path_type=Path, exists=True,
                                                       dir_okay=False))
_RECORD = click.option(
    "--provenance-file", "record", type=click.Path(path_type=Path, dir_okay=False),
    default=None, metavar="PATH",
    help="The provenance record. Default: LOCKFILE.provenance.json beside the lockfile.")
_INDEX = click.option(
    "--index-url", default="https://pypi.org", show_default=True, metavar="URL",
    help="Index serving PyPI's Integrity API (and, for requirements files, the JSON "
         "Simple API). A pip-style URL ending in /simple is accepted.")


def _base(index_url: str) -> str:
    from gateway_cli.supply import integrity_api

    try:
        return integrity_api.index_base(index_url)
    except integrity_api.IndexAPIError as err:
        raise click.BadParameter(str(err), param_hint="'--index-url'") from err


@click.group()
def provenance() -> None:
    """Pin and check who publishes each dependency in your lockfile (PEP 740).

    `pin` fetches the provenance of every artifact in a pylock.toml or a
    hash-pinned requirements file, verifies it offline against the Sigstore
    root shipped with the gateway, and records each project's Trusted
    Publisher beside the lock. Commit that file. `check` then fails (exit 1)
    when an artifact lost the provenance its project used to publish, comes
    from another publisher, or does not verify; run it in CI.
    """


@provenance.command()
@_LOCKFILE
@_INDEX
@click.option("--accept-change", "accepted", multiple=True, metavar="NAME",
              help="Accept that project NAME changed publisher or stopped publishing "
                   "provenance (after checking with its maintainers). Repeatable.")
@_RECORD
def pin(lockfile: Path, index_url: str, accepted: tuple[str, ...], record: Path | None) -> None:
    """Fetch, verify and pin the provenance of every artifact in LOCKFILE (online).

    The first time a project is seen, its Trusted Publisher is pinned. A later
    run refuses a different publisher, or a release without provenance from a
    pinned project, unless you pass --accept-change NAME. Nothing is written
    when anything is refused.
    """
    from gateway_cli.supply import trust, userlock

    base = _base(index_url)
    store = record or userlock.store_path(lockfile)
    report = userlock.pin(lockfile, store=store, base=base, accepted=frozenset(accepted),
                          verifier=trust.pinned_verifier())
    failed = [r for r in report.results if not r.passed]
    for result in failed:
        click.echo(f"FAILED [{result.kind}] {result.message}")
    if report.update is not None:
        for refusal in report.update.refusals:
            click.echo(f"REFUSED [{refusal.kind}] {refusal.message}")
    if report.written is None:
        count = len(failed) or len(report.update.refusals if report.update else ())
        raise userlock.CheckFailed(f"{count} problem(s) in {lockfile}; nothing was written "
                                   f"to {store}")
    update = report.update
    assert update is not None
    for name in update.new:
        click.echo(f"pinned   {name}: {update.pins[name].describe()}")
    for name in update.changed:
        click.echo(f"re-pinned {name}: {update.pins[name].describe()}")
    for name in update.dropped:
        click.echo(f"unpinned {name} (accepted: no provenance any more)")
    attested = sum(1 for r in report.results if r.kind == "verified")
    click.echo(f"{lockfile}: {len(report.results)} artifacts, {attested} with verified "
               f"provenance, {len(update.pins)} projects pinned; wrote {report.written}")


@provenance.command()
@_LOCKFILE
@click.option("--offline", is_flag=True,
              help="Verify the provenance recorded by `pin` instead of fetching it again; "
                   "needs no network.")
@_INDEX
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif"]),
              default="text", show_default=True, help="Report format on stdout.")
@_RECORD
@click.option("--allow-unknown", is_flag=True,
              help="Exit 0 even when nothing could be verified (an index that serves no "
                   "provenance); by default that is a failure, never a silent pass.")
def check(lockfile: Path, offline: bool, index_url: str, output_format: str,
          record: Path | None, allow_unknown: bool) -> None:
    """Fail (exit 1) if any artifact in LOCKFILE is not provably from its pinned publisher.

    Online by default: fetches each artifact's current provenance from the
    index. With --offline, re-verifies the bundles recorded by `pin`. Exit 0
    when every artifact passes and at least one was verified, 1 when any
    fails or none was verified (unless --allow-unknown), 2 when the lockfile
    or the record cannot be read.
    """
    from gateway_cli.supply import trust, userlock
    from gateway_cli.supply.provenance import summarise

    base = None if offline else _base(index_url)
    store = record or userlock.store_path(lockfile)
    results = userlock.check(lockfile, store=store, base=base,
                             verifier=trust.pinned_verifier())
    click.echo(userlock.RENDERERS[output_format](results, lockfile), nl=False)
    failed = sum(1 for r in results if not r.passed)
    if failed:
        raise userlock.CheckFailed(f"provenance check failed for {failed} of {len(results)} "
                                   f"artifacts in {lockfile}")
    if summarise(results).verified == 0 and not allow_unknown:
        raise userlock.CheckFailed(
            f"provenance check verified nothing in {lockfile} ({len(results)} artifacts, none "
            "with provenance to verify); pass --allow-unknown to accept that")
