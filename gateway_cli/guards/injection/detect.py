"""The detector table run over one text: each match becomes a finding, weighed in context.

Two looks at the match's context adjust its confidence: a match that only the
leet-folded view has (`1gn0re`) is obfuscation, itself a tell, and reported as
an encoded payload; a weak role-play cue inside a short quotation is more
often mentioned than used, and counts at half weight.
"""

from __future__ import annotations

from typing import Final

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.findings import MAX_PER_DETECTOR, finding
from gateway_cli.guards.injection.tables import PREFILTER
from gateway_cli.guards.injection.views import Views

# The weak role-play cues, when quoted, are more often mentioned than used:
# 'prompts that say "stay in character" and "never refuse"' asks about a
# jailbreak, and counts at half weight.
_MENTION_DAMPED: Final = frozenset({
    "persona_setup", "dual_response", "character_lock", "compliance_demand", "identity_denial",
    "game_framing", "template_placeholder", "harm_vocabulary", "mode_switch", "jailbreak_no_limits",
})
_OPEN_QUOTES: Final = "\"'\u201c\u2018\u00ab`"
_CLOSE_QUOTES: Final = "\"'\u201d\u2019\u00bb`"
_QUOTE_REACH: Final = 24


def _quoted(view: str, start: int, end: int) -> bool:
    """Whether view[start:end] sits inside a short quotation within one sentence."""
    before = view[max(0, start - _QUOTE_REACH) : start]
    after = view[end : end + _QUOTE_REACH]
    opened = max(before.rfind(q) for q in _OPEN_QUOTES)
    if opened < 0 or any(stop in before[opened:] for stop in ".!?\n"):
        return False
    closed = min((i for i in (after.find(q) for q in _CLOSE_QUOTES) if i >= 0), default=-1)
    return closed >= 0 and not any(stop in after[:closed].rstrip(".!?") for stop in ".!?\n")


def run_detectors(v: Views) -> list[Finding]:
    text, lowered, words, ascii_only, t = v.text, v.lowered, v.words, v.ascii_only, v.t
    detectors, finditer = PREFILTER.detectors, PREFILTER.finditer
    out: list[Finding] = []
    for i in PREFILTER.armed(lowered, words, t):  # in declaration order
        det = detectors[i]
        if ascii_only and det.non_ascii:
            continue
        if det.also and det.also.isdisjoint(words):
            continue
        view = text if det.view == "raw" else lowered if det.view == "lower" else None
        for n, m in enumerate(finditer(i, v if view is None else view, t)):
            if n >= MAX_PER_DETECTOR:
                break
            start, end = m.span()
            if start == end:
                continue
            matched = m.group(0)
            conf = det.adjust(matched) if det.adjust is not None else det.confidence
            if conf <= 0.0:
                continue  # the second look says it is not this kind at all
            kind = det.kind
            if view is None and lowered[start:end] != matched:
                # Only the leet-folded view matched: obfuscation is itself a tell.
                kind, conf = "encoded_payload", max(conf, 0.6) + 0.1
            elif kind in _MENTION_DAMPED and _quoted(
                    v.folded if view is None else view, start, end):
                conf *= 0.5
            out.append(finding(kind, start, end, conf, text[start:end]))
    return out
