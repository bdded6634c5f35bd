"""Payment cards: 12 to 19 digits that pass Luhn, fit an issuer's range and length, and are
grouped as cards print them.

The pattern only proposes digit strings; a number is a card when its prefix
and length match an issuer (the confidence says how specific the issuer's
range is), its separators are one kind in the groups printed on cards, and
its Luhn sum is right. That keeps order numbers and timestamps out.
"""

from __future__ import annotations

import re

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, Budget, candidates

# 12 to 19 digits, optionally split by single spaces or dashes; never a piece of
# a longer digit run (the look-behind also stops a retry from every digit).
_CARD_REST = r"(?:[ \-]?[0-9]){11,18}(?!\w)(?![.\- ]?[0-9])"
CARD = re.compile(r"([0-9](?<![\w.+\-][0-9])(?<![0-9][ \-][0-9])" + _CARD_REST + ")")
CARD_IN = re.compile(r"[() ](?<![0-9] )([0-9]" + _CARD_REST + ")")
# Luhn doubles every second digit from the right; 2d, less 9 when over 9.
_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def luhn(digits: str) -> bool:
    kept = digits[-1::-2].encode()
    doubled = digits[-2::-2].translate(_LUHN_DOUBLE).encode()
    return (sum(kept) + sum(doubled) - 48 * len(digits)) % 10 == 0


def _card_confidence(digits: str) -> float:
    """The issuer whose range and length fit, as a confidence; 0 when none does.

    Maestro (50, 56-69) is wide and admits 12 digits, and 35 outside JCB's
    assigned 3528-3589 is unassigned rather than another network's, so both
    score lower: a random Luhn-valid number is one in ten.
    """
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        return 0.95 if n in (13, 16, 19) else 0.0
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return 0.95 if n == 16 else 0.0
    if p2 in (34, 37):
        return 0.95 if n == 15 else 0.0
    if p4 == 6011 or 644 <= p3 <= 649 or p2 == 65:
        return 0.95 if 16 <= n <= 19 else 0.0
    if 3528 <= p4 <= 3589:
        return 0.95 if 16 <= n <= 19 else 0.0
    if p2 == 35:  # no other network issues under 35; test and legacy JCB ranges
        return 0.7 if 16 <= n <= 19 else 0.0
    if p4 in (2131, 1800):  # JCB's original 15-digit ranges
        return 0.9 if n == 15 else 0.0
    if 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095:
        return 0.9 if 14 <= n <= 19 else 0.0
    if p2 == 62:
        return 0.9 if 16 <= n <= 19 else 0.0
    if p2 == 50 or 56 <= p2 <= 69:
        return 0.7 if 12 <= n <= 19 else 0.0
    return 0.0


_CARD_GROUPINGS = ((4, 6, 5), (4, 6, 4))


def _card_grouping_ok(raw: str) -> bool:
    """Separators must be one kind, in the groups printed on cards."""
    space, dash = " " in raw, "-" in raw
    if space and dash:
        return False
    if not (space or dash):
        return True
    groups = tuple(map(len, raw.split(" " if space else "-")))
    if groups in _CARD_GROUPINGS:
        return True
    return len(groups) >= 3 and all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4


def cards(
    text: str, start: int, end: int, window: int, long: bool, budget: Budget, out: list[Finding]
) -> bool:
    """Append the cards in the run `[start, end)` to `out`; False: out of budget."""
    for m in candidates(CARD, CARD_IN, text, start, end, window, long):
        s = m.start(1)
        if not budget.take(s):
            return False
        raw = m.group(1)
        digits = raw.replace(" ", "").replace("-", "")
        conf = _card_confidence(digits)
        if conf and _card_grouping_ok(raw) and luhn(digits):
            out.append(Finding(GUARD, "credit_card", s, m.end(1), conf, mask(raw)))
    return True
