"""What every supply check shares: a check, a problem, a report's verdict, and the few rules
they all apply.

`gateway verify` (an environment against its lock) and the release binary's
self-check (the binary against what it embeds) ask the same questions: is
this the version the lock pins, does this lock line apply on this machine,
how many errors and warnings make the verdict, what did the provenance
checker say. The helpers they stand on (installed files, licences, the
advisory audit) ask the first one too. Answered once here, the answers
cannot drift apart.

The binary imports this at every start, so it stays light: `packaging` is
imported where a version or a marker is first compared, never at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from gateway_cli.supply.provenance_types import ProvenanceOutcome, ProvenanceSummary

if TYPE_CHECKING:
    from packaging.version import Version

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Check:
    """A kind of problem: what it means and what to do about it."""

    id: str
    title: str
    fix: str


def catalogue(*checks: Check) -> dict[str, Check]:
    """The checks of one tool by id, in the order given (which reports keep)."""
    return {check.id: check for check in checks}


@dataclass(frozen=True)
class Problem:
    """One thing a check found: the check's id, the file it is about, what, and how bad."""

    check: str  # a key of the tool's catalogue
    path: str | None
    message: str
    severity: Severity = "error"


P = TypeVar("P", bound=Problem)


class Verdict(Generic[P]):
    """The verdict of a report, from its problems alone (each report is a dataclass that
    has these two fields)."""

    problems: tuple[P, ...]
    strict: bool  # warnings fail too

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return sum(p.severity == "warning" for p in self.problems)

    @property
    def ok(self) -> bool:
        """Exit 0: no error, and with --strict no warning either."""
        return self.errors == 0 and not (self.strict and self.warnings)


def parse_version(text: str) -> Version | None:
    """A PEP 440 version, or None for one that is not."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


def same_version(a: str, b: str) -> bool:
    """Equal as PEP 440 versions (1.0 is 1.0.0); as text when either is not one."""
    first, second = parse_version(a), parse_version(b)
    if first is None or second is None:
        return a == b
    return first == second


def marker_applies(marker: str | None, environment: Mapping[str, str]) -> bool:
    """Whether a lock line's environment marker holds for an interpreter's marker values
    (no extra is ever requested); a line without one always applies."""
    if not marker:
        return True
    from packaging.markers import Marker

    return Marker(marker).evaluate({**environment, "extra": ""})


def tally_provenance(outcomes: Iterable[ProvenanceOutcome], records_checked: int
                     ) -> tuple[ProvenanceSummary, list[ProvenanceOutcome]]:
    """A provenance checker's verdicts counted, and the failed and unknown ones in order
    (a failure is an error, an unknown a warning, for each report to word)."""
    counts = {"verified": 0, "unattested": 0, "unknown": 0, "failed": 0}
    flagged = []
    for outcome in outcomes:
        counts[outcome.status] += 1
        if outcome.status in ("failed", "unknown"):
            flagged.append(outcome)
    return ProvenanceSummary(True, counts["verified"], counts["unattested"], counts["unknown"],
                             counts["failed"], records_checked), flagged


def outcome_severity(outcome: ProvenanceOutcome) -> Severity:
    """A failed verification is an error; provenance that cannot be established, a warning."""
    return "error" if outcome.status == "failed" else "warning"
