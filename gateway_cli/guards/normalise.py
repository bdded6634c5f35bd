"""A folded view of a text for the format-matching guards, with offsets back to the text.

`ghp_` with a zero-width space inside, `jane.doe\uff20example.com` with a
full-width at sign, `4111\u200b1111...`: each reads the same to a person
and to a model, and slipped past patterns that match the plain characters.
The secrets and PII guards therefore match on a view with default-ignorable
characters removed (zero-width spaces and joiners, soft hyphens, bidi
controls, BOMs, tag characters), NFKC applied (full-width and other
compatibility forms folded) and decimal digits of other scripts read as
ASCII digits, and report spans in the original text, so a redaction
replaces the characters the client actually sent.

Cheap when there is nothing to fold: an ASCII text, or one that is already
NFKC with no ignorable character, is its own view (two C-level checks).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import replace

from gateway_cli.guards.base import Finding, mask

# Default-ignorable code points that appear in evasion: invisible when rendered.
_IGNORABLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f"
                        "\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff"
                        "\uffa0\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")


# The same set in UTF-8: whether a text holds one at all is asked of every non-ASCII text
# twice per request (secrets, PII). The class above costs ~70 instructions per character
# (its ranges are tried one by one); encoded, the search skips every byte that cannot
# start one of these characters with a 256-bit table. A lead byte is never a
# continuation byte, so a match always starts on a character (test: every code point).
_IGNORABLE_UTF8 = re.compile(
    rb"\xc2\xad|\xcd\x8f|\xd8\x9c|\xe1(?:\x85[\x9f\xa0]|\x9e[\xb4\xb5]|\xa0[\x8b-\x8f])"
    rb"|\xe2(?:\x80[\x8b-\x8f\xaa-\xae]|\x81[\xa0-\xaf])|\xe3\x85\xa4"
    rb"|\xef(?:\xb8[\x80-\x8f]|\xbb\xbf|\xbe\xa0)|\xf0\x9d\x85[\xb3-\xba]"
    rb"|\xf3\xa0[\x80-\xbf][\x80-\xbf]")


def has_ignorable(text: str) -> bool:
    """Whether `text` holds a default-ignorable character of `_IGNORABLE`."""
    return _IGNORABLE_UTF8.search(text.encode("utf-8", "surrogatepass")) is not None


# Full-width ASCII and the ideographic space: folded one character for one (offsets kept).
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

# The zero of every block of ten decimal digits in the Basic Multilingual Plane outside
# ASCII that NFKC leaves as it is (Arabic-Indic, Extended Arabic-Indic, NKo, Devanagari,
# Bengali, ..., Thai, Lao, Tibetan, Myanmar, Khmer, Mongolian, ...: Unicode 14; the tests
# check the list against the interpreter's own tables). A card number written in
# Arabic-Indic digits is a card number to a person and to a model: the view reads each as
# its ASCII digit, one character for one (offsets kept). Full-width and mathematical
# digits NFKC folds already. The 23 blocks past U+FFFF (Osmanya, Brahmi, ...) are left
# out: a class that holds them is tried range by range, ~160 us per 4 KB, where this one
# is a bitmap, ~12 us.
NATIVE_ZEROS = (
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
    0xAA50, 0xABF0,
)
_NATIVE_DIGITS = re.compile("[" + "".join(f"{chr(z)}-{chr(z + 9)}" for z in NATIVE_ZEROS) + "]")
_DIGITS = {zero + d: 0x30 + d for zero in NATIVE_ZEROS for d in range(10)}


def _needs_folding(text: str) -> bool:
    """Whether an NFKC text holds an ignorable character or a native decimal digit."""
    return has_ignorable(text) or _NATIVE_DIGITS.search(text) is not None


_ZERO_OF = {chr(zero + d): zero for zero in NATIVE_ZEROS for d in range(10)}
_REPLACED_BLOCKS = 3  # blocks of digits replaced ten `str.replace`s each; past that, translate


def _ascii_digits(view: str) -> str:
    """`view` with every native decimal digit as its ASCII digit (`view` itself without any).

    A text uses one script's digits, or two: each block found is replaced with
    ten `str.replace` (C speed, ~0.5 ms a megabyte each); `str.translate` with
    a mapping costs ~60 ns a character outside Latin-1, and is kept for a text
    mixing more blocks, so a megabyte costs at most three blocks' replaces and
    one translate.
    """
    found = _NATIVE_DIGITS.search(view)
    blocks = 0
    while found is not None:
        blocks += 1
        if blocks > _REPLACED_BLOCKS:
            return view.translate(_DIGITS)
        zero = _ZERO_OF[found.group()]
        for d in range(10):
            view = view.replace(chr(zero + d), chr(0x30 + d))
        found = _NATIVE_DIGITS.search(view, found.start())
    return view
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


class Offsets:
    """Where each character of a view came from, as linear segments (cheap to build)."""

    __slots__ = ("length", "origins", "starts")

    def __init__(self, starts: list[int], origins: list[int], length: int) -> None:
        self.starts, self.origins, self.length = starts, origins, length

    def __getitem__(self, index: int) -> int:
        k = bisect_right(self.starts, index) - 1
        return self.origins[k] + index - self.starts[k] if k >= 0 else index


def folded(text: str) -> tuple[str, Offsets | None]:
    """(view, offsets): offsets[i] is where view[i] came from; None when view is text."""
    if text.isascii() or (unicodedata.is_normalized("NFKC", text)
                          and not _needs_folding(text)):
        return text, None
    # 1. invisible characters out: one segment per stretch between them
    pieces: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    position = length = 0
    for match in _IGNORABLE.finditer(text):
        if match.start() > position:
            starts.append(length)
            origins.append(position)
            pieces.append(text[position:match.start()])
            length += match.start() - position
        position = match.end()
    if position < len(text):
        starts.append(length)
        origins.append(position)
        pieces.append(text[position:])
    # 2. one character for one: full-width forms (none in an NFKC text) and native digits
    view = "".join(pieces)
    if not unicodedata.is_normalized("NFKC", view):
        view = view.translate(_FULL_WIDTH)
    view = _ascii_digits(view)
    if unicodedata.is_normalized("NFKC", view):
        return view, Offsets(starts, origins, len(text))
    # 3. other compatibility forms, in the non-ASCII runs that need it, char by char
    mapped = Offsets(starts, origins, len(text))
    out: list[str] = []
    new_starts: list[int] = []
    new_origins: list[int] = []
    size = done = 0

    def keep(piece: str, origin: int) -> None:
        nonlocal size
        new_starts.append(size)
        new_origins.append(origin)
        out.append(piece)
        size += len(piece)

    def copy(a: int, b: int) -> None:
        """view[a:b] unchanged, split where step 1 removed something."""
        while a < b:
            k = bisect_right(starts, a)
            cut = min(b, starts[k]) if k < len(starts) else b
            keep(view[a:cut], mapped[a])
            a = cut

    for run in _NON_ASCII.finditer(view):
        if unicodedata.is_normalized("NFKC", run.group()):
            continue
        copy(done, run.start())
        for i in range(run.start(), run.end()):
            keep(unicodedata.normalize("NFKC", view[i]), mapped[i])
        done = run.end()
    copy(done, len(view))
    return "".join(out), Offsets(new_starts, new_origins, len(text))


def quick_view(text: str) -> str:
    """The folded view alone (C-speed steps; the offsets are only built when needed).

    The secrets and the PII guard each ask for the view of the same joined text, one
    after the other: the last answer is kept (by identity, which holding the text keeps
    valid; a tuple is read and replaced whole, so threads cannot see half of one)."""
    global _last_view
    if text.isascii():
        return text
    last = _last_view
    if last[0] is text:
        return last[1]
    view = _quick_view(text)
    _last_view = (text, view)
    return view


def _quick_view(text: str) -> str:
    if unicodedata.is_normalized("NFKC", text) and not has_ignorable(text):
        return _ascii_digits(text)  # `text` itself when it has no native digit
    view = _ascii_digits(_IGNORABLE.sub("", text).translate(_FULL_WIDTH))
    return view if unicodedata.is_normalized("NFKC", view) else folded(text)[0]


_last_view: tuple[str, str] = ("", "")


def on_original(scan: Callable[[str], list[Finding]], text: str) -> list[Finding]:
    """`scan` run on the folded view, its findings moved to spans of `text`."""
    view = quick_view(text)
    found = scan(view)
    if view is text or not found:
        return found
    view, offsets = folded(text)
    if offsets is None:
        return found
    out = []
    for finding in found:
        if finding.start >= len(view):
            start = end = len(text)
        else:
            start = offsets[finding.start]
            end = offsets[finding.end - 1] + 1 if finding.end > finding.start else start
        start = min(start, len(text))
        end = min(max(start, end), len(text))
        out.append(replace(finding, start=start, end=end, preview=mask(text[start:end])))
    return out
