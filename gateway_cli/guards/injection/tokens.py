"""One word split of a short ASCII text for both halves of the injection guard.

Why: the rules and the classifier each split the lowered text into words and
hash every occurrence into a set: on a 4 KB prompt those two splits were about
a third of the guard's instructions, most of it making and hashing the same
700 words twice. They cut at the same places except at three characters: an
apostrophe, `@` and `$` join their neighbours into one word for the rules
(`views.WORD_MAP`, which also folds leetspeak) and cut them for the classifier
(`features._SPLIT`). So the text is split once with those three kept
(`JOIN_MAP`), and each side's words come from that split's distinct words and
distinct adjacent pairs, never from the occurrences again:

- the rules' set is the leetspeak fold of the distinct words (the fold maps a
  word character to a word character, so it commutes with the split);
- the classifier's words are the distinct words with each one that holds one
  of the three cut at them, and its pairs those of the split with the same
  words cut: a pair next to such a word pairs with its first or last piece,
  and the pieces pair among themselves. A word that is nothing but those
  characters (a lone apostrophe) would leave its neighbours adjacent, which
  distinct pairs cannot tell; such a text takes the two splits of old.

Only for an ASCII text that the classifier scores as one window: there its
prepared text is the rules' lowered text, byte for byte. Every other text
takes the two splits of old. Exactness is tested against both splits
(`tests/unit/guards/test_guard_injection_tokens.py`).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Final, NamedTuple

from gateway_cli.guards.injection.features import _SPLIT
from gateway_cli.guards.injection.views import LEET, WORD_MAP, table

JOINERS: Final = b"'@$"
# Every byte as `_SPLIT` has it, but the three joiners kept: `_SPLIT` is this then the
# joiners to a space (`CUT`), and `WORD_MAP` is this then `LEET` (the unit tests check both).
JOIN_MAP: Final = bytes(b if b in JOINERS else _SPLIT[b] for b in range(256))
CUT: Final = table({chr(j): " " for j in JOINERS})
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
    lowered = text.lower()
    data = lowered.encode("ascii")
    split = data.translate(JOIN_MAP).split()
    words = set(split)
    pairs = set(pairwise(split))
    if not any(map(data.__contains__, _LEETSPEAK)):  # ints: `bytes in bytes` costs more
        rules_words = frozenset(words)
    elif 2 * len(words) < len(split):
        # Most words repeat: the distinct ones folded cost less than the text split again.
        rules_words = frozenset(b" ".join(words).translate(LEET).split())
    else:
        rules_words = frozenset(data.translate(WORD_MAP).split())
    if 0x27 not in data and 0x40 not in data and 0x24 not in data:  # ' @ $
        return Shared(lowered, data, rules_words, words, pairs)
    # The words holding a joiner, found in the distinct words joined (a few `find`s).
    joined = b" ".join((b"", *words, b""))
    cut: dict[bytes, tuple[bytes, ...]] = {}
    for joiner in (b"'", b"@", b"$"):
        at = joined.find(joiner)
        while at >= 0:
            end = joined.find(b" ", at)
            word = joined[joined.rfind(b" ", 0, at) + 1:end]
            if word not in cut:
                pieces = tuple(word.translate(CUT).split())
                if not pieces:
                    return None  # its neighbours meet: see the module's docstring
                cut[word] = pieces
            at = joined.find(joiner, end)
    words.difference_update(cut)
    for pieces in cut.values():
        words.update(pieces)
        pairs.update(pairwise(pieces))
    touching = [p for p in pairs if p[0] in cut or p[1] in cut]
    pairs.difference_update(touching)
    pairs.update((cut[a][-1] if a in cut else a, cut[b][0] if b in cut else b)
                 for a, b in touching)
    return Shared(lowered, data, rules_words, words, pairs)
