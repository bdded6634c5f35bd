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
from gateway_cli.guards.injection.views import LEET, table

JOINERS: Final = b"'@$"
# Every byte as `_SPLIT` has it, but the three joiners kept: `_SPLIT` is this then the
# joiners to a space (`CUT`), and `WORD_MAP` is this then `LEET` (the unit tests check both).
JOIN_MAP: Final = bytes(b if b in JOINERS else _SPLIT[b] for b in range(256))
CUT: Final = table({chr(j): " " for j in JOINERS})
# Past this many joiners, the pairs next to the words holding them are picked out of the
# distinct pairs (a pass over those) rather than found at each joiner in the split.
MAX_PLACES: Final = 64


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
    joined = b" ".join((b"", *words, b""))
    folded = joined.translate(LEET)
    rules_words = frozenset(words) if folded == joined else frozenset(folded.split())
    if not any(j in data for j in (b"'", b"@", b"$")):
        return Shared(lowered, data, rules_words, words, pairs)
    # Where the joiners are in the split (one space between words): each word holding one
    # is the word after as many spaces as precede it.
    spaced = b" ".join(split)
    places = sorted(at for j in (b"'", b"@", b"$") for at in _finds(spaced, j, MAX_PLACES + 1))
    if len(places) > MAX_PLACES:
        return _cut_all(lowered, data, rules_words, words, pairs)
    held: dict[int, bytes] = {}
    index = last = 0
    for at in places:
        index += spaced.count(b" ", last, at)
        last = at
        held[index] = split[index]
    cut: dict[bytes, tuple[bytes, ...]] = {}
    for word in held.values():
        if word not in cut:
            pieces = tuple(word.translate(CUT).split())
            if not pieces:
                return None  # its neighbours meet: see the module's docstring
            cut[word] = pieces
    touching: set[tuple[bytes, bytes]] = set()
    for i in held:
        touching.update(pairwise(split[max(0, i - 1):i + 2]))
    return _apply(lowered, data, rules_words, words, pairs, cut, touching)


def _finds(data: bytes, sub: bytes, most: int) -> list[int]:
    """The offsets of `sub` in `data`, at most `most` of them."""
    out: list[int] = []
    at = data.find(sub)
    while at >= 0 and len(out) < most:
        out.append(at)
        at = data.find(sub, at + 1)
    return out


def _cut_all(lowered: str, data: bytes, rules_words: frozenset[bytes], words: set[bytes],
             pairs: set[tuple[bytes, bytes]]) -> Shared | None:
    """`share`'s end for a text with many joiners: the words holding one and the pairs next
    to them picked out of the distinct words and pairs."""
    cut: dict[bytes, tuple[bytes, ...]] = {}
    for word in words:
        if word.translate(CUT) != word:
            pieces = tuple(word.translate(CUT).split())
            if not pieces:
                return None
            cut[word] = pieces
    touching = {p for p in pairs if p[0] in cut or p[1] in cut}
    return _apply(lowered, data, rules_words, words, pairs, cut, touching)


def _apply(lowered: str, data: bytes, rules_words: frozenset[bytes], words: set[bytes],
           pairs: set[tuple[bytes, bytes]], cut: dict[bytes, tuple[bytes, ...]],
           touching: set[tuple[bytes, bytes]]) -> Shared:
    """The classifier's words and pairs: those of the split with the words in `cut` cut."""
    words.difference_update(cut)
    for pieces in cut.values():
        words.update(pieces)
        pairs.update(pairwise(pieces))
    pairs.difference_update(touching)
    pairs.update((cut[a][-1] if a in cut else a, cut[b][0] if b in cut else b)
                 for a, b in touching)
    return Shared(lowered, data, rules_words, words, pairs)
