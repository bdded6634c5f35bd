"""The Sigstore trust root that provenance is verified against, pinned in the source.

sigstore's own constructors (`Verifier.production()`, and therefore
pypi-attestations' `Attestation.verify`) read the trusted root from a TUF
cache in the user's home directory and refresh it over the network unless
told not to. Either way the root that decides what is "verified" would come
from outside the gateway's lock. Instead the gateway ships the Sigstore
public-good (production) trusted root as package data and pins its sha256
here: a root that was edited on disk, or swapped by another package, is
refused rather than trusted, and building the verifier never touches the
network or the user's cache.

Updating the root is a reviewed change: copy the new `trusted_root.json`
from a trusted sigstore release and update `PINNED_ROOT_SHA256` with it.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gateway_cli.errors import GatewayError

if TYPE_CHECKING:
    # Imported lazily at run time: sigstore pulls in cryptography, pydantic and
    # rfc3161 parsers, which `gateway --help` should not pay for.
    from sigstore.verify import Verifier

PINNED_ROOT_SHA256 = "6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66"
_ROOT_RESOURCE = "trusted_root.json"


class TrustRootError(GatewayError):
    """The pinned trust root is missing, altered or unusable."""


def read_root(path: Path | None = None) -> bytes:
    """The trusted root's bytes, from the installed package unless a path is given."""
    try:
        if path is None:
            return resources.files("gateway_cli.supply").joinpath(_ROOT_RESOURCE).read_bytes()
        return path.read_bytes()
    except OSError as err:
        where = path or f"gateway_cli/supply/{_ROOT_RESOURCE}"
        raise TrustRootError(f"cannot read the Sigstore trusted root {where} ({err.strerror}); "
                             "reinstall the gateway from its lock") from err


def check_root(data: bytes, expected_sha256: str = PINNED_ROOT_SHA256) -> bytes:
    """Return `data` if its sha256 is the pinned one; refuse it otherwise."""
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise TrustRootError(
            f"the Sigstore trusted root has sha256 {actual}, but the gateway pins "
            f"{expected_sha256}: it was altered, so nothing is verified against it; "
            "reinstall the gateway from its lock")
    return data


def build_verifier(root_json: bytes) -> Verifier:
    """A sigstore Verifier for exactly this trusted root, with no TUF and no network.

    Takes bytes whose digest the caller has already checked (`check_root`), so
    the only way to verify against another root is to say so explicitly.
    """
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier
    from sigstore_models.trustroot import v1 as trustroot_v1

    try:
        root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(root_json))
        return Verifier(trusted_root=root)
    except (SigstoreError, ValueError) as err:
        raise TrustRootError(f"the Sigstore trusted root is not usable ({err}); "
                             "reinstall the gateway from its lock") from err


def pinned_verifier(path: Path | None = None) -> Verifier:
    """The verifier every provenance check uses: the shipped root, digest-checked."""
    return build_verifier(check_root(read_root(path)))
