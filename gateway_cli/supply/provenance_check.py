"""Provenance of the installed distributions, from lockfiles/provenance.json.

Plugs into `verify` as its ProvenanceChecker: each installed distribution is
matched to its artifact records (by the RECORD digest of the installed files
when recorded, else by name and version) and each record is verified with
`provenance.verify_entry` against the pinned publisher and the pinned trust
root. A pinned project whose artifact has no provenance fails, as the
LiteLLM 1.82.7/1.82.8 uploads would have.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from packaging.utils import canonicalize_name

from gateway_cli.supply.provenance import (
    ArtifactEntry,
    ProvenanceFile,
    ProvenanceResult,
    PublisherPin,
    decode_file,
    verify_entry,
)
from gateway_cli.supply.provenance_types import (
    InstalledDistribution,
    ProvenanceChecker,
    ProvenanceOutcome,
    VerifyUsageError,
)

if TYPE_CHECKING:  # sigstore's import costs ~0.4 s; only needed once something is attested
    from sigstore.verify import Verifier


def load(path: Path) -> ProvenanceFile:
    try:
        return decode_file(path.read_bytes())
    except OSError as err:
        raise VerifyUsageError(f"cannot read {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise VerifyUsageError(f"{path} is not a valid provenance record: {err}") from None


def record_digests(document: ProvenanceFile) -> dict[tuple[str, str], frozenset[str]]:
    """(name, version) -> the RECORD digests recorded for its wheels."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in document.artifacts:
        if entry.record_sha256:
            out[(str(canonicalize_name(entry.name)), entry.version)].add(entry.record_sha256)
    return {key: frozenset(values) for key, values in out.items()}


def checker(document: ProvenanceFile, make_verifier: Callable[[], Verifier]) -> ProvenanceChecker:
    """`make_verifier` is called once, and only if some installed artifact has provenance."""
    by_release: dict[tuple[str, str], list[ArtifactEntry]] = defaultdict(list)
    for entry in document.artifacts:
        by_release[(str(canonicalize_name(entry.name)), entry.version)].append(entry)
    pins = {str(canonicalize_name(k)): v for k, v in document.publishers.items()}
    built: list[Verifier] = []

    def verify(entry: ArtifactEntry, pin: PublisherPin | None) -> ProvenanceResult:
        # Building the verifier parses the trust root; skip it when nothing is attested.
        if entry.provenance is None:
            return verify_entry(entry, pin, cast("Verifier", None))  # never reaches the verifier
        if not built:
            built.append(make_verifier())
        return verify_entry(entry, pin, built[0])

    def check(dists: Sequence[InstalledDistribution]) -> list[ProvenanceOutcome]:
        outcomes = []
        for dist in dists:
            name = str(canonicalize_name(dist.name))
            entries = by_release.get((name, dist.version), [])
            if not entries:
                outcomes.append(ProvenanceOutcome(
                    dist.name, dist.version, "unknown",
                    "not in provenance.json; run `gateway lock`"))
                continue
            exact = [e for e in entries if e.record_sha256 == dist.record_sha256]
            results = [verify(e, pins.get(name)) for e in exact or entries]
            failed = [r for r in results if not r.passed]
            if failed:
                outcomes.append(ProvenanceOutcome(dist.name, dist.version, "failed",
                                                  failed[0].message))
            elif any(r.kind == "verified" for r in results):
                outcomes.append(ProvenanceOutcome(dist.name, dist.version, "verified"))
            elif any(r.kind == "unattested" for r in results):
                outcomes.append(ProvenanceOutcome(dist.name, dist.version, "unattested",
                                                  results[0].message))
            else:
                outcomes.append(ProvenanceOutcome(dist.name, dist.version, "unknown",
                                                  results[0].message))
        return outcomes

    return check


def default_path() -> Path:
    from gateway_cli.supply.verify import lock_directory

    return lock_directory() / "provenance.json"


def for_file(path: Path) -> tuple[ProvenanceChecker, dict[tuple[str, str], frozenset[str]]]:
    """The checker and RECORD digests of one provenance.json, with the pinned trust root."""
    from gateway_cli.supply.trust import pinned_verifier

    document = load(path)
    return checker(document, pinned_verifier), record_digests(document)
