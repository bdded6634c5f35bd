"""The PII guard's API: `scan` (the four passes, overlaps resolved, the overflow) and `PiiGuard`.

A scan is four passes, each with its own budget (candidates.py): runs of
digits (runs.py: cards, SSNs, IPv4 addresses, phones), IBANs, IPv6 and
e-mail. Where kinds overlap, the validated ones win: a card, an IBAN, an SSN
or an IP is not also reported as a phone. If a pass ran out of budget, the
findings before where it stopped are kept and the rest of the text is one
`pii_overflow` finding at confidence 1.0, so a redacting or blocking policy
covers every value it did not examine.

Matching runs on the folded view of the text (normalise.py), so an address
with a full-width at sign or a card number with zero-width spaces is still
found; spans are in the text as given.

Names and postal addresses need models or gazetteers, so they are left to
plug-ins (`PiiPlugin`), none by default.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.normalise import on_original
from gateway_cli.guards.pii.candidates import GUARD, MAX_CANDIDATES_PER_PASS, Budget
from gateway_cli.guards.pii.email import emails
from gateway_cli.guards.pii.iban import ibans
from gateway_cli.guards.pii.ip import ipv6s
from gateway_cli.guards.pii.runs import digit_kinds

OVERFLOW = "pii_overflow"

# On overlap the earlier kind wins: its check is stronger than a phone's shape.
_PRIORITY = {
    kind: i
    for i, kind in enumerate(("credit_card", "iban", "us_ssn", "ip_address", "email", "phone"))
}


def _resolve(findings: Iterable[Finding]) -> list[Finding]:
    """Drop each finding that overlaps one of a higher-priority kind.

    The kept spans never overlap, so sorted starts and a bisection find the
    only neighbours that could: linear-logarithmic however many findings.
    """
    starts: list[int] = []
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (_PRIORITY[f.kind], f.start, -f.end)):
        i = bisect.bisect_left(starts, f.start)
        if i < len(kept) and kept[i].start < f.end:
            continue
        if i > 0 and kept[i - 1].end > f.start:
            continue
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


def with_overflow(text: str, found: list[Finding], limit: int) -> list[Finding]:
    """The findings before `limit`, then one `pii_overflow` finding over the rest.

    The overflow starts at `limit`, or where the finding that crosses it ends,
    so the two never overlap and together cover everything from `limit` on.
    """
    kept = _resolve([f for f in found if f.start < limit])
    cut = max(limit, kept[-1].end) if kept else limit
    if cut < len(text):
        kept.append(Finding(GUARD, OVERFLOW, cut, len(text), 1.0, mask(text[cut:])))
    return kept


def scan(text: str, *, include_local_ips: bool = False) -> list[Finding]:
    """Personal data in `text`, matched on its folded view (see normalise.py: an address
    with a full-width at sign or a card number with zero-width spaces is still found),
    spans in `text` itself."""
    return on_original(lambda view: _scan(view, include_local_ips=include_local_ips), text)


def _scan(text: str, *, include_local_ips: bool = False) -> list[Finding]:
    """Personal data in `text`, sorted by position, no two findings overlapping.

    If a pass meets more than `MAX_CANDIDATES_PER_PASS` runs or candidates,
    the text from where it stopped to the end is one `pii_overflow` finding.
    """
    found: list[Finding] = []
    budget = Budget()
    budget.left = MAX_CANDIDATES_PER_PASS
    digit_kinds(text, include_local_ips, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    ibans(text, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    ipv6s(text, include_local_ips, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    emails(text, budget, found)
    if budget.limit < len(text):
        return with_overflow(text, found, budget.limit)
    return _resolve(found)


class PiiPlugin(Protocol):
    """A detector for what regular expressions cannot validate (names, addresses)."""

    def scan(self, text: str) -> list[Finding]: ...


class PiiGuard:
    name = "pii"

    def __init__(
        self, plugins: Sequence[PiiPlugin] = (), *, include_local_ips: bool = False
    ) -> None:
        self._plugins = tuple(plugins)
        self._include_local_ips = include_local_ips

    def scan(self, text: str) -> list[Finding]:
        findings = scan(text, include_local_ips=self._include_local_ips)
        if self._plugins:
            for plugin in self._plugins:
                findings += plugin.scan(text)
            findings.sort(key=lambda f: (f.start, f.end, f.kind))
        return findings
