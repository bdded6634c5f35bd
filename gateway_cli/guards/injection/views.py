"""The views of one text that the injection guard matches and looks words up in.

All character maps work on UTF-8 bytes: bytes.translate is a 256-entry table
lookup at C speed whatever the text holds, where str.translate falls back to a
dict lookup per character once the text is not pure ASCII. Every map touches
only ASCII bytes and maps them to ASCII bytes, so code-point offsets survive.
A benign prompt is lowered and leet-normalised once (two C-level passes) and
split into words; everything else asks those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gateway_cli.guards.injection.tokens import Shared

try:  # the compiled word set (_word_set.c), built where a C compiler was found
    from gateway_cli.guards.injection._word_set import distinct as _distinct
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _distinct = None  # type: ignore[assignment]

ENC: Final = "surrogatepass"


def table(mapping: dict[str, str], default: Callable[[int], int] | None = None) -> bytes:
    """A `bytes.translate` table: each byte to itself (or `default`), but as `mapping` says."""
    out = bytearray(range(256)) if default is None else bytearray(default(b) for b in range(256))
    for src, dst in mapping.items():
        out[ord(src)] = ord(dst)
    return bytes(out)


LEET_PAIRS: Final = {"1": "i", "3": "e", "0": "o", "4": "a", "5": "s", "7": "t",
                     "@": "a", "$": "s"}
# Leetspeak is folded into the matching view, one byte for one.
LEET: Final = table(LEET_PAIRS)
# ASCII punctuation becomes a space, so a split yields the words that arm detectors.
WORD_MAP: Final = table(
    {**{chr(c): " " for c in range(128) if not chr(c).isalnum() and chr(c) not in "_'"},
     **LEET_PAIRS})
# The word map with the apostrophe a separator too: in the result every run of
# non-spaces of an ASCII text's folded view is one of its runs of word characters.
RUN_MAP: Final = WORD_MAP.translate(table({"'": " "}))


def word_set(data: bytes, table: bytes) -> frozenset[bytes]:
    """`frozenset(data.translate(table).split())`: in C where it was built (`_word_set.c`,
    a bytes object per distinct word only), else that expression itself."""
    if _distinct is None:
        return frozenset(data.translate(table).split())
    return _distinct(data, table)


def wordset(spaced: str) -> frozenset[bytes]:
    """`"a b c"` as the set of words a text's word split would yield."""
    return frozenset(w.encode() for w in spaced.split())


def lower_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # A handful of code points lower to two (İ); keep offsets by leaving them be.
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


# The distinct words joined are searched only while they are this long, or a
# quarter of the text: a megabyte of one word is one word as long as the text.
MAX_JOINED: Final = 8192


def _yes(_: bytes) -> bool:
    return True


class Text:
    """What the prefilter asks about one text, each computed on first use.

    All of it comes from the lowered text's bytes through the word map, the
    way `words` does: letters, digits and `_` stay (leetspeak folded), every
    other ASCII character becomes a space, the apostrophe too. For an ASCII
    text and the folded view (where `@` and `$` are letters as well) that is
    exactly the view with each non-word character a space, at the same offsets.
    """

    __slots__ = ("_apostrophe", "_joined", "_low_bytes", "_pieces", "_spaced", "_words",
                 "ascii_only")

    @property
    def low_bytes(self) -> bytes:
        return self._low_bytes

    def __init__(self, low_bytes: bytes, words: frozenset[bytes], ascii_only: bool) -> None:
        self._low_bytes = low_bytes
        self._words = words
        self.ascii_only = ascii_only
        self._joined = b""
        self._apostrophe = b""  # `joined()` before its apostrophes became spaces, if it had any
        self._pieces: frozenset[bytes] | None = None
        self._spaced = b""

    def joined(self) -> bytes:
        """The distinct words joined by spaces, apostrophes as spaces, between two spaces.

        A run of word characters of the folded view is, in an ASCII text, one of
        the pieces between two spaces (`pieces`); in any text and view, a
        substring of one.
        """
        if not self._joined:
            joined = b" ".join((b"", *self._words, b""))
            self._joined = joined.replace(b"'", b" ")
            if self._joined != joined:
                self._apostrophe = joined
        return self._joined

    def holds(self) -> Callable[[bytes], bool]:
        """`probe in joined()`, or (when that is long) always true: it only ever rules out.

        `joined()` is short for an ordinary text, but as long as the text for a
        megabyte of one word: then the checks are not worth their passes.
        """
        limit = max(MAX_JOINED, len(self._low_bytes) // 4)
        if not self._joined and 2 * len(self._words) + 1 > limit:
            # Every word is a byte or more and a space follows it: joined would be
            # longer than the limit, so it is not built (a megabyte of distinct words).
            return _yes
        joined = self.joined()
        return joined.__contains__ if len(joined) <= limit else _yes

    def pieces(self) -> frozenset[bytes]:
        """The pieces of `joined()` (and the words with an apostrophe, which no probe is)."""
        if self._pieces is None:
            self._pieces = self._words
            # The word map keeps apostrophes: a word holds one only if the text does
            # (without one, `joined()` is not needed here: a megabyte of distinct words).
            if self._joined or b"'" in self._low_bytes:
                self.joined()
            if self._apostrophe:
                # Each cut adds the piece before it and the one after it.
                cut = self._apostrophe.split(b"'")
                self._pieces = self._words.union(
                    [before.rpartition(b" ")[2] for before in cut[:-1]],
                    [after.partition(b" ")[0] for after in cut[1:]])
        return self._pieces

    def spaced(self) -> bytes:
        """An ASCII text's folded view with every non-word character a space, between two spaces."""
        if not self._spaced:
            self._spaced = b" " + self._low_bytes.translate(RUN_MAP) + b" "
        return self._spaced


class Views:
    """A text with its lowered and leet-folded views (same offsets), its words, and `Text`.

    The folded view is made on first use: a detector that reads it runs only
    where its prefilter found a place to try, which on most texts is nowhere.
    """

    __slots__ = ("_folded", "ascii_only", "lowered", "t", "text", "words")

    def __init__(self, text: str, lowered: str, low_bytes: bytes, words: frozenset[bytes]) -> None:
        self.text = text
        self.lowered = lowered
        self.words = words  # of the lowered, leet-folded text
        self.ascii_only = text.isascii()
        self.t = Text(low_bytes, words, self.ascii_only)
        self._folded = ""

    @property
    def folded(self) -> str:
        if not self._folded and self.text:
            self._folded = self.t.low_bytes.translate(LEET).decode("utf-8", ENC)
        return self._folded


def views(text: str, shared: Shared | None = None) -> Views:
    """The views of `text`; its lowering and words from `shared` when the classifier's split
    made them (`tokens.share`, for an ASCII text: the same lowering, the same words)."""
    if shared is not None:
        return Views(text, shared.lowered, shared.data, shared.rules_words)
    lowered = lower_same_length(text)
    low_bytes = lowered.encode("utf-8", ENC)
    return Views(text, lowered, low_bytes, word_set(low_bytes, WORD_MAP))
