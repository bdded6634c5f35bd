"""Personal data in prompts: emails, phones, payment cards, IBANs, US SSNs, IP addresses.

A regular expression only proposes a candidate; a finding is reported when the
candidate also passes the check that real values pass and look-alikes fail
(Luhn and issuer ranges for cards, mod-97 and the country's length for IBANs,
the SSA's allocation rules for SSNs, the octet rules of `ipaddress` for IPs).
That is what keeps order numbers, dates, versions and timestamps out of the
audit log.

Linear time and little of it. Every pattern is bounded in length, or starts
at one fixed character (`@`, `:`) or at the first digit of a run, so the
engine skips prose at memchr speed and never re-reads a long run from every
position. Cards, SSNs, IPv4 addresses and phones are looked for only inside
runs of digits and separators long enough to hold one. The run pattern
itself marks the runs that cannot (a digit string no SSN or card can be,
such as epoch milliseconds, or a bare date such as `2024-03-12 09`), so they
cost Python one test. Inside a run longer than 64 characters a kind is
searched only if the run holds a piece its findings always contain (two
digits in a row for a phone, an SSN's or a card's digit groups), and then by
a second pattern that starts at the separator the first one's look-behinds
allow before a candidate, so the engine stops at separators, not at every
digit. The same patterns answer IPv6 and the phone and SSN context words as
far as they can (times of day and `Foo::bar` never reach Python; the word
lists are searched case-sensitively on lowercased ASCII). What is left costs
Python time per run and per candidate (the validators), and that is bounded:

- Each of the four passes (runs of digits, IBANs, IPv6, e-mail) examines at
  most `MAX_CANDIDATES_PER_PASS` runs and candidates. A text with more is a
  flood of PII or look-alikes (a dump, or crafted to burn CPU): the pass
  stops, and the text from where it stopped (the start of the digit run it
  was in, or its next candidate) to the end is reported as one
  `pii_overflow` finding at confidence 1.0, so a redacting or blocking
  policy covers every value in it that was not examined. Findings before
  that point are reported as usual. A 4 KB prompt has a few dozen runs and
  candidates; 1,400 to 4,000 values of one family in one text reach the cap
  (a run and each candidate in it count: a 1 MB log with a client IP on
  every line overflows after about 150 KB; one with only timestamps, dates
  or epoch milliseconds never does).

1 MB of any shape in bench/guards/run.py takes at most about 40 ms (it was
up to 280 ms before the cap and the run marks), a realistic 4 KB prompt about
0.11 ms; bench/guards/README.md has the tables.

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
- More than `MAX_CANDIDATES_PER_PASS` candidates in one pass: one
  `pii_overflow` finding from where the pass stopped to the end (above).

Names and postal addresses need models or gazetteers, so they are left to
plug-ins (`PiiPlugin`), none by default.
"""

from __future__ import annotations

import bisect
import ipaddress
import re
import string
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, Protocol

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.normalise import on_original

GUARD: Final = "pii"
OVERFLOW = "pii_overflow"
# Runs and candidates one pass may examine in Python before the rest of the
# text is reported as one `pii_overflow` finding. At a few microseconds each,
# the four passes together stay within tens of milliseconds on any input.
MAX_CANDIDATES_PER_PASS = 4096


class _Budget:
    """What a scan's current pass may still examine, and where a pass stopped."""

    __slots__ = ("left", "limit")

    def __init__(self) -> None:
        self.left = 0
        self.limit = sys.maxsize  # the first position not examined, once a pass ran out

    def take(self, at: int) -> bool:
        """Whether the candidate at `at` may be examined; False ends the pass."""
        if at >= self.limit:
            return False
        if self.left <= 0:
            self.limit = at
            return False
        self.left -= 1
        return True


def _said_before(rx: re.Pattern[str], lower: re.Pattern[str], text: str, lo: int, hi: int) -> bool:
    """`rx.search(text, lo, hi)` for a word list `rx` compiled with IGNORECASE.

    On ASCII text (and the character before `lo`, which `\\b` reads) that is
    the same as `lower`, the list compiled without the flag, searching the
    lowercased window: twenty times faster, since the engine then has
    literal letters to compare instead of case-folding each one.
    """
    window = text[lo - 1 : hi] if lo else text[lo:hi]
    if window.isascii():
        return lower.search(window.lower(), 1 if lo else 0) is not None
    return rx.search(text, lo, hi) is not None


def _candidates(
    at: re.Pattern[str],
    inner: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    window: int,
    long: bool,
) -> Iterator[re.Match[str]]:
    """The matches of `at.finditer(text, start, window)`, for a run of digits and separators.

    `[start, end)` is one run (`_RUN`); the candidate is group 1 of every
    match. In a long run, `at` is tried only at the run's start and between
    its end and `window`; inside it `inner` finds the same candidates as `at`
    would, starting at the separator before each one (what `at`'s
    look-behinds allow there), so the engine stops at separators, not at
    every digit.
    """
    if not long:
        return at.finditer(text, start, window)
    return _in_long_run(at, inner, text, start, end, window)


def _in_long_run(
    at: re.Pattern[str], inner: re.Pattern[str], text: str, start: int, end: int, window: int
) -> Iterator[re.Match[str]]:
    last = start
    m = at.match(text, start, window)
    if m is not None:
        yield m
        last = m.end()
    for m in inner.finditer(text, last, window):
        if m.start(1) >= end:
            break
        yield m
        last = m.end()
    p = max(last, end)
    while p < window:
        m = at.match(text, p, window)
        if m is None:
            p += 1
            continue
        yield m
        p = m.end()


# --- payment cards ---------------------------------------------------------

# 12 to 19 digits, optionally split by single spaces or dashes; never a piece of
# a longer digit run (the look-behind also stops a retry from every digit).
_CARD_REST = r"(?:[ \-]?[0-9]){11,18}(?!\w)(?![.\- ]?[0-9])"
_CARD = re.compile(r"([0-9](?<![\w.+\-][0-9])(?<![0-9][ \-][0-9])" + _CARD_REST + ")")
_CARD_IN = re.compile(r"[() ](?<![0-9] )([0-9]" + _CARD_REST + ")")
# Luhn doubles every second digit from the right; 2d, less 9 when over 9.
_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")


def _luhn(digits: str) -> bool:
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


def _cards(
    text: str, start: int, end: int, window: int, long: bool, budget: _Budget, out: list[Finding]
) -> bool:
    for m in _candidates(_CARD, _CARD_IN, text, start, end, window, long):
        s = m.start(1)
        if not budget.take(s):
            return False
        raw = m.group(1)
        digits = raw.replace(" ", "").replace("-", "")
        conf = _card_confidence(digits)
        if conf and _card_grouping_ok(raw) and _luhn(digits):
            out.append(Finding(GUARD, "credit_card", s, m.end(1), conf, mask(raw)))
    return True


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

# Compact, or printed in groups of four with single spaces. The same matches
# are found from the check digits (`_IBAN`: prose has few digits), from the
# country code (`_IBAN_BY_LETTER`) or from the non-word character before it
# (`_IBAN_BY_EDGE`, or at the very start): in a long text, from whichever of
# the three is rarest, since the engine stops at each.
_IBAN_REST = r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,6}(?: [A-Za-z0-9]{1,4})?)(?!\w)"
_IBAN = re.compile(
    r"[0-9][0-9](?<=[A-Za-z][A-Za-z][0-9][0-9])(?<!\w[A-Za-z][A-Za-z][0-9][0-9])" + _IBAN_REST
)
_IBAN_BY_LETTER = re.compile(r"[A-Za-z](?<!\w[A-Za-z])[A-Za-z][0-9][0-9]" + _IBAN_REST)
_IBAN_BY_EDGE = re.compile(r"[^\w]([A-Za-z]{2}[0-9]{2}" + _IBAN_REST + ")")
_IBAN_AT_START = re.compile(r"[A-Za-z]{2}[0-9]{2}" + _IBAN_REST)
_IBAN_LETTERS = str.maketrans({c: str(int(c, 36)) for c in string.ascii_uppercase})
# Below this length the choice of pattern is not worth a sample.
_SAMPLE_FROM = 1 << 16
_DROP_DIGITS = str.maketrans("", "", string.digits)
_DROP_LETTERS = str.maketrans("", "", string.ascii_letters)


def _iban_valid(compact: str) -> bool:
    compact = compact.upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTERS)) % 97 == 1


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of the IBAN candidates, from the country code to the end of the match."""
    if len(text) > _SAMPLE_FROM:
        # Sixteen slices, not a stride: a stride can keep to one phase of a
        # periodic text. A poor guess only costs time, never findings.
        step = len(text) // 16
        sample = "".join(text[i : i + 256] for i in range(0, len(text), step))
        digits = len(sample) - len(sample.translate(_DROP_DIGITS))
        letters = len(sample) - len(sample.translate(_DROP_LETTERS))
        others = len(sample) - digits - letters
        if others < min(digits, letters):
            m = _IBAN_AT_START.match(text)
            pos = 0
            if m is not None:
                yield m.span()
                pos = m.end()
            yield from (m.span(1) for m in _IBAN_BY_EDGE.finditer(text, pos))
            return
        if letters < digits:
            yield from (m.span() for m in _IBAN_BY_LETTER.finditer(text))
            return
    yield from ((m.start() - 2, m.end()) for m in _IBAN.finditer(text))


def _ibans(text: str, budget: _Budget, out: list[Finding]) -> None:
    for start, end in _iban_spans(text):
        if not budget.take(start):
            return
        raw = text[start:end]
        # A grouped candidate may have swallowed the next short word ("... 32 to").
        for candidate in (raw, raw.rpartition(" ")[0]) if " " in raw else (raw,):
            if _iban_valid(candidate.replace(" ", "")):
                out.append(
                    Finding(GUARD, "iban", start, start + len(candidate), 0.95, mask(candidate))
                )
                break


# --- US SSN ---------------------------------------------------------------

_SSN_REST = r"(?:[0-9]{2}(?P<sep>[\- ])[0-9]{2}(?P=sep)[0-9]{4}|[0-9]{8})(?!\w)(?![\-.][0-9])"
_SSN = re.compile(r"([0-9](?<![\w\-.][0-9])" + _SSN_REST + ")")
_SSN_IN = re.compile(r"[ ()+]([0-9]" + _SSN_REST + ")")
_SSN_CONTEXT = re.compile(r"\bssn\b|\bss#|social[\s-]+security|\bsocial sec\b", re.IGNORECASE)
_SSN_CONTEXT_LOWER = re.compile(_SSN_CONTEXT.pattern)
# Printed in advertising and on sample cards; never issued to a person.
_SSN_PUBLIC = frozenset({"078051120", "219099999", "123456789"})


def _ssn_valid(area: str, group: str, serial: str) -> bool:
    a = int(area)
    if a == 0 or a == 666 or a >= 900 or group == "00" or serial == "0000":
        return False
    joined = area + group + serial
    return joined not in _SSN_PUBLIC and not joined.startswith("98765432")


def _ssns(
    text: str, start: int, end: int, window: int, long: bool, budget: _Budget, out: list[Finding]
) -> bool:
    for m in _candidates(_SSN, _SSN_IN, text, start, end, window, long):
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
        near = _said_before(_SSN_CONTEXT, _SSN_CONTEXT_LOWER, text, max(0, s - 40), s)
        conf = {"-": 0.85, " ": 0.6, "": 0.3}[sep]
        if near:
            conf = max(conf, 0.9 if sep else 0.85)
        out.append(Finding(GUARD, "us_ssn", s, m.end(1), conf, mask(value)))
    return True


# --- IP addresses ---------------------------------------------------------

_IPV4_REST = r"[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?!\w)(?!\.[0-9])"
_IPV4 = re.compile(r"([0-9](?<![\w.][0-9])" + _IPV4_REST + ")")
_IPV4_IN = re.compile(r"[ ()\-+]([0-9]" + _IPV4_REST + ")")
# From the first colon: at most 7 more non-empty hex groups (one gap may be
# `::`, possibly at the end), optionally ending in dotted IPv4. The first group
# (up to 4 hex digits before that colon) is added back by hand. Starting at a
# colon lets the engine skip prose at memchr speed, and colons and hex digits
# are disjoint, so there is nothing to backtrack into. The look-arounds refuse
# in the engine what the code after it would refuse anyway, so that times of
# day and `Foo::bar` never reach Python: a colon right after a dot, a colon or
# a word character that is no hex digit, and a match with neither eight groups
# nor a `::` (the look-ahead follows the match's own greedy steps).
_IPV6_TAIL = re.compile(
    r":(?<![:.]:)(?<![^\W0-9A-Fa-f]:)"
    r"(?=:|[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){6}"
    r"|[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){0,6}(?:\.[0-9]{1,3}+){0,3}::)"
    r":?[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3}(?:::)?"
)
_HEX = frozenset("0123456789abcdefABCDEF")
_SPLIT_V6 = re.compile(r"[:.]")
_V6_AFTER = re.compile(r"[\w:]|\.\w")


def _ipv4_is_local(raw: str) -> bool | None:
    """None when `raw` (four groups of 1-3 digits) is not an address, else whether it is local.

    The rules of `ipaddress.IPv4Address` (no leading zeros, octets up to 255)
    and of its `is_loopback`, `is_unspecified` and `is_link_local`.
    """
    a, b, c, d = raw.split(".")
    for octet in (a, b, c, d):
        if len(octet) > 1 and (octet[0] == "0" or (len(octet) == 3 and octet > "255")):
            return None
    return a == "127" or (a == "169" and b == "254") or a == b == c == d == "0"


def _ipv4s(
    text: str,
    start: int,
    end: int,
    window: int,
    long: bool,
    include_local: bool,
    budget: _Budget,
    out: list[Finding],
) -> bool:
    for m in _candidates(_IPV4, _IPV4_IN, text, start, end, window, long):
        s = m.start(1)
        if not budget.take(s):
            return False
        raw = m.group(1)
        local = _ipv4_is_local(raw)
        if local is not None and (include_local or not local):
            out.append(Finding(GUARD, "ip_address", s, m.end(1), 0.85, mask(raw)))
    return True


def _ip_is_local(ip: ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local


def _ipv6s(text: str, include_local: bool, budget: _Budget, out: list[Finding]) -> None:
    if ":" not in text:
        return
    for m in _IPV6_TAIL.finditer(text):
        start, end = m.span()
        if not budget.take(max(0, start - 4)):
            return
        while start > 0 and m.start() - start < 4 and text[start - 1] in _HEX:
            start -= 1
        before = text[start - 1] if start else " "
        if before.isalnum() or before in "_:." or _V6_AFTER.match(text[end : end + 2]):
            continue
        raw = text[start:end]
        if len(raw) < 6 or sum(1 for g in _SPLIT_V6.split(raw) if g) < 2:
            continue  # `a::b` is more often a C++ or Rust path than an address
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        if include_local or not _ip_is_local(v6):
            out.append(Finding(GUARD, "ip_address", start, end, 0.9, mask(raw)))


# --- email ----------------------------------------------------------------

# The RFC 5322 dot-atom characters of a local part.
_LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."
# From the @: a DNS host name with a 2+ letter TLD. The local part (at most 64
# characters) is found by hand before it, so the engine only wakes up at an @
# and no run of text is ever rescanned from each position.
_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}"
    r"(?![\w\-])(?!\.[A-Za-z0-9])"
)


def _local_part_start(text: str, at: int) -> int:
    """Where the local part before `at` begins, or -1 when it is not a dot-atom."""
    lo = max(0, at - 65)
    length = at - lo - len(text[lo:at].rstrip(_LOCAL_CHARS))
    if not 0 < length <= 64:
        return -1
    start = at - length
    local = text[start:at]
    if local[0] == "." or local[-1] == "." or ".." in local:
        return -1
    return start


def _emails(text: str, budget: _Budget, out: list[Finding]) -> None:
    if "@" not in text:
        return
    last_end = 0
    for m in _EMAIL_DOMAIN.finditer(text):
        if not budget.take(max(0, m.start() - 64)):
            return
        start = _local_part_start(text, m.start())
        if start < last_end:
            continue
        last_end = m.end()
        out.append(Finding(GUARD, "email", start, m.end(), 0.95, mask(text[start : m.end()])))


# --- phone numbers ----------------------------------------------------------

# A candidate: an optional + or (, then up to 24 digits and separators ending
# in a digit, then an optional extension. It must not continue into more digits
# and must not start inside a digit run, so a long run yields no candidate.
_PHONE_REST = r"[0-9 ().\-]{0,24}[0-9](?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,5})?(?!\w)(?![ .\-]?\d)"
_PHONE = re.compile(
    r"((?:[+(](?<![\w+.\-)(][+(])(?<![0-9)][ .\-][+(])[0-9]"
    r"|[0-9](?<![\w+.\-)(][0-9])(?<![0-9)][ .\-][0-9]))" + _PHONE_REST + ")"
)
_PHONE_IN = re.compile(r"[ .\-(+] ((?:\([0-9]|[0-9])" + _PHONE_REST + ")")
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
_PHONE_BEFORE_LOWER = re.compile(_PHONE_BEFORE.pattern)
_PHONE_AFTER = re.compile(r"\s*[\-(]?\s*(?:office|fax|mobile|home|work|cell)\b", re.IGNORECASE)


def _phone_context(text: str, start: int, end: int) -> bool:
    """A phone word just before the number or a label word just after it."""
    lo = max(0, start - 40)
    before = text[lo:start]
    # The words are letters: without a cased character there is nothing to find.
    if before.lower() != before.upper() and _said_before(
        _PHONE_BEFORE, _PHONE_BEFORE_LOWER, text, lo, start
    ):
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
    text: str, start: int, end: int, window: int, long: bool, budget: _Budget, out: list[Finding]
) -> bool:
    n = len(text)
    for m in _candidates(_PHONE, _PHONE_IN, text, start, end, window, long):
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


# --- runs of digits and separators --------------------------------------------

# Every card, SSN, IPv4 address and phone number lies inside one run of 7 or
# more digits and separators (a phone's extension just after it). Finding the
# runs is one possessive pass that the engine starts only at a digit, + or (;
# each family's pattern then looks only inside runs that have enough digits
# for it, so prose costs almost nothing.
#
# A run that cannot hold anything is marked by the pattern itself (group 1 is
# set), so skipping it costs Python one test: one digit string that is no SSN
# (9 digits, not from 9: no area is 900 or above) and no card (12-19 digits,
# not from 0, 7, 8 or 9, nor from 1 unless it is JCB's 15-digit 1800: no
# issuer has those prefixes; epoch milliseconds start with 1), or a date
# (`2024-03-12`, `12.03.2024`, optionally then an hour, as in
# `2024-03-12 09`), each followed by separators only and no extension (`x`,
# `e`, `#`). A phone candidate there would contain the date; an SSN, card or
# IPv4 address needs more digits than such a run has.
_SKIP = (
    r"(?:[0-9]{0,7}+|[0-9]{9,10}+|[0-9]{19,}+"
    r"|(?<=9)[0-9]{8}+|(?<=[0789])[0-9]{11,18}+|(?<=1)(?!800[0-9]{11}(?![0-9]))[0-9]{11,18}+"
    r"|[0-9]{3}[\-.][0-9]{1,2}[\-.][0-9]{1,2}(?: [0-9]{1,2})?"
    r"|[0-9]?[\-.][0-9]{1,2}[\-.](?:19|20)[0-9]{2}(?: [0-9]{1,2})?"
    r")(?![0-9])[ ().\-]*+(?![0-9xXe#])"
)
_RUN = re.compile(r"[+(0-9](?=[0-9 ().\-]{6})(?:(?<=[0-9])(?=(" + _SKIP + r")))?[0-9 ().\-]{6,}+")
_NOT_DIGITS = str.maketrans("", "", " ().-+")
# A run longer than this is searched by each kind only if it holds a piece
# that kind's findings always contain (digits written as `d`): two digits in
# a row for a phone, an SSN's groups for an SSN, a card's groups for a card.
_LONG_RUN = 64
_AS_D = str.maketrans("0123456789", "dddddddddd")
_SSN_PIECES = ("ddd-dd-dddd", "ddd dd dddd", "d" * 9)
_CARD_PIECES = (
    "d" * 12,
    "dddd dddd dddd",
    "dddd-dddd-dddd",
    "dddd dddddd dddd",
    "dddd-dddddd-dddd",
)


def _digit_kinds(text: str, include_local_ips: bool, budget: _Budget, out: list[Finding]) -> None:
    n = len(text)
    for run in _RUN.finditer(text):
        if run.lastindex:
            continue  # nothing can be found in it (`_SKIP`)
        start, end = run.span()
        if not budget.take(start):
            return
        raw = run.group()
        digits = len(raw.translate(_NOT_DIGITS))
        # The look-aheads need the character after the run; an extension, more.
        ext = end < n and text[end] in "xXe#"
        window = min(n, end + (12 if ext else 1))
        if not ext and raw.rstrip(" ().-").isdigit():
            # One digit string: every phone shape needs a separator, a + or a
            # bracket, an SSN is then exactly 9 digits and a card 12 to 19.
            if digits == 9:
                done = _ssns(text, start, end, window, False, budget, out)
            elif 12 <= digits <= 19:
                done = _cards(text, start, end, window, False, budget, out)
            else:
                continue  # `_RUN` marks these already
        elif end - start <= _LONG_RUN:
            done = (
                (
                    raw.count(".") < 3
                    or _ipv4s(text, start, end, window, False, include_local_ips, budget, out)
                )
                and (digits < 7 or _phones(text, start, end, window, False, budget, out))
                and (digits < 9 or _ssns(text, start, end, window, False, budget, out))
                and (digits < 12 or _cards(text, start, end, window, False, budget, out))
            )
        else:
            shape = raw.translate(_AS_D)
            done = (
                (
                    raw.count(".") < 3
                    or _ipv4s(text, start, end, window, True, include_local_ips, budget, out)
                )
                and (
                    digits < 7
                    or "dd" not in shape
                    or _phones(text, start, end, window, True, budget, out)
                )
                and (
                    digits < 9
                    or not any(p in shape for p in _SSN_PIECES)
                    or _ssns(text, start, end, window, True, budget, out)
                )
                and (
                    digits < 12
                    or not any(p in shape for p in _CARD_PIECES)
                    or _cards(text, start, end, window, True, budget, out)
                )
            )
        if not done:
            # Out of budget inside this run: none of it counts as examined.
            budget.limit = start
            return


# --- the guard --------------------------------------------------------------

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


def _with_overflow(text: str, found: list[Finding], limit: int) -> list[Finding]:
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
    budget = _Budget()
    budget.left = MAX_CANDIDATES_PER_PASS
    _digit_kinds(text, include_local_ips, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    _ibans(text, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    _ipv6s(text, include_local_ips, budget, found)
    budget.left = MAX_CANDIDATES_PER_PASS
    _emails(text, budget, found)
    if budget.limit < len(text):
        return _with_overflow(text, found, budget.limit)
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
