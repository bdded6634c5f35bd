"""Values side by side: phone numbers, cards and SSNs listed with only a space between them.

The candidate patterns (phone.py, cards.py) refuse a candidate that runs on
into more digits, or starts right after a digit and a separator, so that a
piece of a longer number (an account or order number printed in groups) is
not taken for a card or a phone. That also refused every value of a list
written with single spaces: `415-555-0132 415-555-0133` or two card numbers
`4111111111111111 5500000000000004` were reported as nothing at all.

So a run of digits and separators that holds a space and enough digits for
two values is also read as a list: its space-separated pieces are grouped,
in order, into consecutive values that each pass the same checks as alone
(a phone's shape, a card's issuer, grouping and Luhn sum, an SSN's
allocation rules). Only a run that is wholly such values, two or more, is
reported this way: a long number in groups that is not a list of values
(`1234 5678 9012 3456 7890`) still is not, since some piece then belongs to
no value. Each value tried costs one unit of the pass's budget (candidates.py).
"""

from __future__ import annotations

import re
from typing import Final

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, NOT_DIGITS, Budget
from gateway_cli.guards.pii.cards import _card_confidence, _card_grouping_ok, luhn
from gateway_cli.guards.pii.context import said_before
from gateway_cli.guards.pii.phone import _phone_confidence
from gateway_cli.guards.pii.ssn import SSN_CONTEXT, SSN_CONTEXT_LOWER, _ssn_valid

MAX_PIECES: Final = 6  # space-separated pieces in one value (`+1 (415) 555 0132 x7` is five)
MIN_DIGITS: Final = 7  # the fewest digits any value here has (a phone)
MAX_DIGITS: Final = 19  # the most (a card)
_PIECE: Final = re.compile(r"[^ ]+")
_SSN_SHAPE: Final = re.compile(r"[0-9]{3}([\- ])[0-9]{2}\1[0-9]{4}|[0-9]{9}")


def _value(text: str, start: int, end: int, digits: int) -> tuple[str, float] | None:
    """The kind and confidence of `text[start:end]` as one value alone, if it is one."""
    raw = text[start:end]
    if 12 <= digits <= MAX_DIGITS:
        plain = raw.replace(" ", "").replace("-", "")
        if plain.isdigit():
            conf = _card_confidence(plain)
            if conf and _card_grouping_ok(raw) and luhn(plain):
                return "credit_card", conf
    if digits == 9 and _SSN_SHAPE.fullmatch(raw):
        plain = raw.replace(" ", "").replace("-", "")
        if _ssn_valid(plain[:3], plain[3:5], plain[5:]):
            sep = raw[3] if len(raw) == 11 else ""
            conf = {"-": 0.85, " ": 0.6, "": 0.3}[sep]
            if said_before(SSN_CONTEXT, SSN_CONTEXT_LOWER, text, max(0, start - 40), start):
                conf = max(conf, 0.9 if sep else 0.85)
            return "us_ssn", conf
    conf = _phone_confidence(text, start, end, raw)
    return ("phone", conf) if conf else None


def list_values(text: str, start: int, end: int, budget: Budget, out: list[Finding]) -> bool:
    """Append the values of the run `[start, end)` when it is a list of two or more.

    The pieces are read one by one and grouped as they come: once no way of
    grouping the pieces read so far can still be continued (no value ends
    within `MAX_PIECES` pieces of the last one), the run is no list and the
    rest of it is not read, so a megabyte of grouped digits that holds no
    value costs a few pieces. False: out of budget (the caller treats the run
    as not examined).
    """
    stop = start + len(text[start:end].rstrip(" ().-"))
    spans: list[tuple[int, int]] = []
    digits: list[int] = []
    # steps[j]: how the first j pieces end in a value (its first piece, kind, confidence);
    # None for j = 0 and for every j not reached.
    steps: list[tuple[int, str, float] | None] = [None]
    reached = [True]
    last = 0  # the last j reached
    for m in _PIECE.finditer(text, start, stop):
        spans.append(m.span())
        digits.append(len(m.group().translate(NOT_DIGITS)))
        j = len(spans)
        steps.append(None)
        reached.append(False)
        total = 0
        for i in range(j - 1, max(-1, j - 1 - MAX_PIECES), -1):  # groups i..j-1, shortest first
            total += digits[i]
            if total > MAX_DIGITS:
                break
            if total < MIN_DIGITS or not reached[i]:
                continue
            s, e = spans[i][0], spans[j - 1][1]
            if not budget.take(s):
                return False
            found = _value(text, s, e, total)
            if found is not None:
                reached[j] = True
                steps[j] = (i, *found)
                last = j
                break
        if j - last >= MAX_PIECES:
            return True  # no grouping of what was read can go on: not a list
    count = len(spans)
    if not reached[count]:
        return True
    values = []
    j = count
    while j > 0:
        step = steps[j]
        assert step is not None  # every reached j but 0 records how
        i, kind, conf = step
        values.append(Finding(GUARD, kind, spans[i][0], spans[j - 1][1], conf,
                              mask(text[spans[i][0]:spans[j - 1][1]])))
        j = i
    if len(values) >= 2:
        out.extend(reversed(values))
    return True
