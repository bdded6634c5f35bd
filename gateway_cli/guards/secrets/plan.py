"""The detector table as the scan loop reads it: each step's needles as bits of its haystack.

A step runs when one of its needles occurs in its haystack (the long words,
the lower-cased text or the text). All the needles of one haystack are one
`Literals` (guards/literals.py): one call answers for all of them, in one
pass in C, or by `in` behind each needle's rarest character where the C scan
is not built. A step holds the mask of its needles' bits in its haystack's
`Literals`.

The steps on the long words are dropped as a whole for a text that has none
(most prose): their needles are not empty, and the gates of the two whose
needle is empty (`env`, `long-rx`) are false on an empty string, so none of
them could run (tests check both). The order of the steps that remain is the
table's, so findings keep their precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from gateway_cli.guards.literals import Literals
from gateway_cli.guards.secrets.values import Hit

Detector = Callable[[str, str], Iterator[Hit]]
Gate = Callable[[str], bool]
# A step: the haystack (an index into (long words, lower-cased text, text)), the
# mask of its needles in that haystack's `Literals`, a gate on the long words or
# None, and the detector.
Step = tuple[int, int, Gate | None, Detector]
LONG: Final = 0
LOWER: Final = 1
TEXT: Final = 2
_HAYS = {"long": LONG, "env": LONG, "long-rx": LONG, "lower": LOWER, "text": TEXT}


def compile_plan(table: tuple[tuple[str, tuple[str, ...], Detector], ...],
                 long_gates: dict[Detector, Gate], env_gate: Gate, *,
                 compiled: bool | None = None
                 ) -> tuple[tuple[Step, ...], tuple[Step, ...], tuple[Literals, ...]]:
    """The steps for a text with long words, those for a text without (see above), and
    the `Literals` of each haystack (`compiled`: as `Literals` takes it)."""
    needles: list[list[str]] = [[], [], []]
    for where, wanted, _ in table:
        each = needles[_HAYS[where]]
        each.extend(n for n in wanted if n not in each)
    literals = tuple(Literals(n, compiled=compiled) for n in needles)
    steps: list[Step] = []
    for where, wanted, detector in table:
        gate = env_gate if where == "env" else long_gates[detector] if where == "long-rx" else None
        hay = _HAYS[where]
        steps.append((hay, literals[hay].mask(wanted), gate, detector))
    return tuple(steps), tuple(s for s in steps if s[0] != LONG), literals
