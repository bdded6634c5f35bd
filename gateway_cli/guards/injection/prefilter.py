"""The literal prefilter: which detectors a text arms, and where their regexes can match.

Most prompts are benign, so the work is in ruling detectors out cheaply. One
set intersection of the text's words with the detectors' arming words (or a
substring check, for detectors armed by a non-word literal) finds the few
detectors worth running; most also need a second word to co-occur (`also`)
or a literal to be present (`need`). Only those try their regex, and only
where a match can begin: each detector lists the literals its matches begin
with (`starts`, derived from the regex by scripts/generate-injection-tables),
a few set lookups in the text's words usually show that none occurs, and
otherwise `find` gives the few places to try. Past a bound on the places,
one pass of the regex costs less, and is what runs instead.

Every shortcut here gives exactly what the plain pass gives; the unit tests
check each against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from gateway_cli.guards.injection.views import ENC, RUN_MAP, Text, Views
from gateway_cli.guards.literals import Literals

if TYPE_CHECKING:
    from gateway_cli.guards.injection.detector import Detector

# Past this many places to try (plus, for detectors, one per 128 characters),
# one pass of the regex costs less than trying it at each place.
MAX_TRIES: Final = 48
# For a substring, its rarest character first: one memchr-fast `in` for a
# character rules most substrings out before the slower substring search.
RARE_FIRST: Final = "|\\^~`#>[]{}<_@$%&*+=;:/"
_MAX_PROBES: Final = 8


@dataclass(frozen=True, slots=True)
class Start:
    """A literal that can begin a detector's match, written `\\bword\\b` (see `parse_start`).

    A leading `\\b` says the match begins at a word boundary, a trailing one that a
    non-word character (or the end of the text) follows the literal.
    """

    literal: str  # as it occurs in the detector's view
    # The literal in the spaced copy of an ASCII text's folded view (`Text.spaced`:
    # every non-word character a space), with a space for each `\\b`; a match
    # at view offset p puts it at copy offset p + shift.
    needle: bytes
    shift: int
    # Wherever the literal occurs in an ASCII text's folded view, each of its
    # runs of word characters that the needle has between two spaces is one of
    # `Text.pieces()`, and each other run, with the spaces the needle has next
    # to it, is in `Text.joined()`. In any text and view, each bare run
    # (`loose`) is in `joined()`.
    words: tuple[bytes, ...]
    parts: tuple[bytes, ...]
    loose: tuple[bytes, ...]


def parse_start(spec: str) -> Start:
    """`\\bword\\b`, `\\bword`, `word\\b` or `word` as a `Start`."""
    left = spec.startswith("\\b")
    literal = spec[2:] if left else spec
    right = literal.endswith("\\b")
    literal = literal[:-2] if right else literal
    if not literal or (left and not re.match(r"\w", literal[0])):
        raise ValueError(f"bad start {spec!r}")
    spaced = literal.lower().encode("utf-8", ENC).translate(RUN_MAP)
    needle = (b" " if left else b"") + spaced + (b" " if right else b"")
    runs = _runs(needle)
    whole = [r for r in runs if len(r) > 2 and r[:1] == r[-1:] == b" "]
    # `parts` and `loose` are only ever all checked: the longest (rarest) first fails soonest.
    return Start(literal, needle, 0 if left else 1, tuple(r[1:-1] for r in whole),
                 tuple(sorted((r for r in runs if r not in whole), key=len, reverse=True)),
                 tuple(sorted(spaced.split(), key=len, reverse=True)))


def _runs(spaced: bytes) -> tuple[bytes, ...]:
    """The runs of non-spaces of `spaced`, each with the spaces next to it."""
    return tuple(spaced[max(0, m.start() - 1) : m.end() + 1]
                 for m in re.finditer(rb"[^ ]+", spaced))


def probes(literal: str) -> tuple[bytes, ...]:
    """What `Text.joined()` holds wherever the lowered text contains `literal`.

    Its runs of word characters, with a space where the literal itself has a
    non-word character next to one: true of any text, ASCII or not.
    """
    return _runs(literal.encode("utf-8", ENC).translate(RUN_MAP))


def probe(sub: str) -> str:
    """The rarest character of `sub` (by `RARE_FIRST`, then any non-ASCII one)."""
    return min(sub, key=lambda c: RARE_FIRST.find(c) if c in RARE_FIRST
               else (-1 if not c.isascii() else len(RARE_FIRST)))


def has_sub(lowered: str, sub: str, probe: str) -> bool:
    """`sub in lowered`, from the few places of its rare character when there are few."""
    offset = sub.index(probe)
    at = lowered.find(probe, offset)
    for _ in range(_MAX_PROBES):
        if at < 0:
            return False
        if lowered.startswith(sub, at - offset):
            return True
        at = lowered.find(probe, at + 1)
    return sub in lowered


_Needs = tuple[tuple[str, tuple[bytes, ...]], ...]


@dataclass(frozen=True, slots=True)
class _Plan:
    """A detector's starts, arranged for few checks: by their first whole word, then the rest."""

    first: frozenset[bytes]
    by_first: dict[bytes, tuple[Start, ...]]
    rest: tuple[Start, ...]
    # The ASCII ones of `rest`: the only ones an ASCII text can hold (the spaced path is
    # taken for ASCII texts only; a detector's other-script starts are never checked there).
    rest_ascii: tuple[Start, ...]
    ascii: tuple[Start, ...]  # every ASCII start, for an ASCII text in another view


def _plan(det: Detector) -> _Plan | None:
    if not det.starts:
        return None
    by_first: dict[bytes, list[Start]] = {}
    for start in det.starts:
        if start.words:
            by_first.setdefault(start.words[0], []).append(start)
    rest = tuple(s for s in det.starts if not s.words)
    return _Plan(frozenset(by_first), {w: tuple(s) for w, s in by_first.items()}, rest,
                 tuple(s for s in rest if s.literal.isascii()),
                 tuple(s for s in det.starts if s.literal.isascii()))


class Prefilter:
    """A table of detectors, indexed so that a text is checked against the few it may match."""

    def __init__(self, detectors: tuple[Detector, ...]) -> None:
        self.detectors = detectors
        by_word: dict[bytes, list[int]] = {}
        for i, det in enumerate(detectors):
            for word in det.words:
                by_word.setdefault(word, []).append(i)
        # Which detectors each arming word switches on: one set intersection per
        # scan finds the few detectors a text arms, instead of a check per detector.
        self._by_word = {word: tuple(ixs) for word, ixs in by_word.items()}
        self._arm_words = frozenset(self._by_word)
        # Each substring with its probe character and what `Text.joined()` must hold
        # for it to occur; the character is looked for first when it is rarer than a colon.
        self._with_subs = tuple(
            (i, tuple((probe(sub) in RARE_FIRST[: RARE_FIRST.find(":")], probe(sub), sub,
                       probes(sub)) for sub in det.subs))
            for i, det in enumerate(detectors) if det.subs
        )
        # An ASCII text cannot hold the other substrings, and skips the non-ASCII detectors.
        self._with_ascii_subs = tuple(
            (i, ascii_subs) for i, subs in self._with_subs if not detectors[i].non_ascii
            for ascii_subs in [tuple(s for s in subs if s[2].isascii())] if ascii_subs
        )
        # With the compiled scan, an ASCII text's substrings are looked for all at once
        # (`Literals`, one pass in C): a detector is armed when one of its own is there.
        ascii_subs = list(dict.fromkeys(s[2] for _, subs in self._with_ascii_subs for s in subs))
        literals = Literals(ascii_subs)
        self._ascii_subs_at_once = (
            (literals, tuple((i, literals.mask([s[2] for s in subs]))
                             for i, subs in self._with_ascii_subs))
            if literals.compiled else None)
        # Each `need` literal with what `Text.joined()` must hold for it to occur, and
        # the first of those per literal (when every literal has one) for a quick "none".
        self._need = tuple(tuple((lit, probes(lit)) for lit in det.need) for det in detectors)
        self._need_first = tuple(
            tuple(runs[0] for _, runs in needs) if all(runs for _, runs in needs) else ()
            for needs in self._need)
        # What `finditer` reads per detector, in one tuple.
        self._entries = tuple(zip(detectors, map(_plan, detectors), self._need,
                                  self._need_first, strict=True))

    def armed(self, lowered: str, words: frozenset[bytes], t: Text) -> list[int]:
        """The detectors that the text's words or substrings arm, in declaration order."""
        armed: set[int] = set()
        by_word = self._by_word
        for word in self._arm_words.intersection(words):
            armed.update(by_word[word])
        at_once = self._ascii_subs_at_once
        if t.ascii_only and at_once is not None:
            literals, masks = at_once
            found = literals.present(lowered)
            if found:
                armed.update(i for i, mask in masks if found & mask)
            return sorted(armed)
        joined_has = t.holds()
        for i, subs in self._with_ascii_subs if t.ascii_only else self._with_subs:
            if i not in armed and any(
                (probe in lowered and all(map(joined_has, runs))
                 and has_sub(lowered, sub, probe))
                if rare else (all(map(joined_has, runs)) and probe in lowered and sub in lowered)
                for rare, probe, sub, runs in subs
            ):
                armed.add(i)
        return sorted(armed)

    def finditer(self, i: int, view: str | Views, t: Text) -> Iterable[re.Match[str]]:
        """What detector `i`'s `pattern.finditer(view)` gives when its `need` allows a match.

        `view` may be the text's `Views`, for its folded view: that is then made
        only once a start is viable (on most texts none is).

        Every match begins with one of the detector's starts; a start whose
        words are not all in the text (see `Text`) cannot occur, and the
        others are found with `find`. Trying the regex at each place found, in
        order and past the end of the last match, gives the same matches as
        one pass: a pass tries the same places (and fails everywhere else),
        left to right, and `match` at a place sees the text before it as a
        pass does.
        """
        det, plan, needs, firsts = self._entries[i]
        if plan is None:
            text = _view(view)
            if needs and not _needed(needs, firsts, text, t):
                return ()
            return det.pattern.finditer(text)
        joined_has = t.holds()
        spaced = t.ascii_only and det.view == "fold"
        if spaced:
            pieces = t.pieces()
            viable = [s for w in plan.first.intersection(pieces) for s in plan.by_first[w]
                      if pieces.issuperset(s.words) and all(map(joined_has, s.parts))]
            viable += [s for s in plan.rest_ascii if all(map(joined_has, s.parts))]
        else:
            viable = [s for s in (plan.ascii if t.ascii_only else det.starts)
                      if all(map(joined_has, s.loose))]
        if not viable:
            return ()
        text = _view(view)
        # `need` can rule out what the regex alone would match (a line break where
        # the literal has a space), so it is checked whenever a match could begin.
        if needs and not _needed(needs, firsts, text, t):
            return ()
        places: list[int] = []
        limit = MAX_TRIES + len(text) // 128
        for start in viable:
            if spaced:
                copy, needle, shift = t.spaced(), start.needle, start.shift
                at = copy.find(needle)
                while at >= 0 and len(places) <= limit:
                    places.append(at - shift)
                    at = copy.find(needle, at + 1)
            else:
                literal = start.literal
                at = text.find(literal)
                while at >= 0 and len(places) <= limit:
                    places.append(at)
                    at = text.find(literal, at + 1)
            if len(places) > limit:
                break
        if not places:
            return ()
        if len(places) > limit:
            return det.pattern.finditer(text)
        places.sort()
        return _match_at(det.pattern, text, places)


def _view(view: str | Views) -> str:
    return view if isinstance(view, str) else view.folded


def _needed(needs: _Needs, firsts: tuple[bytes, ...], view: str, t: Text) -> bool:
    """Whether one of a detector's `need` literals is in its view."""
    joined_has = t.holds()
    if firsts and not any(map(joined_has, firsts)):
        return False
    return any(all(map(joined_has, runs)) and lit in view for lit, runs in needs)


def _match_at(pattern: re.Pattern[str], view: str, places: list[int]) -> Iterable[re.Match[str]]:
    end = 0
    for at in places:
        if at >= end:
            m = pattern.match(view, at)
            if m is not None:
                yield m
                end = m.end()  # every start is a non-empty literal: so is every match
