"""Text hidden from the human reader by invisible code points.

Unicode tag characters (U+E0000..U+E007F) spell ASCII that no font shows, and
are decoded and scanned again; bidi controls reorder what is shown against
what is read; zero-width characters inside a word (`ig\u200bnore`) break up a
phrase for a filter but not for a model, so the words around them are scanned
again with them removed. Legitimate uses are spared: subdivision flags are tag
sequences, and ZWJ/ZWNJ join letters in emoji and several scripts.
"""

from __future__ import annotations

import bisect
import re
from typing import Final

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.decoders import decoded_findings
from gateway_cli.guards.injection.findings import (
    GUARD,
    MAX_DECODE_CANDIDATES,
    MAX_DECODE_CHARS,
    MAX_DEPTH,
    MAX_PER_DETECTOR,
    Rescan,
)

_ZW_WINDOW: Final = 200
# Any of the code points below: a text without one skips these checks.
SUSPECT = re.compile("[\U000e0000-\U000e007f\u200b-\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_BIDI_RX = re.compile("[\u202a-\u202e\u2066-\u2069]")
# `(?<=\w)[zw]+(?=\w)`, written to start with the class so the engine skips
# to the next invisible character instead of trying every position.
_ZW_INSIDE = re.compile(
    "[\u200b-\u200f\u2060\ufeff](?<=\\w[\u200b-\u200f\u2060\ufeff])[\u200b-\u200f\u2060\ufeff]*(?=\\w)"
)
_FLAG_BASE = "\U0001f3f4"  # subdivision flags are legitimate tag sequences


def invisible(text: str, depth: int, rescan: Rescan) -> list[Finding]:
    """Tag-character smuggling, bidi controls, and invisible characters inside a word."""
    out: list[Finding] = []
    for n, m in enumerate(_TAG_RUN.finditer(text)):
        if n >= MAX_DECODE_CANDIDATES:
            break
        start, end = m.span()
        if start > 0 and text[start - 1] == _FLAG_BASE:
            continue
        decoded = "".join(chr(ord(c) - 0xE0000) for c in m.group(0)[:MAX_DECODE_CHARS])
        out.append(Finding(GUARD, "unicode_tag_smuggling", start, end, 0.7,
                           f"unicode_tag_smuggling: {end - start} invisible tag characters"))
        out += decoded_findings("unicode_tag_smuggling", "tag characters", start, end,
                                decoded, depth, 0.9, rescan)
    for n, m in enumerate(_BIDI_RX.finditer(text)):
        if n >= MAX_PER_DETECTOR:
            break
        out.append(Finding(GUARD, "bidi_control", m.start(), m.end(), 0.4,
                           f"bidi_control: U+{ord(m.group(0)):04X}"))
    hits = 0
    for m in _ZW_INSIDE.finditer(text):
        before = text[m.start() - 1]
        # ZWJ/ZWNJ between non-ASCII letters are legitimate (emoji, Indic, Persian).
        if not before.isascii() and m.group(0).strip("\u200c\u200d") == "":
            continue
        out.append(Finding(GUARD, "zero_width", m.start(), m.end(), 0.3,
                           f"zero_width: {m.end() - m.start()} invisible inside a word"))
        hits += 1
        if depth < MAX_DEPTH and hits <= MAX_DECODE_CANDIDATES:
            # Re-scan around it with the invisible characters removed ("ig\u200bnore"),
            # in a bounded window so a megabyte of them costs no more than a few.
            lo = max(0, m.start() - _ZW_WINDOW)
            out += _rescan_stripped(text[lo : m.end() + _ZW_WINDOW], lo, depth, rescan)
        if hits >= MAX_PER_DETECTOR:
            break
    return out


def _rescan_stripped(window: str, offset: int, depth: int, rescan: Rescan) -> list[Finding]:
    removed: list[int] = []  # stripped-view offset of each removed run
    cumulative: list[int] = []  # characters removed up to and including that run
    total = 0
    for m in _ZW_INSIDE.finditer(window):
        removed.append(m.start() - total)
        total += m.end() - m.start()
        cumulative.append(total)

    def original(k: int) -> int:
        j = bisect.bisect_right(removed, k)
        return offset + k + (cumulative[j - 1] if j else 0)

    out: list[Finding] = []
    for f in rescan(_ZW_INSIDE.sub("", window), depth + 1, unicode_checks=False):
        start = original(f.start)
        end = original(f.end - 1) + 1 if f.end > f.start else start
        out.append(Finding(GUARD, f.kind, start, end, min(1.0, f.confidence + 0.1), f.preview))
    return out
