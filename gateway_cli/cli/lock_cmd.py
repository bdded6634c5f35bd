"""`gateway lock`: re-resolve, re-export, fetch provenance, regenerate the SBOM (maintainers)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click

from gateway_cli.errors import GatewayError


class StaleLock(GatewayError):
    """The committed lock does not match pyproject.toml or itself."""


def _check(root: Path) -> list[str]:
    from gateway_cli.supply import lockfile, project_lock
    from gateway_cli.supply import sbom as cdx

    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    uv_lock = tomllib.loads((root / "uv.lock").read_text())
    problems = lockfile.drift(pyproject, uv_lock)
    resolved = lockfile.resolved_pins(uv_lock)
    for name in ("requirements.txt", "requirements-build.txt", "requirements-release.txt",
                 "requirements-test.txt"):
        pins, bad = lockfile.parse_requirements((root / "lockfiles" / name).read_text())
        problems += [f"{name}: {p}" for p in bad]
        problems += lockfile.compare_pins(name, pins, resolved)
    pylock, bad = lockfile.parse_pylock(tomllib.loads((root / project_lock.PYLOCK).read_text()))
    problems += [f"pylock.toml: {p}" for p in bad]
    problems += lockfile.compare_pins("pylock.toml", pylock, resolved)
    problems += project_lock.stale(root)
    target = root / cdx.DEFAULT_OUTPUT
    previous = target.read_bytes() if target.exists() else None
    if previous is None or cdx.differences(
            cdx.render(cdx.document(cdx.load(root), cdx.licence_lookup(previous))), previous):
        problems.append(f"{cdx.DEFAULT_OUTPUT} does not match the lock; run `gateway sbom`")
    return problems


@click.command()
@click.option("--check", is_flag=True,
              help="Change nothing; exit 1 if the committed lock, provenance record or SBOM "
                   "is stale. Offline. For CI.")
@click.option("--upgrade", is_flag=True, help="Move every pin to the newest allowed version.")
@click.option("--index-url", default=None, metavar="URL",
              help="Index whose integrity API serves provenance (default: the public PyPI).")
@click.option("--accept-publisher-change", "accepted", multiple=True, metavar="NAME",
              help="Accept that project NAME now publishes from another place (repeatable). "
                   "Only after its maintainers announced the move.")
@click.option("--no-fetch", is_flag=True,
              help="Do not ask the index for provenance; record every artifact as unknown.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("."), show_default=True, help="The project checkout.")
def lock(check: bool, upgrade: bool, index_url: str | None, accepted: tuple[str, ...],
         no_fetch: bool, root: Path) -> None:
    """Re-lock the gateway's own dependencies (for maintainers; online).

    Re-resolves pyproject.toml with uv, rewrites every file in lockfiles/,
    fetches and verifies each runtime artifact's PEP 740 provenance, pins each
    project's trusted publisher on first sight and refuses a changed publisher
    later, records the RECORD digest of each wheel for this platform, and
    regenerates sbom/gateway.cdx.json. With --check it changes nothing and
    fails when any of those files is stale.
    """
    if not (root / "pyproject.toml").exists():
        raise click.UsageError(f"{root} has no pyproject.toml; run from the project checkout "
                               "or pass --root")
    if check:
        problems = _check(root)
        for problem in problems:
            click.echo(problem)
        if problems:
            raise StaleLock(f"the lock is stale ({len(problems)} problem(s)); run `gateway lock`")
        click.echo("lock, provenance record and SBOM are up to date")
        return

    from gateway_cli.supply import project_lock, relock
    from gateway_cli.supply import sbom as cdx
    from gateway_cli.supply.integrity_api import DEFAULT_INDEX_URL, index_base

    counts = relock.relock(root, upgrade=upgrade)
    click.echo("locked: " + ", ".join(f"{n} {group}" for group, n in counts.items()))
    click.echo("computing RECORD digests of the locked wheels for this platform...")
    records = project_lock.download_record_digests(root)
    document, report = project_lock.refresh(
        root, base=index_base(index_url or DEFAULT_INDEX_URL), accepted=set(accepted),
        fetch=not no_fetch, records=records)
    if report is not None and report.written is None:
        from gateway_cli.supply.userlock import render_text

        click.echo(render_text(report.results, root / project_lock.PYLOCK), nl=False)
        raise StaleLock("provenance refused; lockfiles/provenance.json was not updated")
    statuses: dict[str, int] = {}
    for entry in document.artifacts:
        statuses[entry.status] = statuses.get(entry.status, 0) + 1
    click.echo("provenance: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    target = root / cdx.DEFAULT_OUTPUT
    previous = target.read_bytes() if target.exists() else None
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(cdx.render(cdx.document(cdx.load(root), cdx.licence_lookup(previous))))
    click.echo(f"wrote {cdx.DEFAULT_OUTPUT}")
