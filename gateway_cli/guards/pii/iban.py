"""IBANs: a country code, check digits and the account, valid by mod-97 and the country's length.

The candidate is compact or printed in groups of four; it is an IBAN when
its length is the one the registry gives its country and the number it
spells (letters as 10 to 35) is 1 modulo 97. A grouped candidate may have
swallowed the next short word, so the candidate without its last group is
tried too.

The same candidates can be found from three anchors (the check digits, the
country code, or the character before it); in a long text the pass starts
from whichever the text has fewest of, since the engine stops at each.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, Budget

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
# are found from the check digits (`IBAN`: prose has few digits), from the
# country code (`IBAN_BY_LETTER`) or from the non-word character before it
# (`IBAN_BY_EDGE`, or at the very start): in a long text, from whichever of
# the three is rarest, since the engine stops at each.
_IBAN_REST = r"(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,6}(?: [A-Za-z0-9]{1,4})?)(?!\w)"
IBAN = re.compile(
    r"[0-9][0-9](?<=[A-Za-z][A-Za-z][0-9][0-9])(?<!\w[A-Za-z][A-Za-z][0-9][0-9])" + _IBAN_REST
)
IBAN_BY_LETTER = re.compile(r"[A-Za-z](?<!\w[A-Za-z])[A-Za-z][0-9][0-9]" + _IBAN_REST)
IBAN_BY_EDGE = re.compile(r"[^\w]([A-Za-z]{2}[0-9]{2}" + _IBAN_REST + ")")
IBAN_AT_START = re.compile(r"[A-Za-z]{2}[0-9]{2}" + _IBAN_REST)
_IBAN_LETTERS = str.maketrans({c: str(int(c, 36)) for c in string.ascii_uppercase})
# Below this length the choice of pattern is not worth a sample.
_SAMPLE_FROM = 1 << 16
_DROP_DIGITS = str.maketrans("", "", string.digits)
_DROP_LETTERS = str.maketrans("", "", string.ascii_letters)
# ASCII letters as `a`, digits as `d`, `_` as `w`, every other byte a space: every
# candidate begins where its country code and check digits spell `aadd` (what all four
# patterns require), at the text's start or after a space here: `IBAN_BY_LETTER`'s
# look-behind refuses a country code after a word character (`[A-Za-z0-9_]` in ASCII).
_SHAPE = bytes(0x61 if chr(b).isascii() and chr(b).isalpha()
               else 0x64 if chr(b).isascii() and chr(b).isdigit()
               else 0x77 if chr(b) == "_" else 0x20 for b in range(256))
# Past this many places one pass of the regex costs less than a match at each.
_MAX_PLACES = 32
# ... and past this many `aadd` in all (most inside words, not tried, but each found
# in Python): a text of glued `ab12ab12...` takes the plain pass as it did before.
_MAX_SEEN = 256


def _spans_at_places(text: str) -> list[tuple[int, int]] | None:
    """The candidates of an ASCII text, tried only where a country code meets check digits.

    `IBAN_BY_LETTER` matches only at such a place that no word character
    precedes; matching there in order and past the end of the last match gives
    what its `finditer` gives (it tries the same places, left to right, and
    `match` sees the text before the place for its look-behind), at a few
    C-speed passes instead of a look-behind at every digit. Hashes and ids
    (`...a20ed25e0...`) are full of `aadd` inside a word: those places are not
    tried. None when there are more places than are worth it.
    """
    shape = text.encode("ascii").translate(_SHAPE)
    places: list[int] = []
    seen = 0
    at = shape.find(b"aadd")
    while at >= 0:
        seen += 1
        if seen > _MAX_SEEN:
            return None
        if not at or shape[at - 1] == 0x20:
            if len(places) == _MAX_PLACES:
                return None
            places.append(at)
        at = shape.find(b"aadd", at + 1)
    spans: list[tuple[int, int]] = []
    end = 0
    for at in places:
        if at >= end:
            m = IBAN_BY_LETTER.match(text, at)
            if m is not None:
                spans.append(m.span())
                end = m.end()
    return spans


def iban_valid(compact: str) -> bool:
    compact = compact.upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.translate(_IBAN_LETTERS)) % 97 == 1


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    """The spans of the IBAN candidates, from the country code to the end of the match."""
    if text.isascii() and len(text) <= _SAMPLE_FROM:
        spans = _spans_at_places(text)
        if spans is not None:
            yield from spans
            return
    if len(text) > _SAMPLE_FROM:
        # Sixteen slices, not a stride: a stride can keep to one phase of a
        # periodic text. A poor guess only costs time, never findings.
        step = len(text) // 16
        sample = "".join(text[i : i + 256] for i in range(0, len(text), step))
        digits = len(sample) - len(sample.translate(_DROP_DIGITS))
        letters = len(sample) - len(sample.translate(_DROP_LETTERS))
        others = len(sample) - digits - letters
        if others < min(digits, letters):
            m = IBAN_AT_START.match(text)
            pos = 0
            if m is not None:
                yield m.span()
                pos = m.end()
            yield from (m.span(1) for m in IBAN_BY_EDGE.finditer(text, pos))
            return
        if letters < digits:
            yield from (m.span() for m in IBAN_BY_LETTER.finditer(text))
            return
    yield from ((m.start() - 2, m.end()) for m in IBAN.finditer(text))


def ibans(text: str, budget: Budget, out: list[Finding]) -> None:
    """Append the IBANs in `text` to `out`, as far as the budget goes."""
    for start, end in _iban_spans(text):
        if not budget.take(start):
            return
        raw = text[start:end]
        # A grouped candidate may have swallowed the next short word ("... 32 to").
        for candidate in (raw, raw.rpartition(" ")[0]) if " " in raw else (raw,):
            if iban_valid(candidate.replace(" ", "")):
                out.append(
                    Finding(GUARD, "iban", start, start + len(candidate), 0.95, mask(candidate))
                )
                break
