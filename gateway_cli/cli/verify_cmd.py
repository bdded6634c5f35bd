"""`gateway verify`: refuse an environment whose installed files differ from the lock."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Literal, cast

import click


@click.command()
@click.option("--strict", is_flag=True,
              help="Also fail on warnings: a dependency whose provenance is unknown fails.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="Report format: text for people, json for scripts, "
                                      "sarif for code scanning.")
@click.option("--python", "python", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="PATH",
              help="Verify the environment of this interpreter (asked only for its paths, "
                   "with -I -S, so none of its start-up hooks run). Default: the running one.")
@click.option("--lock", "locks", multiple=True, metavar="FILE",
              type=click.Path(path_type=Path, dir_okay=False),
              help="A hash-pinned requirements file; repeat to combine several. Default: "
                   "lockfiles/requirements.txt and requirements-build.txt, as the README "
                   "installs them.")
@click.option("--dev", is_flag=True,
              help="Use the runtime, build and test lockfiles: what the dev venv holds.")
@click.option("--provenance", "provenance_path", metavar="FILE",
              type=click.Path(path_type=Path, dir_okay=False),
              help="provenance.json to check against (default: lockfiles/provenance.json): "
                   "each installed distribution's attestations are verified offline, and "
                   "its RECORD digest must match the locked wheel's.")
@click.option("--no-cache", is_flag=True,
              help="Hash every file even if an earlier check found it clean (for CI).")
@click.option("--self", "itself", is_flag=True,
              help="Release binary only: check the binary itself (every bundled file against "
                   "its embedded manifest, the embedded provenance against the embedded trust "
                   "root and lock) and print the report. The binary does this at every start.")
def verify(strict: bool, fmt: str, python: Path | None, locks: tuple[Path, ...], dev: bool,
           provenance_path: Path | None, no_cache: bool, itself: bool) -> None:
    """Check that the installed environment is exactly the lock.

    Installed distributions must equal the lock (nothing missing, extra or of
    another version), every installed file must match its RECORD hash, and
    no start-up hook (.pth with code, sitecustomize) may exist outside the
    allow-list. Exit 0 when clean, 1 on any violation, 2 on a usage error.

    In the release binary, --self checks the binary instead.
    """
    if itself:
        _verify_self(strict, fmt, other=bool(python or locks or dev or provenance_path))
        return
    from gateway_cli.supply import report as reports
    from gateway_cli.supply import verify as checks
    from gateway_cli.supply.environment import environment_for
    from gateway_cli.supply.verify_cache import VerifyCache

    if dev and locks:
        raise click.UsageError("use --dev or --lock, not both")
    from gateway_cli.supply.selfcheck import is_frozen

    if python is None and is_frozen():
        raise click.UsageError("the release binary has no Python environment of its own to "
                               "check: --self checks the binary, --python PATH another "
                               "environment")
    lock = checks.load_lock(list(locks) or checks.default_lock_paths(dev=dev))
    from gateway_cli.supply import provenance_check

    path = provenance_path or provenance_check.default_path()
    checker: checks.ProvenanceChecker | None = None
    digests: dict[tuple[str, str], frozenset[str]] = {}
    # The project's own provenance record goes with the project's own lockfiles only.
    if provenance_path is not None or (not locks and path.is_file()):
        checker, digests = provenance_check.for_file(path)
    env = environment_for(python)
    cache = None if no_cache else VerifyCache.load()
    result = checks.verify(env, lock, strict=strict, record_digests=digests,
                           provenance=checker, cache=cache)
    click.echo(reports.render(result, cast(reports.Format, fmt)), nl=False)
    if not result.ok:
        sys.exit(1)


def _verify_self(strict: bool, fmt: str, *, other: bool) -> None:
    from gateway_cli.supply import report as reports
    from gateway_cli.supply import selfcheck
    from gateway_cli.supply.bundle_records import sha256_file

    if other:
        raise click.UsageError("--self checks the binary itself: it takes no --python, --lock, "
                               "--dev or --provenance")
    if fmt == "sarif":
        raise click.UsageError("--self reports as text or json")
    selfcheck.require_frozen()
    report = selfcheck.check(strict=strict)
    report = dataclasses.replace(report,
                                 sha256=sha256_file(report.executable))
    click.echo(reports.render_self(report, cast(Literal["text", "json"], fmt)), nl=False)
    if not report.ok:
        sys.exit(1)
