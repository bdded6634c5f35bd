"""The detector table as the scan loop reads it: every needle behind one character.

A needle of several characters is looked for with `in`, a pass over the whole
text at about two instructions a character; one character is looked for with
`memchr`, which stops at the first occurrence or, when there is none, reads the
text 32 bytes at a time. Each needle is therefore preceded by its rarest
character (by `_BY_FREQUENCY`, a rough order of characters in prose and code):
a text without that character cannot hold the needle, and the needle's pass is
skipped. Prose has no `/`, `_`, `j` or capital `G` more often than not, so
`://`, `service_account`, `x-jfrog-art-api` and `-----BEGIN ` mostly cost a
`memchr`. Exact by construction: `needle in hay` implies `char in hay` for
every character of the needle (tests check each pre-gate is one).

The steps on the long words are dropped as a whole for a text that has none
(most prose): their needles are not empty, and the gates of the two whose
needle is empty (`env`, `long-rx`) are false on an empty string, so none of
them could run (tests check both). The order of the steps that remain is the
table's, so findings keep their precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from gateway_cli.guards.secrets.values import Hit

Detector = Callable[[str, str], Iterator[Hit]]
Gate = Callable[[str], bool]
# A step: the haystack (an index into (long words, lower-cased text, text)), the
# needles each after its pre-gate character, a gate on the long words or None,
# and the detector.
Step = tuple[int, tuple[tuple[str, str], ...], Gate | None, Detector]
LONG: Final = 0
LOWER: Final = 1
TEXT: Final = 2
_HAYS = {"long": LONG, "env": LONG, "long-rx": LONG, "lower": LOWER, "text": TEXT}
# Most frequent first; a character not listed counts as rarer than all of them.
_BY_FREQUENCY = (" etaoinsrhldcumfpgwyb,.vk\n-'\"0123456789():;TAISCEOMHWNPRDLFBGUYVK"
                 "xJjqQzXZ/=_")


def rarest(needle: str) -> str:
    """The character of `needle` least likely in a text ("" for the empty needle)."""
    return max(needle, key=lambda c: _BY_FREQUENCY.find(c) % (len(_BY_FREQUENCY) + 1),
               default="")


def compile_plan(table: tuple[tuple[str, tuple[str, ...], Detector], ...],
                 long_gates: dict[Detector, Gate], env_gate: Gate
                 ) -> tuple[tuple[Step, ...], tuple[Step, ...]]:
    """The steps for a text with long words, and those for a text without (see above)."""
    steps: list[Step] = []
    for where, needles, detector in table:
        gate = env_gate if where == "env" else long_gates[detector] if where == "long-rx" else None
        steps.append((_HAYS[where], tuple((rarest(n), n) for n in needles), gate, detector))
    return tuple(steps), tuple(s for s in steps if s[0] != LONG)
