"""One row of the injection guard's detector tables: a regex, its kind and weight, what arms it.

The rows are data (detectors_en.py, detectors_ml.py), written by hand; the
literals each regex's matches begin with (`starts`) are derived from the regex
by scripts/generate-injection-tables into starts.py, and joined to the rows in
tables.py. Each regex uses bounded gaps and no nested unbounded quantifier,
so backtracking is at most a small constant per start position.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gateway_cli.guards.injection.prefilter import Start


@dataclass(frozen=True, slots=True)
class Detector:
    kind: str
    pattern: re.Pattern[str]
    confidence: float
    words: frozenset[bytes]  # any of these words in the lowered, leet-folded text arms it
    subs: tuple[str, ...] = ()  # or any of these substrings of the lowered text
    view: Literal["fold", "raw", "lower"] = "fold"
    non_ascii: bool = False  # cannot match pure ASCII text: skipped for it
    also: frozenset[bytes] = frozenset()  # when set, one of these words must occur too
    # When set, one of these literals (every match contains one) must occur in
    # the detector's view: a cheap `in` that spares a full pass of the regex.
    need: tuple[str, ...] = ()
    # An optional second look at the match that adjusts the confidence.
    adjust: Callable[[str], float] | None = None
    # When set, every match begins with one of these, so the regex is tried only
    # where one occurs: a few `in` checks on the text's distinct words usually
    # show that none does (see `Prefilter.finditer`). Generated from the regex.
    starts: tuple[Start, ...] = ()


def rx(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)
