"""The classifier's features of one text window: what the trainer fits and the gateway scores.

One function for both sides (`window_features`), so the features the shipped
weights were fitted on are exactly the ones the gateway looks up. Rules of
the representation:

- The text is folded like the format guards fold it (invisible characters
  out, NFKC: `prepare`, `window_features`) and lowered, so full-width `IGNORE`, `I\u200bgnore`
  and `IGNORE` are one word.
- Words are runs of letters, digits, `_` and any non-ASCII character, cut by
  ASCII punctuation and whitespace, as bytes (UTF-8): splitting bytes after
  one `bytes.translate` runs at C speed.
- Features are binary (present in the window or not), so a flood of one word
  weighs what one occurrence weighs: unigrams, bigrams of adjacent words, the
  first five bytes of longer words (one stem across "instruction",
  "instrucciones", "Instruktionen"), character bigrams inside long non-ASCII
  words (Chinese and Japanese have no spaces), and a few structural markers
  (fake chat-template and role tokens, code fences, headers) that the word
  split removes.
- No hashing: the weights file holds the vocabulary itself, so a lookup is a
  dict lookup, and no weight depends on Python's per-process `hash()` seed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from itertools import pairwise
from typing import Final

from gateway_cli.guards.normalise import _IGNORABLE

# Runs, not single characters: a megabyte of zero-width spaces is one match, not a million.
_IGNORABLE_RUNS: Final = re.compile(f"(?:{_IGNORABLE.pattern})+")
# The invisible characters seen most in evasion (zero-width space, joiners, word joiner,
# BOM, soft hyphen, bidi marks), removed by str.replace before the regex looks for others.
_COMMON_INVISIBLE: Final = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad",
                            "\u200e", "\u200f", "\u202e")

# ASCII punctuation and whitespace to a space; letters, digits, `_` and every byte
# of a multi-byte UTF-8 character stay.
_SPLIT: Final = bytes(b if (b >= 0x80 or chr(b).isalnum() or b == 0x5F) else 0x20
                     for b in range(256))

STEM: Final = 5  # bytes of a word's stem feature
STEM_MIN: Final = 7  # words at least this long also give their stem
CJK_MIN: Final = 9  # a non-ASCII word this long (bytes) gives its character bigrams
MAX_CHAR_BIGRAMS: Final = 256  # per window: a megabyte-long "word" costs a bounded amount

# ASCII letters, digits and whitespace, deleted to leave a text's punctuation skeleton.
_NOT_PUNCT: Final = bytes(b for b in range(128) if chr(b).isalnum() or chr(b).isspace())

# Structural markers, looked for in the punctuation skeleton (what is left of the window
# once ASCII letters, digits and whitespace are deleted): fake chat-template tokens,
# headers, fences, separators, link syntax. The skeleton is a tenth of an ordinary text,
# so two dozen searches in it cost what one search of the text would.
MARKERS: Final = (
    "<|", "|>", "[/", "<<", ">>", "###", "```", "---", "===", "***", "{{", "}}", "](",
    "<!--", "-->", "=>", "::", "!!", "??", "**", "[]", "()", "<>", "</", "/>", "\\", "~~",
)
MARKER_BYTES: Final = tuple(m.encode("ascii") for m in MARKERS)


def split_words(lowered: str) -> list[bytes]:
    """The words of an already folded and lowered text, as UTF-8 bytes."""
    return lowered.encode("utf-8", "surrogatepass").translate(_SPLIT).split()


def prepare(text: str) -> str:
    """Fold and lower a text once (C-speed steps only); windows are cut from the result.

    The common invisible characters go here with `str.replace` (C speed, where
    a regex pays per match), then NFKC and lower-casing. The rarer ones are
    removed per window (`window_features`): a megabyte of letters each followed
    by a rare invisible character costs a regex match per character, which is
    paid only for the windows scored in full.
    """
    if text.isascii():
        return text.lower()
    for invisible in _COMMON_INVISIBLE:
        if invisible in text:
            text = text.replace(invisible, "")
    return unicodedata.normalize("NFKC", text).lower()


Features = tuple[set[bytes], set[tuple[bytes, bytes]], set[bytes], set[str], set[bytes]]


def count(features: Features) -> int:
    """How many features a window has: the scale of its sum is the square root of this."""
    unigrams, bigrams, stems, chars, markers = features
    return len(unigrams) + len(bigrams) + len(stems) + len(chars) + len(markers)


def window_bytes(lowered: str) -> bytes:
    """One prepared window as the features read it: rarer invisible characters out, UTF-8."""
    if not lowered.isascii() and _IGNORABLE.search(lowered):
        lowered = _IGNORABLE_RUNS.sub("", lowered)
    return lowered.encode("utf-8", "surrogatepass")


def window_features(lowered: str) -> Features:
    """(unigrams, bigrams, stems, character bigrams, markers) of one prepared window."""
    return data_features(window_bytes(lowered))


def data_features(data: bytes) -> Features:
    """The features of one window's bytes (`window_bytes`)."""
    words = data.translate(_SPLIT).split()
    return assemble(data, set(words), set(pairwise(words)))


def char_bigrams(long_non_ascii: Iterable[bytes]) -> set[str]:
    """The character pairs of a window's long non-ASCII words, at most `MAX_CHAR_BIGRAMS`.

    Sorted first, so the same cap keeps the same pairs in every process.
    """
    grams: set[str] = set()
    budget = MAX_CHAR_BIGRAMS
    for w in sorted(long_non_ascii):
        if budget <= 0:
            break
        chars = w[: 4 * (budget + 1)].decode("utf-8", "ignore")
        pairs = [chars[i:i + 2] for i in range(min(len(chars) - 1, budget))]
        grams.update(pairs)
        budget -= len(pairs)
    return grams


def assemble(data: bytes, unigrams: set[bytes], bigrams: set[tuple[bytes, bytes]]) -> Features:
    """A window's features from its UTF-8 bytes and its distinct words and pairs.

    Apart from `window_features` so that a split made for the rules too
    (`tokens.share`) gives the same features without a second split.
    """
    stems = {w[:STEM] for w in unigrams if len(w) >= STEM_MIN}
    grams: set[str] = set() if data.isascii() else char_bigrams(
        w for w in unigrams if len(w) >= CJK_MIN and not w.isascii())
    skeleton = data.translate(None, _NOT_PUNCT)
    # Every marker is two characters or more: a skeleton of one cannot hold any.
    # `find`, not `in`: a `bytes in bytes` first tries the needle as an int and pays for
    # the TypeError, ~1,000 instructions a marker.
    markers = ({m for m in MARKER_BYTES if skeleton.find(m) >= 0}
               if len(skeleton) > 1 else set())
    return unigrams, bigrams, stems, grams, markers
