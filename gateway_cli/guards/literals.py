"""Which of a fixed set of literals occur in a text: one pass in C, else `in` per literal.

Why: the secrets guard picks the detectors worth running by whether their
needles (`aws`, `azure`, `://`, `-----BEGIN `, ...) occur in the text, and on
ordinary prose most do not, so each `needle in text` reads the whole text.
`Literals.present` answers for all of a haystack's needles at once: in C
(`_literals.c`, one pass that looks further only where the first two
characters begin a needle) where the extension was built, else by `in`, each
needle behind its rarest character (`rarest`): a text without that character
cannot hold the needle, and one `memchr` rules the needle out. Both give bit
`i` set exactly when `needles[i] in text` (tested against each other).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

try:  # the compiled scan (_literals.c), built where a C compiler was found
    from gateway_cli.guards import _literals
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _literals = None  # type: ignore[assignment]

CHUNK: Final = 64  # needles per C scan (its answer is a 64-bit mask); more take more scans
# Most frequent first; a character not listed counts as rarer than all of them.
_BY_FREQUENCY: Final = (" etaoinsrhldcumfpgwyb,.vk\n-'\"0123456789():;TAISCEOMHWNPRDLFBGUYVK"
                        "xJjqQzXZ/=_")


def rarest(needle: str) -> str:
    """The character of `needle` least likely in a text ("" for the empty needle)."""
    return max(needle, key=lambda c: _BY_FREQUENCY.find(c) % (len(_BY_FREQUENCY) + 1),
               default="")


class Literals:
    """A haystack's needles: `present(text)` has bit i set when `needles[i] in text`."""

    __slots__ = ("_compiled", "gates", "needles")
    _compiled: tuple[_literals.Literals, ...] | None

    def __init__(self, needles: Sequence[str], *, compiled: bool | None = None) -> None:
        """`compiled`: None takes the C scan where it is built; False, `in` per needle."""
        self.needles = tuple(needles)
        if any(ord(c) >= 256 for n in self.needles for c in n):
            raise ValueError("a needle has a character at or above U+0100")
        # Each needle behind one of its own characters (the fallback's pre-gate).
        self.gates = tuple((rarest(n), n) for n in self.needles)
        if compiled is None:
            compiled = _literals is not None
        if compiled and _literals is None:
            raise ValueError("the compiled literal scan is not built in this install")
        self._compiled = (tuple(_literals.Literals(self.needles[at:at + CHUNK])
                                for at in range(0, len(self.needles), CHUNK))
                          if compiled and _literals is not None else None)

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def present(self, text: str) -> int:
        scans = self._compiled
        if scans is not None:
            if len(scans) == 1:
                return scans[0].present(text)
            found = 0
            for k, scan in enumerate(scans):
                found |= scan.present(text) << (CHUNK * k)
            return found
        found = 0
        for i, (char, needle) in enumerate(self.gates):
            if char in text and needle in text:
                found |= 1 << i
        return found

    def mask(self, needles: Sequence[str]) -> int:
        """The bits of `needles` (each one of this haystack's)."""
        out = 0
        for needle in needles:
            out |= 1 << self.needles.index(needle)
        return out
