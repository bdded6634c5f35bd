"""Scanning many short texts as one: the format guards' cost is mostly per call.

A request or an answer has many texts (every string is one), most of them
short. Joined by a blank line, which no credential or personal-data format
crosses, they are scanned in one call, and each finding is moved back to
the text it is in, with that text's own offsets.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import replace

from gateway_cli.guards.base import Finding

_SEPARATOR = "\n\n"


def joined(texts: list[str]) -> tuple[str, list[int]]:
    """The texts joined by a blank line, and where each starts in the joined text."""
    starts = []
    position = 0
    for text in texts:
        starts.append(position)
        position += len(text) + len(_SEPARATOR)
    return _SEPARATOR.join(texts), starts


def split_by_slot(found: list[Finding], starts: list[int],
                  slots: Sequence[str]) -> list[tuple[int, Finding]]:
    """Findings on the joined text as (slot index, finding on that slot's own text).

    A finding that runs over a separator (an overflow finding covers the rest of
    the text) is cut into one finding per slot it covers, so each slot redacts its
    own part.
    """
    if len(slots) == 1:
        # One text: every finding lies in it (a guard's spans are within what it scanned),
        # so each is its own (0, finding) unmoved; one pass instead of the walk below.
        size = len(slots[0])
        if all(f.end <= size for f in found):
            return [(0, f) for f in found]
    out = []
    for finding in found:
        first = max(bisect_right(starts, finding.start) - 1, 0)
        for index in range(first, len(slots)):
            begin = starts[index]
            end = begin + len(slots[index])
            if begin >= finding.end and index > first:
                break
            lo, hi = max(finding.start, begin), min(finding.end, end)
            if hi > lo or (hi == lo and finding.start == finding.end == lo):
                # The first slot's findings keep their offsets: the finding itself, not a
                # copy (`dataclasses.replace` costs ~5 us; a request is usually one slot).
                moved = lo - begin != finding.start or hi - begin != finding.end
                out.append((index, replace(finding, start=lo - begin, end=hi - begin)
                            if moved else finding))
    return out
