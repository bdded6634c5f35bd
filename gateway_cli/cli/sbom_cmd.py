"""`gateway sbom`: write, or check, the CycloneDX SBOM of the runtime lock."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click


@click.command()
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False),
              default=None, metavar="FILE",
              help="Where the SBOM goes (relative to --root). Default: sbom/gateway.cdx.json.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 if FILE differs from what the lock produces.")
@click.option("--root", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=Path("."), show_default=True, metavar="DIR",
              help="Project directory holding uv.lock and lockfiles/.")
def sbom(output: Path | None, check: bool, root: Path) -> None:
    """Write the CycloneDX 1.6 SBOM of the locked runtime dependencies.

    One component per locked package with its purl, the SHA-256 of every
    wheel and sdist the lock allows, the licence its installed metadata
    declares, its provenance status, and the dependency graph. The output is
    reproducible, so CI runs `gateway sbom --check` to fail when the lock
    changed and the committed SBOM was not regenerated.
    """
    from gateway_cli.supply import sbom as cdx

    target = output if output is not None and output.is_absolute() else \
        root / (output or Path(cdx.DEFAULT_OUTPUT))
    try:
        previous: bytes | None = target.read_bytes()
    except FileNotFoundError:
        previous = None
    except OSError as err:
        raise cdx.SbomInputMissing(f"cannot read {target}: {err.strerror}") from None
    bom = cdx.document(cdx.load(root), cdx.licence_lookup(previous))
    data = cdx.render(bom)
    if check:
        if previous is None:
            raise cdx.SbomError(f"{target} does not exist; run `gateway sbom` and commit "
                                "it")
        found = cdx.differences(data, previous)
        if found:
            raise cdx.SbomError(f"{target} does not match the lock ({'; '.join(found)}); "
                                "run `gateway sbom` and commit the result")
        click.echo(f"{target} matches the lock ({len(bom.components)} packages)")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    click.echo(f"wrote {target} ({len(bom.components)} packages)")
