"""One word split of a short ASCII text for both halves of the injection guard.

Why: the rules and the classifier each split the lowered text into words and
hash every occurrence into a set: on a 4 KB prompt those two splits were about
a third of the guard's instructions, most of it making and hashing the same
700 words twice. They cut at the same places except at three characters: an
apostrophe, `@` and `$` join their neighbours into one word for the rules
(`views.WORD_MAP`, which also folds leetspeak) and cut them for the classifier
(`features._SPLIT`). A text without those three is split once (`JOIN_MAP`),
the classifier reads that split as it is, and the rules' set is the
leetspeak fold of its distinct words (the fold maps a word character to a
word character, so it commutes with the split; a text without the eight
bytes it changes is its own fold).

A text with one of the three takes the two splits of old. Deriving the
classifier's split from the joined one is exact (a word holding a joiner
becomes its pieces, a pair next to it pairs with its first or last piece) and
was measured: on the repetitive bench prompts it paid (code review -15%), but
on 4 KB of unique prose with ten apostrophes the fix-up cost 0.3 M
instructions more than the shared split saved (+7% for the guard). So is every
non-ASCII text, and one longer than the classifier's window: only where the
classifier scores the text as one window is its prepared text the rules'
lowered text, byte for byte. Exactness is tested against both splits
(`tests/unit/guards/test_guard_injection_tokens.py`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final, NamedTuple

from gateway_cli.guards.injection.features import _SPLIT
from gateway_cli.guards.injection.views import LEET, WORD_MAP, table

JOINERS: Final = b"'@$"
# Every byte as `_SPLIT` has it, but the three joiners kept: `_SPLIT` is this then the
# joiners to a space (`CUT`), and `WORD_MAP` is this then `LEET` (the unit tests check both;
# on a text without joiners this split is the classifier's).
JOIN_MAP: Final = bytes(b if b in JOINERS else _SPLIT[b] for b in range(256))
CUT: Final = table({chr(j): " " for j in JOINERS})
# From this many words the rules' set is folded from the distinct words, not split again.
FOLD_DISTINCT_FROM: Final = 128
# The bytes the leetspeak fold changes: a text without them is its own fold.
_LEETSPEAK: Final = tuple(b for b in range(256) if LEET[b] != b)


class Shared(NamedTuple):
    """One split's results: the rules' word set, and the classifier's words and pairs."""

    lowered: str
    data: bytes  # `lowered` in UTF-8 (all ASCII)
    rules_words: frozenset[bytes]
    words: set[bytes]
    pairs: set[tuple[bytes, bytes]]


def share(text: str) -> Shared | None:
    """Both halves' words of an ASCII `text`, or None where one split cannot give both."""
    if not text.isascii():
        return None
    if "'" in text or "@" in text or "$" in text:
        return None
    lowered = text.lower()
    data = lowered.encode("ascii")
    split = data.translate(JOIN_MAP).split()
    words = set(split)
    pairs = set(pairwise(split))
    if not any(map(data.__contains__, _LEETSPEAK)):  # ints: `bytes in bytes` costs more
        rules_words = frozenset(words)
    elif len(split) >= FOLD_DISTINCT_FROM or 2 * len(words) < len(split):
        # The distinct words joined, folded and split cost less than the text split again
        # (on 4 KB of unique prose 0.37 M instructions against 0.48 M; not on 35 words).
        rules_words = frozenset(b" ".join(words).translate(LEET).split())
    else:
        rules_words = frozenset(data.translate(WORD_MAP).split())
    return Shared(lowered, data, rules_words, words, pairs)
