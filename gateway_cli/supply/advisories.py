"""Advisories for the locked dependencies: known-malicious releases first.

A malicious release (the litellm 1.82.7/1.82.8 credential stealers of March
2026) is a different emergency from a vulnerability: there is nothing to
upgrade to, the release must go and every credential it could read must be
rotated. So a record counts as malicious when OSV says so: an id or alias
from the malicious-packages database (`MAL-`), that database's
`malicious-packages-origins` marker, a `malicious` flag, or CWE-506
(embedded malicious code); it is reported apart from vulnerabilities and
cannot be waved through with `--ignore`.

Records that describe the same problem (an OSV record and its aliases, e.g.
MAL-2026-2144 and PYSEC-2026-2) are merged into one finding, so a release is
reported once per problem. How the advisories are fetched is `osv.py`'s
business; everything here is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
from packaging.utils import canonicalize_name
from packaging.version import Version

from gateway_cli.supply.model import parse_version
from gateway_cli.supply.osv import Release, Vulnerability

Kind = Literal["malicious", "vulnerability"]
JSON_SCHEMA = "gateway-audit/1"


class Finding(msgspec.Struct, frozen=True):
    """One problem with one locked release (the JSON output's `findings[]`)."""

    package: str
    version: str
    kind: Kind
    id: str
    aliases: tuple[str, ...]
    summary: str
    fix_versions: tuple[str, ...]
    locks: tuple[str, ...]


class Ignored(msgspec.Struct, frozen=True):
    finding: Finding
    reason: str


class NotApplied(msgspec.Struct, frozen=True):
    id: str
    why: str


class Report(msgspec.Struct, frozen=True):
    """The audit's result; its JSON form is versioned by `schema`."""

    schema: str
    service: str
    locks: tuple[str, ...]
    packages_checked: int
    findings: tuple[Finding, ...]
    ignored: tuple[Ignored, ...]
    ignores_not_applied: tuple[NotApplied, ...]

    @property
    def malicious(self) -> int:
        return sum(f.kind == "malicious" for f in self.findings)


@dataclass(frozen=True)
class Ignore:
    id: str
    reason: str


def parse_ignore(text: str) -> Ignore:
    """`ID: reason` -> Ignore; the reason is required, since it is what a reviewer reads."""
    ident, sep, reason = text.partition(":")
    ident, reason = ident.strip(), reason.strip()
    if not ident or " " in ident:
        raise ValueError(f"'{text}' does not start with an advisory id; "
                         "use --ignore 'GHSA-xxxx-xxxx-xxxx: why it does not apply'")
    if not sep or not reason:
        raise ValueError(f"--ignore {ident} needs a reason: "
                         f"--ignore '{ident}: why it does not apply here'")
    return Ignore(ident, reason)


_MALICIOUS_CWE = "CWE-506"


def _marked_malicious(extra: Mapping[str, Any] | None) -> bool:
    if not extra:
        return False
    cwes = extra.get("cwe_ids")
    return bool("malicious-packages-origins" in extra or extra.get("malicious") is True
                or (isinstance(cwes, list) and _MALICIOUS_CWE in cwes))


def is_malicious(vuln: Vulnerability) -> bool:
    if any(i.upper().startswith("MAL-") for i in (vuln.id, *(vuln.aliases or ()))):
        return True
    return _marked_malicious(vuln.database_specific) or any(
        _marked_malicious(a.database_specific) for a in vuln.affected or ())


def fix_versions(vuln: Vulnerability, release: Release) -> tuple[str, ...]:
    """The `fixed` versions above the locked one, lowest first."""
    current = parse_version(release.version)
    fixes: set[str] = set()
    for affected in vuln.affected or ():
        package = affected.package
        if (package is None or package.ecosystem != "PyPI"
                or canonicalize_name(package.name) != release.name):
            continue
        for rng in affected.ranges:
            if rng.type != "ECOSYSTEM":
                continue
            for event in rng.events:
                fixed = parse_version(event.fixed) if event.fixed else None
                if fixed is not None and (current is None or fixed > current):
                    fixes.add(event.fixed or "")
    return tuple(sorted(fixes, key=lambda v: Version(v)))


def _one_line(text: str | None, limit: int = 160) -> str:
    """A summary fit for one line: whitespace collapsed, cut at a word if long."""
    line = " ".join((text or "").split())
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0] + "…"


def _merge(vulns: Sequence[Vulnerability]) -> list[list[Vulnerability]]:
    """Groups records that name each other (id or alias) as one problem."""
    groups: list[tuple[set[str], list[Vulnerability]]] = []
    for vuln in vulns:
        names = {vuln.id, *(vuln.aliases or ())}
        joined = [g for g in groups if g[0] & names]
        for g in joined:
            groups.remove(g)
            names |= g[0]
        members = [v for g in joined for v in g[1]] + [vuln]
        groups.append((names, members))
    return [members for _, members in groups]


def findings_for(release: Release, vulns: Iterable[Vulnerability],
                 locks: Sequence[str]) -> list[Finding]:
    live = [v for v in vulns if v.withdrawn is None]
    found = []
    for group in _merge(live):
        group.sort(key=lambda v: (not is_malicious(v), v.id))
        lead = group[0]
        ids = [v.id for v in group]
        aliases = sorted({a for v in group for a in (*ids, *(v.aliases or ()))} - {lead.id})
        summary = next((_one_line(v.summary) for v in group if v.summary), "") or \
            _one_line(lead.details)
        fixes = sorted({f for v in group for f in fix_versions(v, release)}, key=Version)
        kind: Kind = "malicious" if any(is_malicious(v) for v in group) else "vulnerability"
        found.append(Finding(release.name, release.version, kind, lead.id, tuple(aliases),
                             summary, tuple(fixes), tuple(sorted(locks))))
    return found


def _order(finding: Finding) -> tuple[bool, str, str, str]:
    return (finding.kind != "malicious", finding.package, finding.version, finding.id)


def build_report(service: str, locks: Sequence[str],
                 answers: Mapping[Release, Iterable[Vulnerability]],
                 where: Mapping[Release, Sequence[str]],
                 ignores: Sequence[Ignore]) -> Report:
    """Findings for every release, with `--ignore`s applied (never to malicious ones)."""
    findings: list[Finding] = []
    for release, vulns in answers.items():
        findings.extend(findings_for(release, vulns, where.get(release, ())))
    kept: list[Finding] = []
    ignored: list[Ignored] = []
    used: set[str] = set()
    refused: set[str] = set()
    for finding in sorted(findings, key=_order):
        names = {finding.id.upper(), *(a.upper() for a in finding.aliases)}
        match = next((i for i in ignores if i.id.upper() in names), None)
        if match is None:
            kept.append(finding)
        elif finding.kind == "malicious":
            refused.add(match.id)
            kept.append(finding)
        else:
            used.add(match.id)
            ignored.append(Ignored(finding, match.reason))
    not_applied = [NotApplied(i.id, "a malicious release cannot be ignored; remove it "
                              "from the lock") for i in ignores if i.id in refused]
    not_applied += [NotApplied(i.id, "it matched no finding; remove this --ignore")
                    for i in ignores if i.id not in used and i.id not in refused]
    return Report(JSON_SCHEMA, service, tuple(locks), len(answers), tuple(kept),
                  tuple(ignored), tuple(sorted(not_applied, key=lambda n: n.id)))
