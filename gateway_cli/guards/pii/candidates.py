"""What every PII detector shares: the guard's name, the candidate budget, and the walk over a run.

A regular expression only proposes a candidate; Python then validates it,
and that costs time per candidate. The budget bounds it: each of the four
passes (runs of digits, IBANs, IPv6, e-mail) examines at most
`MAX_CANDIDATES_PER_PASS` runs and candidates. A text with more is a flood
of PII or look-alikes (a dump, or crafted to burn CPU): the pass stops, and
the text from where it stopped (the start of the digit run it was in, or its
next candidate) to the end is reported as one `pii_overflow` finding at
confidence 1.0 (guard.py), so a redacting or blocking policy covers every
value in it that was not examined. Findings before that point are reported
as usual. A 4 KB prompt has a few dozen runs and candidates; 1,400 to 4,000
values of one family in one text reach the cap (a run and each candidate in
it count: a 1 MB log with a client IP on every line overflows after about
150 KB; one with only timestamps, dates or epoch milliseconds never does).

Cards, SSNs, IPv4 addresses and phones are looked for only inside runs of
digits and separators (runs.py). Inside a run longer than 64 characters,
`candidates` searches with a second pattern that starts at the separator the
first one's look-behinds allow before a candidate, so the engine stops at
separators, not at every digit.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Final

GUARD: Final = "pii"
# Runs and candidates one pass may examine in Python before the rest of the
# text is reported as one `pii_overflow` finding. At a few microseconds each,
# the four passes together stay within tens of milliseconds on any input.
MAX_CANDIDATES_PER_PASS = 4096
# Deletes what separates the digits of a run (and a leading +), to count them.
NOT_DIGITS = str.maketrans("", "", " ().-+")


class Budget:
    """What a scan's current pass may still examine, and where a pass stopped."""

    __slots__ = ("left", "limit")

    def __init__(self) -> None:
        self.left = 0
        self.limit = sys.maxsize  # the first position not examined, once a pass ran out

    def take(self, at: int) -> bool:
        """Whether the candidate at `at` may be examined; False ends the pass."""
        if at >= self.limit:
            return False
        if self.left <= 0:
            self.limit = at
            return False
        self.left -= 1
        return True


def candidates(
    at: re.Pattern[str],
    inner: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    window: int,
    long: bool,
) -> Iterator[re.Match[str]]:
    """The matches of `at.finditer(text, start, window)`, for a run of digits and separators.

    `[start, end)` is one run (`runs.RUN`); the candidate is group 1 of every
    match. In a long run, `at` is tried only at the run's start and between
    its end and `window`; inside it `inner` finds the same candidates as `at`
    would, starting at the separator before each one (what `at`'s
    look-behinds allow there), so the engine stops at separators, not at
    every digit.
    """
    if not long:
        return at.finditer(text, start, window)
    return _in_long_run(at, inner, text, start, end, window)


def _in_long_run(
    at: re.Pattern[str], inner: re.Pattern[str], text: str, start: int, end: int, window: int
) -> Iterator[re.Match[str]]:
    last = start
    m = at.match(text, start, window)
    if m is not None:
        yield m
        last = m.end()
    for m in inner.finditer(text, last, window):
        if m.start(1) >= end:
            break
        yield m
        last = m.end()
    p = max(last, end)
    while p < window:
        m = at.match(text, p, window)
        if m is None:
            p += 1
            continue
        yield m
        p = m.end()
