"""The supply checks' reports for people (text), for CI scripts (JSON) and for code scanning
(SARIF): `gateway verify`'s `Report` and the binary's `SelfReport` (`verify --self`).

Both are rendered here so that the two read alike. The text puts the verdict
and the counts first, so a person sees at once whether to read on, then one
block per kind of problem ending with what to do. JSON has stable, versioned
schemas (`gateway-verify/1`, `gateway-verify-self/1`): fields are only ever
added. SARIF 2.1.0 (verify only) has one rule per check id (all of them, so
rule indices never move) and one result per violation, located at the
offending file, which is what GitHub code scanning and other SARIF viewers
show.

Neither check is imported until its report is rendered: `verify --self` runs
in the binary, which need not load the environment checks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gateway_cli import __version__
from gateway_cli.supply.bundle_records import LOCK, MANIFEST, TRUST_ROOT

if TYPE_CHECKING:
    from gateway_cli.supply.model import Problem
    from gateway_cli.supply.selfcheck import SelfReport
    from gateway_cli.supply.verify import Report, Violation

Format = Literal["text", "json", "sarif"]
JSON_SCHEMA = "gateway-verify/1"
SELF_SCHEMA = "gateway-verify-self/1"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "sarif":
        return to_sarif(report)
    return to_text(report)


def _provenance_line(report: Report) -> str:
    p = report.provenance
    records = (f"; {p.records_checked} RECORD digests compared with provenance.json"
               if p.records_checked else "")
    if not p.checked:
        return f"not checked{records}"
    return (f"{p.verified} attested and verified, {p.unattested} unattested by policy, "
            f"{p.unknown} unknown, {p.failed} failed{records}")


def to_text(report: Report) -> str:
    env = report.environment
    if report.ok:
        verdict = "OK"
    elif report.errors:
        verdict = "FAILED"
    else:
        verdict = "FAILED (--strict: warnings fail)"
    lines = [
        f"gateway verify: {verdict}: {report.errors} error(s), {report.warnings} warning(s)",
        f"  environment:   {'venv' if env.is_venv else 'interpreter'} {env.prefix} "
        f"(python {env.markers.get('python_full_version', '?')})",
        f"  lock:          {', '.join(str(p) for p in report.locks)}",
        f"  checked:       {report.distributions} distributions, {report.files_checked} files "
        f"hashed, {report.seconds:.3f} s" + _cache_text(report),
        f"  provenance:    {_provenance_line(report)}",
    ]
    counts = Counter(v.check for v in report.problems)
    if counts:
        lines.append("  by check:      " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))
    for allowed in report.allowed:
        lines.append(f"  allowed {allowed.kind}: {allowed.name} ({allowed.why})")
    for group in _grouped(report.problems):
        lines += ["", *(_violation_text(group[0], report.strict) if len(group) < GROUP_AT
                        else _group_text(group, report.strict))]
    return "\n".join(lines) + "\n"


GROUP_AT = 3  # this many violations with the same check and reason print as one block


def _reason(violation: Violation) -> str:
    """The message without the distribution it is about ("name version (file): reason")."""
    head, sep, rest = violation.message.partition("): ")
    return rest if sep and violation.distribution and \
        head.startswith(violation.distribution) else violation.message


def _grouped(violations: Iterable[Violation]) -> list[list[Violation]]:
    """Violations in report order, those sharing a check and a reason gathered together."""
    groups: dict[tuple[str, str, str], list[Violation]] = {}
    for violation in violations:
        key = (violation.check, violation.severity, _reason(violation))
        groups.setdefault(key, []).append(violation)
    out: list[list[Violation]] = []
    for members in groups.values():
        if len(members) >= GROUP_AT:
            out.append(members)
        else:
            out += [[m] for m in members]
    return out


def _group_text(group: list[Violation], strict: bool) -> list[str]:
    first = group[0]
    level = first.severity if not strict else "error"
    names = [v.distribution or v.path or "?" for v in group]
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return [f"{level} [{first.check}] {len(group)} distributions: {_reason(first)}",
            f"    {shown}",
            f"    what to do: {first.fix}"]


def _cache_text(report: Report) -> str:
    cache = report.cache
    if not cache.get("used"):
        note = f": {cache['note']}" if cache.get("note") else ""
        return f" (no cache{note})"
    note = f"; {cache['note']}" if cache.get("note") else ""
    return f" (cache: {cache.get('hits', 0)} clean results reused{note})"


def _violation_text(violation: Violation, strict: bool) -> list[str]:
    level = violation.severity if not strict else "error"
    who = f" {violation.distribution}:" if violation.distribution else ""
    where = f" {violation.path}" if violation.path else ""
    return [f"{level} [{violation.check}]{who}{where}",
            f"    {violation.message}",
            f"    what to do: {violation.fix}"]


def as_dict(report: Report) -> dict[str, Any]:
    """The JSON document (schema gateway-verify/1)."""
    env = report.environment
    p = report.provenance
    return {
        "schema": JSON_SCHEMA,
        "gateway_version": __version__,
        "ok": report.ok,
        "strict": report.strict,
        "summary": {
            "errors": report.errors,
            "warnings": report.warnings,
            "distributions": report.distributions,
            "files_checked": report.files_checked,
            "by_check": dict(sorted(Counter(v.check for v in report.problems).items())),
        },
        "environment": {
            "python": env.python,
            "prefix": str(env.prefix),
            "venv": env.is_venv,
            "sites": [str(s) for s in env.sites],
            "markers": dict(env.markers),
        },
        "locks": [str(p) for p in report.locks],
        "provenance": {"checked": p.checked, "verified": p.verified,
                       "unattested": p.unattested, "unknown": p.unknown, "failed": p.failed,
                       "records_checked": p.records_checked},
        "allowed": [{"kind": a.kind, "name": a.name, "path": a.path, "why": a.why}
                    for a in report.allowed],
        "violations": [{"check": v.check, "severity": v.severity,
                        "distribution": v.distribution, "path": v.path,
                        "message": v.message, "fix": v.fix} for v in report.problems],
        "cache": dict(report.cache),
        "seconds": round(report.seconds, 6),
    }


def to_json(report: Report) -> str:
    return json.dumps(as_dict(report), indent=2, sort_keys=False) + "\n"


def _uri(path: str) -> str:
    candidate = Path(path)
    return candidate.as_uri() if candidate.is_absolute() else path


def as_sarif(report: Report) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run."""
    from gateway_cli.supply.verify import CHECKS

    ids = list(CHECKS)
    rules = [{
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.id.replace("-", ".").split(".")),
        "shortDescription": {"text": check.title},
        "help": {"text": f"What to do: {check.fix}"},
        "defaultConfiguration": {"level": "warning" if check.id == "provenance.unknown"
                                 else "error"},
    } for check in CHECKS.values()]
    results = []
    for violation in report.problems:
        level = "error" if report.strict or violation.severity == "error" else "warning"
        result: dict[str, Any] = {
            "ruleId": violation.check,
            "ruleIndex": ids.index(violation.check),
            "level": level,
            "message": {"text": f"{violation.message}. What to do: {violation.fix}"},
        }
        if violation.path:
            result["locations"] = [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(violation.path)}}}]
        if violation.distribution:
            result["properties"] = {"distribution": violation.distribution}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "gateway verify", "version": __version__,
                                "rules": rules}},
            "invocations": [{"executionSuccessful": True}],
            "results": results,
        }],
    }


def to_sarif(report: Report) -> str:
    return json.dumps(as_sarif(report), indent=2) + "\n"


# --- the binary's self-check (`verify --self`) ---------------------------------------------------

def render_self(report: SelfReport, fmt: Literal["text", "json"]) -> str:
    if fmt == "json":
        return json.dumps(self_as_dict(report), indent=2) + "\n"
    return self_to_text(report)


def self_as_dict(report: SelfReport) -> dict[str, Any]:
    """The JSON document (schema gateway-verify-self/1)."""
    import msgspec

    from gateway_cli.supply.selfcheck import CHECKS

    p = report.provenance
    return {
        "schema": SELF_SCHEMA,
        "ok": report.ok,
        "strict": report.strict,
        "executable": report.executable,
        "sha256": report.sha256,
        "bundle": report.bundle,
        "mode": report.mode,
        "build": msgspec.to_builtins(report.build) if report.build else None,
        "files_checked": report.files_checked,
        "bytes_hashed": report.bytes_hashed,
        "seconds": round(report.seconds, 3),
        "errors": report.errors,
        "warnings": report.warnings,
        "provenance": {"verified": p.verified, "unattested": p.unattested, "unknown": p.unknown,
                       "failed": p.failed, "records_checked": p.records_checked},
        "problems": [{"check": x.check, "severity": x.severity, "path": x.path,
                      "message": x.message, "fix": CHECKS[x.check].fix}
                     for x in report.problems],
    }


def _by_check(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for problem in problems:
        out.setdefault(problem.check, []).append(problem)
    return out


def self_to_text(report: SelfReport) -> str:
    from gateway_cli.supply.selfcheck import CHECKS

    verdict = "OK" if report.ok else "FAILED"
    b = report.build
    lines = [f"gateway verify --self: {verdict}: {report.errors} error(s), "
             f"{report.warnings} warning(s)"
             + (" (strict: warnings fail)" if report.strict and report.warnings else ""),
             f"  binary:      {report.executable} ({report.mode}; files in {report.bundle})"]
    if report.sha256:
        lines.append(f"  sha256:      {report.sha256} (compare with the signed release "
                     "checksum)")
    if b is not None:
        commit = (b.commit or "unknown commit")[:12]
        lines.append(f"  built:       gateway {b.gateway} from {commit}, Python {b.python} on "
                     f"{b.platform}, PyInstaller {b.pyinstaller}"
                     + (f", SOURCE_DATE_EPOCH {b.source_date_epoch}"
                        if b.source_date_epoch is not None else ""))
        excluded = f"; left out: {', '.join(b.excluded)}" if b.excluded else ""
        lines.append(f"  lock:        {len(b.distributions)} bundled distributions checked "
                     f"against the embedded {LOCK}{excluded}")
    lines.append(f"  files:       {report.files_checked} files and archives hashed "
                 f"({report.bytes_hashed / 1048576:.1f} MiB) against {MANIFEST}, "
                 f"{report.seconds:.3f} s")
    p = report.provenance
    if p.checked:
        lines.append(f"  trust root:  {TRUST_ROOT} matches its pinned sha256")
        lines.append(f"  provenance:  {p.verified} attested and verified, {p.unattested} "
                     f"unattested by policy, {p.unknown} unknown, {p.failed} failed; "
                     f"{p.records_checked} RECORD digests compared with provenance.json")
    for check_id, found in _by_check(report.problems).items():
        info = CHECKS[check_id]
        severity = found[0].severity
        lines.append("")
        lines.append(f"{severity}: {check_id}: {info.title} ({len(found)})")
        shown = found if severity == "error" else found[:3]
        lines += [f"  - {x.message}" for x in shown]
        if len(found) > len(shown):
            lines.append(f"  - ... and {len(found) - len(shown)} more (--format json lists all)")
        lines.append(f"  fix: {info.fix}")
    return "\n".join(lines) + "\n"
