"""What the release binary records about itself, and where it keeps it in its bundle.

Two sides use these records: the build writes them (`build_manifest.py`, run
by pyinstaller.spec) and the binary reads them at every start
(`selfcheck.py`). Their schemas, names and encoding live here, apart from
both, so that the binary never carries the build's code and the build never
runs the check.

Under the bundle directory (`sys._MEIPASS`), next to the code:

- the lock (`lockfiles/requirements*.txt`, `pylock.toml`), the provenance
  record (`lockfiles/provenance.json`) and the SBOM (`sbom/gateway.cdx.json`);
- the Sigstore trust root (`gateway_cli/supply/trusted_root.json`);
- `gateway-build.json`: version, commit, build platform, and each bundled
  distribution with the digest of the RECORD it was installed with;
- `gateway-manifest.json`: the sha256 of every other bundled file, every
  bundled symlink's target, and the sha256 and size of the PYZ archive (the
  bundled Python code, which stays inside the executable in both the onefile
  and the onedir build).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

import msgspec

MANIFEST = "gateway-manifest.json"
BUILD_INFO = "gateway-build.json"
LOCK = "lockfiles/requirements.txt"
PROVENANCE = "lockfiles/provenance.json"
TRUST_ROOT = "gateway_cli/supply/trusted_root.json"
# What a release binary embeds besides the code, relative to the checkout (and to the bundle).
EMBEDDED = ("lockfiles/pylock.toml", "lockfiles/provenance.json", "lockfiles/requirements.txt",
            "lockfiles/requirements-build.txt", "sbom/gateway.cdx.json")

Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]


class ArchiveDigest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Where the code archive's bytes are recognised: their sha256 and length."""

    sha256: Sha256
    size: int


class Manifest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`gateway-manifest.json`: paths are relative to the bundle, with `/` separators."""

    version: Literal[1]
    files: dict[str, Sha256]
    symlinks: dict[str, str] = msgspec.field(default_factory=dict)
    pyz: ArchiveDigest | None = None


class BundledDistribution(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    version: str
    record_sha256: Sha256


class BuildInfo(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`gateway-build.json`: what the binary was built from."""

    version: Literal[1]
    gateway: str
    commit: str | None
    source_date_epoch: int | None
    python: str
    platform: str
    pyinstaller: str
    distributions: list[BundledDistribution]
    excluded: list[str] = msgspec.field(default_factory=list)
    # Linux: elf_stub.loaded_digest of the bootloader the executable was made from.
    stub: str | None = None


def load_manifest(bundle: Path) -> Manifest:
    return msgspec.json.decode((bundle / MANIFEST).read_bytes(), type=Manifest)


def load_build_info(bundle: Path) -> BuildInfo:
    return msgspec.json.decode((bundle / BUILD_INFO).read_bytes(), type=BuildInfo)


def encode(record: Manifest | BuildInfo) -> bytes:
    """Stable JSON (sorted keys, fixed indent), so two builds of one tree write the same bytes."""
    return msgspec.json.format(msgspec.json.encode(record, order="sorted"), indent=2) + b"\n"


def sha256_file(path: str | Path) -> str:
    """A whole file's sha256 (hex): a bundled file's, or the executable's for the signed
    release checksum."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
