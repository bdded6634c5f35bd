"""Phone numbers: E.164, North American, area code in brackets, trunk prefix, or grouped digits.

No checksum exists, so the shape is the check, and its confidence says how
specific the shape is: a `+` and a country code, or the North American plan,
stand alone; a national number without a trunk prefix, a `+` or an area
code in brackets (`668 5702`) is reported only next to a word such as
"phone", "call" or "fax": without one, such digit groups are as often
quantities. Dates and the SSN's `ddd-dd-dddd` are never phones, and where a
card, an IBAN, an SSN or an IP overlaps a phone, the validated kind wins
(guard.py).
"""

from __future__ import annotations

import re

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, NOT_DIGITS, Budget, candidates
from gateway_cli.guards.pii.context import said_before

# A candidate: an optional + or (, then up to 24 digits and separators ending
# in a digit, then an optional extension. It must not continue into more digits
# and must not start inside a digit run, so a long run yields no candidate.
_PHONE_REST = r"[0-9 ().\-]{0,24}[0-9](?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,5})?(?!\w)(?![ .\-]?\d)"
PHONE = re.compile(
    r"((?:[+(](?<![\w+.\-)(][+(])(?<![0-9)][ .\-]\()[0-9]"
    r"|[0-9](?<![\w+.\-)(][0-9])(?<![0-9)][ .\-][0-9]))" + _PHONE_REST + ")"
)
PHONE_IN = re.compile(r"[ .\-(+] ((?:\([0-9]|[0-9])" + _PHONE_REST + ")")
_PHONE_EXT = re.compile(r"[ ]?(?:x|ext\.?|#)[ ]?\d{1,5}$")
_PHONE_E164 = re.compile(r"\+\d{1,3}(?:[ .\-]?\(0\))?(?:[ .\-]?\d{1,6}){1,6}")
_PHONE_NANP = re.compile(
    r"(?:(?:\+?1|001)[ .\-]?)?"
    r"(?:\([2-9]\d{2}\)[ ]?[2-9]\d{2}-\d{4}|[2-9]\d{2}([ .\-])[2-9]\d{2}\1\d{4})"
)
_PHONE_AREA = re.compile(r"\(\d{2,4}\)[ ]?\d{2,4}(?:[ \-]\d{2,4}){1,3}")
_PHONE_TRUNK = re.compile(r"0\d{1,4}(?:([ .\-])\d{2,8})(?:\1\d{2,4}){0,3}")
_PHONE_GROUPED = re.compile(r"\d{2,5}(?:[ \-]\d{2,6}){1,3}")
# The SSN's shape: no national plan prints numbers that way.
_PHONE_NOT = re.compile(r"\d{3}-\d{2}-\d{4}")
_PHONE_DATE = re.compile(
    r"\d{4}[\-./]\d{1,2}[\-./]\d{1,2}|\d{1,2}[\-./]\d{1,2}[\-./](?:19|20)\d{2}(?!\d)"
)
PHONE_BEFORE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|fax|desk|office|call|calling|ring|dial|sms"
    r"|texts?|messages?|whatsapp|contact|reach|answering|number|registered)\b",
    re.IGNORECASE,
)
PHONE_BEFORE_LOWER = re.compile(PHONE_BEFORE.pattern)
# A bare digit string is a phone only after one of these (not "number", "contact":
# an order or account number is as often written that way).
_BARE_BEFORE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|cellphone|fax|call|calling|dial|sms|text|texting"
    r"|whatsapp)\b",
    re.IGNORECASE,
)
_BARE_BEFORE_LOWER = re.compile(_BARE_BEFORE.pattern)
# The same, led by a look-ahead at the words' first letters: the engine then skips the
# other characters of a long text without trying the words there (~10 ns a character).
_BARE_ANYWHERE_LOWER = re.compile(r"(?=[cdfmpstw])" + _BARE_BEFORE.pattern)
_PHONE_BARE = re.compile(r"1?[2-9][0-9]{2}[2-9][0-9]{6}")
_PHONE_AFTER = re.compile(r"\s*[\-(]?\s*(?:office|fax|mobile|home|work|cell)\b", re.IGNORECASE)


def _phone_context(text: str, start: int, end: int) -> bool:
    """A phone word just before the number or a label word just after it."""
    lo = max(0, start - 40)
    before = text[lo:start]
    # The words are letters: without a cased character there is nothing to find.
    if before.lower() != before.upper() and said_before(
        PHONE_BEFORE, PHONE_BEFORE_LOWER, text, lo, start
    ):
        return True
    return _PHONE_AFTER.match(text, end, min(len(text), end + 16)) is not None


def _phone_confidence(text: str, start: int, end: int, number: str) -> float:
    """How strongly the shape says "phone", raised when a phone word is beside it."""
    digits = len(number.translate(NOT_DIGITS))
    if not 7 <= digits <= 15:
        return 0.0  # no shape below accepts that many digits
    if _PHONE_DATE.search(number) or _PHONE_NOT.fullmatch(number):
        return 0.0
    if number.startswith("+"):
        if 8 <= digits <= 15 and _PHONE_E164.fullmatch(number):
            return 0.9
        # `+1 (415) 555-0132`: the area code in brackets is no E.164 grouping.
        return 0.85 if 11 <= digits <= 14 and _PHONE_NANP.fullmatch(number) else 0.0
    if 10 <= digits <= 14 and _PHONE_NANP.fullmatch(number):
        return 0.85
    if 7 <= digits <= 12 and _PHONE_AREA.fullmatch(number):
        return 0.8 if _phone_context(text, start, end) else 0.7
    if 9 <= digits <= 12 and _PHONE_TRUNK.fullmatch(number):
        return 0.8 if _phone_context(text, start, end) else 0.6
    if 7 <= digits <= 12 and _PHONE_GROUPED.fullmatch(number):
        return 0.5 if _phone_context(text, start, end) else 0.0
    return 0.0


def phones(
    text: str, start: int, end: int, window: int, long: bool, budget: Budget, out: list[Finding]
) -> bool:
    """Append the phone numbers in the run `[start, end)` to `out`; False: out of budget."""
    n = len(text)
    for m in candidates(PHONE, PHONE_IN, text, start, end, window, long):
        s, e = m.span(1)
        if not budget.take(s):
            return False
        if e == window < n and (text[e].isalnum() or text[e] == "_"):
            continue  # the window cut a longer token
        raw = m.group(1)
        number = raw
        if "x" in raw or "#" in raw:  # every extension has one
            ext = _PHONE_EXT.search(raw)
            if ext:
                number = raw[: ext.start()]
        conf = _phone_confidence(text, s, e, number)
        if conf:
            out.append(Finding(GUARD, "phone", s, e, conf, mask(raw)))
    return True


def has_phone_word(text: str) -> bool:
    """Whether `text` holds a phone word at all: a bare number is looked at only then, so a
    dump of ids shaped like North American numbers costs one search, not a check each."""
    if text.isascii():
        return _BARE_ANYWHERE_LOWER.search(text.lower()) is not None
    return _BARE_BEFORE.search(text) is not None


def bare_phone(text: str, start: int, end: int, budget: Budget, out: list[Finding]) -> bool:
    """A North American number written as bare digits (`4155550132`) right after a phone word.

    Without a separator, a bracket or a `+` ten digits are as often an id, an
    order number or epoch seconds, so it takes a phone word (`_BARE_BEFORE`)
    within the 40 characters before it; the run pattern (runs.py) already
    skipped the digit strings that no North American number can be.
    False: out of budget.
    """
    if not budget.take(start):
        return False
    number = text[start:end].rstrip(" ().-")
    stop = start + len(number)
    glued = (start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.+-")) or (
        stop < len(text) and (text[stop].isalnum() or text[stop] == "_"))
    if glued or not _PHONE_BARE.fullmatch(number):
        return True
    if said_before(_BARE_BEFORE, _BARE_BEFORE_LOWER, text, max(0, start - 40), start):
        out.append(Finding(GUARD, "phone", start, stop, 0.8, mask(number)))
    return True
