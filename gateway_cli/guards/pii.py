"""Personal data in prompts: emails, phones, payment cards, IBANs, US SSNs, IP addresses.

A regular expression only proposes a candidate; a finding is reported when the
candidate also passes the check that real values pass and look-alikes fail
(Luhn and issuer ranges for cards, mod-97 and the country's length for IBANs,
the SSA's allocation rules for SSNs, `ipaddress` for IPs). That is what keeps
order numbers, dates, versions and timestamps out of the audit log.

Linear time and little of it: every pattern is bounded in length, or starts
at one fixed character (`@`, `:`) or at the first digit of a run (a
look-behind after that digit), so the engine skips prose at memchr speed and
never re-reads a long run from every position. Cards, SSNs, IPv4 addresses
and phones are looked for only inside runs of digits and separators long
enough to hold one, and inside a long run only where their look-behinds let
them start (found by substring search on the run's digit/separator shape),
so 1 MB of `1234 ` costs about 45 ms instead of 140 ms. What stays costly is
input dense with candidates that each need a Python-level check (1 MB of
`123-45-6789 ` or `(415) 555-0132 `: 130-230 ms); bench/guards/README.md
has the table. A realistic 4 KB prompt takes about 0.15 ms.

Decisions worth knowing:
- An IPv4 address glued to a word character or a dot (`v1.2.3.4`,
  `1.1.1.1.1`) is a version or an OID, not an address, and is skipped.
- Loopback, unspecified and link-local addresses identify no one and are
  skipped unless `include_local_ips=True`.
- A national phone number without a trunk prefix, a `+` or an area code in
  brackets (`668 5702`) is reported only next to a word such as "phone",
  "call" or "fax": without one, such digit groups are as often quantities.
- Nine bare digits are an SSN at low confidence (0.3) unless "SSN" or
  "social security" is near: driver's licences and ids share the shape.
- Where kinds overlap, the validated ones win (a card, an IBAN, an SSN or an
  IP is not also reported as a phone).

Names and postal addresses need models or gazetteers, so they are left to
plug-ins (`PiiPlugin`), none by default.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import string
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway_cli.guards.base import Finding, mask

GUARD = "pii"

def _matches(
    rx: re.Pattern[str], text: str, pos: int, endpos: int, starts: Sequence[int] | None
) -> Iterable[re.Match[str]]:
    """`rx.finditer(text, pos, endpos)`, or the same matches tried only at `starts`.

    `starts` (sorted, beginning with `pos`) must hold every position where
    `rx` can match; the leftmost match at or after the last end is then the
    first start that matches, exactly as `finditer` would find it.
    """
    if starts is None:
        yield from rx.finditer(text, pos, endpos)
        return
    last = pos
    for s in starts:
        if s < last:
            continue
        m = rx.match(text, s, endpos)
        if m is not None:
            yield m
            last = m.end()


# --- payment cards ---------------------------------------------------------

# 12 to 19 digits, optionally split by single spaces or dashes; never a piece of
# a longer digit run (the look-behind also stops a retry from every digit).
_CARD = re.compile(
    r"[0-9](?<![\w.+\-][0-9])(?<![0-9][ \-][0-9])(?:[ \-]?[0-9]){11,18}(?!\w)(?![.\- ]?[0-9])"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


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
    seps = {c for c in raw if not c.isdigit()}
    if not seps:
        return True
    if len(seps) > 1:
        return False
    groups = tuple(len(g) for g in raw.split(seps.pop()))
    if groups in _CARD_GROUPINGS:
        return True
    return len(groups) >= 3 and all(g == 4 for g in groups[:-1]) and 1 <= groups[-1] <= 4


def _cards(
    text: str, pos: int, endpos: int, starts: Sequence[int] | None = None
) -> Iterable[Finding]:
    for m in _matches(_CARD, text, pos, endpos, starts):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if not _card_grouping_ok(raw) or not _luhn(digits):
            continue
        conf = _card_confidence(digits)
        if conf:
            yield Finding(GUARD, "credit_card", m.start(), m.end(), conf, mask(raw))


# --- IBAN -----------------------------------------------------------------

# SWIFT IBAN registry: total length by country.
_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27,
    "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Compact, or printed in groups of four with single spaces.
_IBAN = re.compile(
    r"[0-9][0-9](?<=[A-Za-z][A-Za-z][0-9][0-9])(?<!\w[A-Za-z][A-Za-z][0-9][0-9])"
    r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,6}(?: [A-Za-z0-9]{1,4})?)"
    r"(?!\w)"
)


def _iban_valid(compact: str) -> bool:
    compact = compact.upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        start = m.start() - 2
        raw = text[start : m.end()]
        # A grouped candidate may have swallowed the next short word ("... 32 to").
        for candidate in (raw, raw.rpartition(" ")[0]) if " " in raw else (raw,):
            if _iban_valid(candidate.replace(" ", "")):
                end = start + len(candidate)
                yield Finding(GUARD, "iban", start, end, 0.95, mask(candidate))
                break


# --- US SSN ---------------------------------------------------------------

_SSN = re.compile(
    r"[0-9](?<![\w\-.][0-9])"
    r"(?:([0-9]{2})([\- ])([0-9]{2})\2([0-9]{4})|([0-9]{2})([0-9]{2})([0-9]{4}))"
    r"(?!\w)(?![\-.][0-9])"
)
_SSN_CONTEXT = re.compile(r"\bssn\b|\bss#|social[\s-]+security|\bsocial sec\b", re.IGNORECASE)
# Printed in advertising and on sample cards; never issued to a person.
_SSN_PUBLIC = frozenset({"078051120", "219099999", "123456789"})


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    a = int(area)
    if a == 0 or a == 666 or a >= 900 or group == "00" or serial == "0000":
        return False
    joined = area + group + serial
    return joined not in _SSN_PUBLIC and not joined.startswith("98765432")


def _ssns(
    text: str, pos: int, endpos: int, starts: Sequence[int] | None = None
) -> Iterable[Finding]:
    for m in _matches(_SSN, text, pos, endpos, starts):
        if m.group(1) is not None:
            area, sep, group, serial = m.group(1, 2, 3, 4)
        else:
            area, group, serial = m.group(5, 6, 7)
            sep = ""
        area = text[m.start()] + area
        if not _ssn_valid(area, group, serial):
            continue
        near = _SSN_CONTEXT.search(text, max(0, m.start() - 40), m.start()) is not None
        conf = {"-": 0.85, " ": 0.6, "": 0.3}[sep]
        if near:
            conf = max(conf, 0.9 if sep else 0.85)
        yield Finding(GUARD, "us_ssn", m.start(), m.end(), conf, mask(m.group()))


# --- IP addresses ---------------------------------------------------------

_IPV4 = re.compile(r"[0-9](?<![\w.][0-9])[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?!\w)(?!\.[0-9])")
# From the first colon: at most 7 more non-empty hex groups (one gap may be
# `::`, possibly at the end), optionally ending in dotted IPv4. The first group
# (up to 4 hex digits before that colon) is added back by hand. Starting at a
# colon lets the engine skip prose at memchr speed, and colons and hex digits
# are disjoint, so there is nothing to backtrack into.
_IPV6_TAIL = re.compile(
    r"::?[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3}(?:::)?"
)
_HEX = frozenset("0123456789abcdefABCDEF")
_SPLIT_V6 = re.compile(r"[:.]")
_V6_AFTER = re.compile(r"[\w:]|\.\w")


def _ip_is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local


def _ipv4s(text: str, pos: int, endpos: int, include_local: bool) -> Iterable[Finding]:
    for m in _IPV4.finditer(text, pos, endpos):
        try:
            v4 = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if include_local or not _ip_is_local(v4):
            yield Finding(GUARD, "ip_address", m.start(), m.end(), 0.85, mask(m.group()))


def _ipv6s(text: str, include_local: bool) -> Iterable[Finding]:
    if "::" not in text and text.count(":") < 7:
        return
    for m in _IPV6_TAIL.finditer(text):
        start, end = m.span()
        if m.group().count(":") < 7 and "::" not in m.group():
            continue  # neither eight groups nor a compressed form: a time, a label
        while start > 0 and m.start() - start < 4 and text[start - 1] in _HEX:
            start -= 1
        before = text[start - 1] if start else " "
        after = text[end : end + 2]
        if before.isalnum() or before in "_:." or _V6_AFTER.match(after):
            continue
        raw = text[start:end]
        if len(raw) < 6 or sum(1 for g in _SPLIT_V6.split(raw) if g) < 2:
            continue  # `a::b` is more often a C++ or Rust path than an address
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        if include_local or not _ip_is_local(v6):
            yield Finding(GUARD, "ip_address", start, end, 0.9, mask(raw))


# --- email ----------------------------------------------------------------

_ATEXT = frozenset(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-")
# From the @: a DNS host name with a 2+ letter TLD. The RFC 5322 dot-atom local
# part is walked back by hand (at most 64 characters), so the engine only
# wakes up at an @ and no run of text is ever rescanned from each position.
_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}"
    r"(?![\w\-])(?!\.[A-Za-z0-9])"
)


def _local_part_start(text: str, at: int) -> int:
    """Where the local part before `at` begins, or -1 when it is not a dot-atom."""
    start = at
    while start > 0 and at - start < 64 and (text[start - 1] in _ATEXT or text[start - 1] == "."):
        start -= 1
    if start == at or (start > 0 and (text[start - 1] in _ATEXT or text[start - 1] == ".")):
        return -1
    local = text[start:at]
    if local[0] == "." or local[-1] == "." or ".." in local:
        return -1
    return start


def _emails(text: str) -> Iterable[Finding]:
    if "@" not in text:
        return
    last_end = 0
    for m in _EMAIL_DOMAIN.finditer(text):
        start = _local_part_start(text, m.start())
        if start < last_end:
            continue
        last_end = m.end()
        yield Finding(GUARD, "email", start, m.end(), 0.95, mask(text[start : m.end()]))


# --- phone numbers ----------------------------------------------------------

# A candidate: an optional + or (, then up to 24 digits and separators ending
# in a digit, then an optional extension. It must not continue into more digits
# and must not start inside a digit run, so a long run yields no candidate.
_PHONE = re.compile(
    r"(?:[+(](?<![\w+.\-)(][+(])(?<![0-9)][ .\-][+(])[0-9]"
    r"|[0-9](?<![\w+.\-)(][0-9])(?<![0-9)][ .\-][0-9]))"
    r"[0-9 ().\-]{0,24}[0-9]"
    r"(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,5})?"
    r"(?!\w)(?![ .\-]?\d)"
)
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
_PHONE_BEFORE = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|fax|desk|office|call|calling|ring|dial|sms"
    r"|texts?|messages?|whatsapp|contact|reach|answering|number|registered)\b",
    re.IGNORECASE,
)
_PHONE_AFTER = re.compile(r"\s*[\-(]?\s*(?:office|fax|mobile|home|work|cell)\b", re.IGNORECASE)


def _phone_context(text: str, start: int, end: int) -> bool:
    """A phone word just before the number or a label word just after it."""
    lo = max(0, start - 40)
    before = text[lo:start]
    # The words are letters: without a cased character there is nothing to find.
    if before.lower() != before.upper() and _PHONE_BEFORE.search(text, lo, start) is not None:
        return True
    return _PHONE_AFTER.match(text, end, min(len(text), end + 16)) is not None


def _phone_confidence(text: str, start: int, end: int, number: str) -> float:
    """How strongly the shape says "phone", raised when a phone word is beside it."""
    digits = len(number.translate(_NOT_DIGITS))
    if not 7 <= digits <= 15:
        return 0.0  # no shape below accepts that many digits
    if _PHONE_DATE.search(number) or _PHONE_NOT.fullmatch(number):
        return 0.0
    if number.startswith("+"):
        if 8 <= digits <= 15 and _PHONE_E164.fullmatch(number):
            return 0.9
        return 0.0
    if 10 <= digits <= 14 and _PHONE_NANP.fullmatch(number):
        return 0.85
    if 7 <= digits <= 12 and _PHONE_AREA.fullmatch(number):
        return 0.8 if _phone_context(text, start, end) else 0.7
    if 9 <= digits <= 12 and _PHONE_TRUNK.fullmatch(number):
        return 0.8 if _phone_context(text, start, end) else 0.6
    if 7 <= digits <= 12 and _PHONE_GROUPED.fullmatch(number):
        return 0.5 if _phone_context(text, start, end) else 0.0
    return 0.0


def _phones(
    text: str, pos: int, endpos: int, starts: Sequence[int] | None = None
) -> Iterable[Finding]:
    for m in _matches(_PHONE, text, pos, endpos, starts):
        if m.end() == endpos < len(text) and (text[endpos].isalnum() or text[endpos] == "_"):
            continue  # the window cut a longer token
        raw = m.group()
        ext = _PHONE_EXT.search(raw)
        number = raw[: ext.start()] if ext else raw
        conf = _phone_confidence(text, m.start(), m.end(), number)
        if conf:
            yield Finding(GUARD, "phone", m.start(), m.end(), conf, mask(raw))


# --- the guard --------------------------------------------------------------

# On overlap the earlier kind wins: its check is stronger than a phone's shape.
_PRIORITY = ("credit_card", "iban", "us_ssn", "ip_address", "email", "phone")


def _resolve(findings: Iterable[Finding]) -> list[Finding]:
    """Drop each finding that overlaps one of a higher-priority kind.

    The kept spans never overlap, so sorted starts and a bisection find the
    only neighbours that could: linear-logarithmic however many findings.
    """
    starts: list[int] = []
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (_PRIORITY.index(f.kind), f.start, -f.end)):
        i = bisect.bisect_left(starts, f.start)
        if i < len(kept) and kept[i].start < f.end:
            continue
        if i > 0 and kept[i - 1].end > f.start:
            continue
        starts.insert(i, f.start)
        kept.insert(i, f)
    return kept


# Every card, SSN, IPv4 address and phone number lies inside one run of 7 or
# more digits and separators (a phone's extension just after it). Finding the runs is one
# possessive pass that the engine starts only at a digit, + or (; each family's
# pattern then looks only inside runs that have enough digits for it, so prose
# costs almost nothing and a long run is scanned by at most a few patterns.
_RUN = re.compile(r"[+(0-9][0-9 ().\-]{6,}+")
_NOT_DIGITS = str.maketrans("", "", " ().-+")


# Where a phone, card or SSN can start inside a long run, given the look-behinds
# of their patterns (a run holds only digits and ` ().-`, and `+` at its start):
# a phone at a digit or `(` after a space that follows none of `0-9)`; a card
# at a digit after `(` or `)`, or after a space that follows no digit; an SSN
# at a group of exactly 3 digits followed by a space or dash, or of exactly 9.
# On the run with digits written as `d` (and, for SSNs, separators as `s`),
# these are substring searches in C: a megabyte of `1234 ` holds none of them,
# so each pattern is tried once at the run's start instead of at every digit.
_AS_D = str.maketrans("0123456789", "dddddddddd")
_AS_S = str.maketrans(" ().-+", "ssssss")
_PHONE_STARTS = tuple(x + " " + y for x in " .-(+" for y in "d(")
_CARD_STARTS = ("(d", ")d", *(x + " d" for x in " .-()+"))
_SSN_STARTS = ("sddds", "s" + "d" * 9 + "s")
_LONG_RUN = 64


def _starts(
    shape: str, subs: Sequence[str], base: int, limit: int, tail: range, at: int = -1
) -> list[int] | None:
    """`base`, and `base` plus the index of character `at` of each occurrence of `subs`.

    `tail` (the positions between the run's end and the window's) is added as
    is: a pattern may start there too when an extension widens the window.
    """
    if sum(shape.count(sub) for sub in subs) >= limit:
        return None
    out = [base]
    for sub in subs:
        k = at % len(sub)
        i = shape.find(sub)
        while i >= 0:
            out.append(base + i + k)
            i = shape.find(sub, i + 1)
    out.sort()
    out += tail
    return out


def _digit_kinds(text: str, include_local_ips: bool) -> Iterable[Finding]:
    n = len(text)
    for run in _RUN.finditer(text):
        start, end = run.span()
        raw = run.group()
        digits = len(raw.translate(_NOT_DIGITS))
        # The look-aheads need the character after the run; an extension, more.
        ext = end < n and text[end] in "xXe#"
        window = min(n, end + (12 if ext else 1))
        if not ext and raw.rstrip(" ().-").isdigit():
            # One digit string: every phone shape needs a separator, a + or a
            # bracket, an SSN is then exactly 9 digits and a card 12 to 19.
            if digits == 9:
                yield from _ssns(text, start, window)
            elif 12 <= digits <= 19:
                yield from _cards(text, start, window)
            continue
        if raw.count(".") >= 3:
            yield from _ipv4s(text, start, window, include_local_ips)
        if end - start <= _LONG_RUN:
            if digits >= 7:
                yield from _phones(text, start, window)
            if digits >= 9:
                yield from _ssns(text, start, window)
            if digits >= 12:
                yield from _cards(text, start, window)
            continue
        # A long run: a kind is scanned for only if the run holds the digit
        # group it needs (a card 4 digits, an SSN 3, a phone 2), and then tried
        # only where it can start (see above); with too many such places, one
        # pass of the pattern is cheaper.
        shape = raw.translate(_AS_D)
        limit = (end - start) // 12
        tail = range(end, window)
        if digits >= 7 and "dd" in shape:
            starts = _starts(shape, _PHONE_STARTS, start, limit, tail)
            yield from _phones(text, start, window, starts)
        if digits >= 9 and "ddd" in shape:
            padded = "s" + shape.translate(_AS_S) + "s"
            starts = _starts(padded, _SSN_STARTS, start - 1, limit, tail, at=1)
            if starts is not None:
                starts[0] = start
            yield from _ssns(text, start, window, starts)
        if digits >= 12 and "dddd" in shape:
            yield from _cards(text, start, window, _starts(shape, _CARD_STARTS, start, limit, tail))


def scan(text: str, *, include_local_ips: bool = False) -> list[Finding]:
    """Personal data in `text`, sorted by position, no two findings overlapping."""
    found: list[Finding] = []
    found += _digit_kinds(text, include_local_ips)
    found += _ibans(text)
    found += _ipv6s(text, include_local_ips)
    found += _emails(text)
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
