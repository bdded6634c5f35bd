"""US Social Security numbers: nine digits the SSA could have issued.

The candidate is `ddd-dd-dddd`, `ddd dd dddd` or nine bare digits; it is an
SSN when the SSA's allocation rules allow it (no area 000, 666 or 900 and
up, no group 00, no serial 0000) and it is not one of the numbers printed in
advertising and on sample cards.

Nine bare digits are an SSN at low confidence (0.3) unless "SSN" or "social
security" is near: driver's licences and ids share the shape.
"""

from __future__ import annotations

import re

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, Budget, candidates
from gateway_cli.guards.pii.context import said_before

_SSN_REST = r"(?:[0-9]{2}(?P<sep>[\- ])[0-9]{2}(?P=sep)[0-9]{4}|[0-9]{8})(?!\w)(?![\-.][0-9])"
SSN = re.compile(r"([0-9](?<![\w\-.][0-9])" + _SSN_REST + ")")
SSN_IN = re.compile(r"[ ()+]([0-9]" + _SSN_REST + ")")
SSN_CONTEXT = re.compile(r"\bssn\b|\bss#|social[\s-]+security|\bsocial sec\b", re.IGNORECASE)
SSN_CONTEXT_LOWER = re.compile(SSN_CONTEXT.pattern)
# Printed in advertising and on sample cards; never issued to a person.
_SSN_PUBLIC = frozenset({"078051120", "219099999", "123456789"})


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    a = int(area)
    if a == 0 or a == 666 or a >= 900 or group == "00" or serial == "0000":
        return False
    joined = area + group + serial
    return joined not in _SSN_PUBLIC and not joined.startswith("98765432")


def ssns(
    text: str, start: int, end: int, window: int, long: bool, budget: Budget, out: list[Finding]
) -> bool:
    """Append the SSNs in the run `[start, end)` to `out`; False: out of budget."""
    for m in candidates(SSN, SSN_IN, text, start, end, window, long):
        s = m.start(1)
        if not budget.take(s):
            return False
        value = m.group(1)
        if len(value) == 9:
            area, sep, group, serial = value[:3], "", value[3:5], value[5:]
        else:
            area, sep, group, serial = value[:3], value[3], value[4:6], value[7:]
        if not _ssn_valid(area, group, serial):
            continue
        near = said_before(SSN_CONTEXT, SSN_CONTEXT_LOWER, text, max(0, s - 40), s)
        conf = {"-": 0.85, " ": 0.6, "": 0.3}[sep]
        if near:
            conf = max(conf, 0.9 if sep else 0.85)
        out.append(Finding(GUARD, "us_ssn", s, m.end(1), conf, mask(value)))
    return True
