"""What a provenance checker is given and returns, apart from the environment checks.

`verify.py` re-exports every name here. They live apart so that the release
binary's self-check (`selfcheck.py`), which judges the distributions it
bundles with the same checker as `gateway verify` (`provenance_check.py`),
need not import the environment checks (installed files, start-up hooks,
the verify cache) at every start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from gateway_cli.errors import GatewayError

ProvenanceStatus = Literal["verified", "unattested", "unknown", "failed"]


class VerifyUsageError(GatewayError):
    """The lock, the interpreter or an option cannot be used: nothing was verified."""

    exit_code = 2


@dataclass(frozen=True)
class InstalledDistribution:
    """What a provenance checker is given for each installed distribution."""

    name: str
    version: str
    dist_info: Path
    record_sha256: str  # installed.record_digest_installed of it


@dataclass(frozen=True)
class ProvenanceOutcome:
    """A provenance checker's verdict on one distribution."""

    distribution: str
    version: str
    status: ProvenanceStatus
    message: str = ""
    path: str | None = None


ProvenanceChecker = Callable[[Sequence[InstalledDistribution]], Sequence[ProvenanceOutcome]]


@dataclass(frozen=True)
class ProvenanceSummary:
    """Counts for the report; `checked` is False when no provenance checker ran."""

    checked: bool = False
    verified: int = 0  # attested and the attestation verified
    unattested: int = 0  # no attestation, accepted by policy
    unknown: int = 0
    failed: int = 0
    records_checked: int = 0  # installed RECORD digests compared with provenance.json
