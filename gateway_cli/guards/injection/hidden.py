"""Text a human reader would not see: HTML comments, invisibly styled text, alt and title text.

An instruction there is aimed at the model, not at the person who pasted the
page, so the region is reported with the strongest instruction found inside
it; hidden prose with no instruction is only a weak hint. Regions are capped
in number and length, and each shape is found without a regex that could
read the same text twice (see `_link_title`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.findings import GUARD
from gateway_cli.guards.injection.prefilter import MAX_TRIES
from gateway_cli.guards.injection.views import Text

_MAX_REGIONS: Final = 64
_MAX_CHARS: Final = 4000

_HIDDEN_STYLE = re.compile(
    r"<([a-z][a-z0-9]{0,10})\b[^>]{0,300}?style\s*=\s*[\"'][^\"'>]{0,300}?"
    r"(?:display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?:\.0+)?(?:px|pt|em|rem|%)?"
    r"(?![.\d])|opacity\s*:\s*0(?:\.0+)?(?![.\d])|color\s*:\s*(?:#fff(?:fff)?\b|white\b"
    r"|rgba?\(\s*255\s*,\s*255\s*,\s*255))[^>]{0,300}>")
# Alt and title text: `alt="..."`, `title="..."`, `aria-label="..."`, the text
# of a Markdown image `![...](`, and a Markdown link title `](url "...")`. The
# link title, `\]\([^\s)]{1,2000}\s+"([^"\n]{1,1000})"\)` as a regex, would read
# the same up-to-2000-character URL again from every `](` inside it (8 s for a
# megabyte of `[x](`), so `_link_title` finds the same matches by reading
# each URL once.
ATTR_TEXT = re.compile(r"\b(?:alt|title|aria-label)\s*=\s*\"([^\"<>]{1,1000})\""
                        r"|!\[([^\]\n]{1,1000})\]\(")
# Every match begins with one of these: `attr_search` tries the regex only there.
ATTR_STARTS: Final = ("alt", "title", "aria-label", "![")
_URL_RUN = re.compile(r"[^\s)]*")
_LINK_TAIL = re.compile(r"\s+\"([^\"\n]{1,1000})\"\)")
_MAX_URL: Final = 2000


def _link_title(text: str, pos: int) -> tuple[int, int, int, int] | None:
    """The first link-title match at or after `pos`: (start, title start, title end, end)."""
    while True:
        p = text.find("](", pos)
        if p < 0:
            return None
        q = p + 2
        run = _URL_RUN.match(text, q)
        r = q if run is None else run.end()  # the URL can only end where the run does
        if r - q > _MAX_URL:
            pos = max(p + 1, r - _MAX_URL - 2)  # only a later `](` can reach r
            continue
        if r > q:
            tail = _LINK_TAIL.match(text, r)
            if tail is not None:
                return p, tail.start(1), tail.end(1), tail.end()
        # Every `](` before r shares this run's end and its tail, so fails too.
        pos = max(r, p + 1)


def attr_search(text: str, pos: int, places: list[int]) -> re.Match[str] | None:
    """`ATTR_TEXT.search(text, pos)`, trying the regex only where one of `ATTR_STARTS` is.

    A search tries every place from `pos` on, left to right, and can match only
    at those: trying them in order finds the same first match. `places` holds
    the next place of each start from an earlier `pos`, kept across calls so
    that each place is found once.
    """
    places[:] = [text.find(lit, pos) if 0 <= p < pos else p
                 for lit, p in zip(ATTR_STARTS, places, strict=True)]
    for _ in range(MAX_TRIES):
        at = min((p for p in places if p >= 0), default=-1)
        if at < 0:
            return None
        m = ATTR_TEXT.match(text, at)
        if m is not None:
            return m
        places[:] = [text.find(lit, at + 1) if p == at else p
                     for lit, p in zip(ATTR_STARTS, places, strict=True)]
    return ATTR_TEXT.search(text, pos)


def _attr_texts(text: str) -> Iterable[tuple[int, int]]:
    """The spans of the texts above, as one `finditer` over all three shapes would give."""
    pos = 0
    places = [text.find(lit) for lit in ATTR_STARTS]
    attr = attr_search(text, 0, places)
    link = _link_title(text, 0)
    while attr is not None or link is not None:
        if link is None or (attr is not None and attr.start() < link[0]):
            assert attr is not None
            g = 1 if attr.group(1) is not None else 2
            yield attr.start(g), attr.end(g)
            pos = attr.end()
        else:
            yield link[1], link[2]
            pos = link[3]
        if attr is not None and attr.start() < pos:
            attr = attr_search(text, pos, places)
        if link is not None and link[0] < pos:
            link = _link_title(text, pos)


# The words `ATTR_TEXT`'s first branch begins with (each must be one of the
# text's words): `alt`, `title` or `aria-label`.
_ATTR_WORDS: Final = (frozenset({b"alt"}), frozenset({b"title"}), frozenset({b"aria", b"label"}))


def may_have_attrs(lowered: str, t: Text) -> bool:
    """Whether `alt`, `title` or `aria-label` is in the text: `ATTR_TEXT` needs one.

    It is matched on the text, where `@` and `$` are not word characters as
    they are in the words (leetspeak): without them, an ASCII text holds one
    only as one of its words (after a word boundary, before `=` or a space).
    """
    if t.ascii_only and "@" not in lowered and "$" not in lowered:
        pieces = t.pieces()
        return any(map(pieces.issuperset, _ATTR_WORDS))
    return "alt" in lowered or "title" in lowered or "aria-label" in lowered


def _hidden_regions(text: str, lowered: str, t: Text) -> Iterable[tuple[int, int, str]]:
    """Regions a human reader would not see: comments, invisible styles, alt/title text."""
    count = 0
    pos = 0
    while count < _MAX_REGIONS:
        start = lowered.find("<!--", pos)
        if start < 0:
            break
        end = lowered.find("-->", start + 4)
        stop = len(text) if end < 0 else end + 3
        count += 1
        yield start, stop, "HTML comment"
        if end < 0:
            break
        pos = stop
    if "style" in lowered:
        for m in _HIDDEN_STYLE.finditer(lowered):
            if count >= _MAX_REGIONS:
                break
            count += 1
            close = lowered.find("</" + m.group(1), m.end(), m.end() + _MAX_CHARS)
            yield m.start(), (m.end() + _MAX_CHARS if close < 0 else close), \
                "invisible styled text"
    if "](" in lowered or ("=" in lowered and may_have_attrs(lowered, t)):
        for g_start, g_end in _attr_texts(text):
            if count >= _MAX_REGIONS:
                break
            count += 1
            yield g_start, g_end, "alt/title text"


_HIDDEN_KINDS: Final = frozenset({"instruction_override", "prompt_extraction",
                                  "jailbreak_roleplay", "role_token", "indirect_instruction",
                                  "encoded_payload"})


def hidden(text: str, lowered: str, found: list[Finding], t: Text) -> list[Finding]:
    """A finding for each hidden region, strong when it holds what `found` found in it."""
    out: list[Finding] = []
    for start, end, label in _hidden_regions(text, lowered, t):
        end = min(end, len(text))
        inside = [f for f in found if f.kind in _HIDDEN_KINDS and start <= f.start < end]
        if inside:
            top = max(f.confidence for f in inside)
            out.append(Finding(GUARD, "hidden_text", start, end, min(1.0, top + 0.1),
                               f"hidden_text: {label} carries {inside[0].kind}"))
        elif label != "alt/title text" and end - start > 40:
            # Hidden prose with no recognised instruction is only a weak hint.
            out.append(Finding(GUARD, "hidden_text", start, end, 0.15,
                               f"hidden_text: {label} ({end - start} chars)"))
    return out
