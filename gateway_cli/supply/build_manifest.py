"""Build time only: the records the release binary will check itself against.

pyinstaller.spec calls these while it builds the binary, from the build venv
that scripts/build-binary installs from the lock and checks first; the
binary itself never imports this module, so none of it ships. What the two
records hold is `bundle_records.py`; what the binary does with them is
`selfcheck.py`.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from gateway_cli import __version__
from gateway_cli.errors import GatewayError
from gateway_cli.supply import elf_stub, installed
from gateway_cli.supply.bundle_records import (
    ArchiveDigest,
    BuildInfo,
    BundledDistribution,
    Manifest,
    sha256_file,
)
from gateway_cli.supply.environment import running_environment
from gateway_cli.supply.lockfile import parse_markers, parse_requirements
from gateway_cli.supply.model import marker_applies


def make_build_info(lock: Path, *, excluded: Iterable[str], commit: str | None,
                    source_date_epoch: int | None, pyinstaller: str,
                    bootloader: Path | None = None) -> BuildInfo:
    """The distributions of the running (build) environment that the runtime lock pins.

    Each one the lock expects here must be installed: the build environment was
    checked against the lock just before, so a gap means something is wrong.
    """
    text = lock.read_text(encoding="utf-8")
    pins, bad = parse_requirements(text)
    if bad:
        raise GatewayError(f"{lock}: {bad[0]}")
    markers = parse_markers(text)
    env = running_environment()
    dists, problems = installed.find_distributions(env.sites)
    if problems:
        raise GatewayError(f"build environment: {problems[0].detail}")
    present = {d.name: d for d in dists}
    skip = set(excluded)
    bundled = []
    for name, pin in sorted(pins.items()):
        if name in skip or not marker_applies(markers.get(name), env.markers):
            continue
        dist = present.get(name)
        if dist is None:
            raise GatewayError(f"build environment: {name}=={pin.version} is locked but not "
                               "installed; run scripts/build-binary, which installs the lock")
        bundled.append(BundledDistribution(dist.name, dist.version,
                                           installed.installed_record_digest(dist)))
    stub = None
    if bootloader is not None:
        with open(bootloader, "rb") as handle:
            stub = elf_stub.loaded_digest(handle)
    return BuildInfo(version=1, gateway=__version__, commit=commit,
                     source_date_epoch=source_date_epoch, python=platform.python_version(),
                     platform=f"{sys.platform} {platform.machine()}", pyinstaller=pyinstaller,
                     distributions=bundled, excluded=sorted(skip), stub=stub)


def make_manifest(files: Mapping[str, Path], symlinks: Mapping[str, str],
                  pyz: Path | None) -> Manifest:
    """The manifest of a bundle: `files` maps each bundled path to the file that is bundled."""
    return Manifest(
        version=1,
        files={dest.replace(os.sep, "/"): sha256_file(src)
               for dest, src in sorted(files.items())},
        symlinks={dest.replace(os.sep, "/"): target.replace(os.sep, "/")
                  for dest, target in sorted(symlinks.items())},
        pyz=ArchiveDigest(sha256_file(pyz), pyz.stat().st_size) if pyz is not None else None)
