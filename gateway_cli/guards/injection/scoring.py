"""The score: noisy-OR of the findings, reweighted by source, optionally blended with a model.

Each finding carries a confidence; the text's score is the noisy-OR of the
strongest finding per kind and the rest at a discount (independent weak cues
add up, one repeated cue does not), then reweighted by where the text came
from: instructions inside a tool result or a retrieved document are indirect
injection, which an honest document has no reason to contain, so they weigh
more; a system prompt is written by the operator and weighs less.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Final, Literal, Protocol

from gateway_cli.guards.base import Finding
from gateway_cli.guards.injection.findings import GUARD
from gateway_cli.guards.injection.scanner import scan, scan_text

Source = Literal["user", "system", "tool_result", "document"]

# Score exponent per source: score' = 1 - (1 - score) ** weight.
_SOURCE_WEIGHT: Final[dict[str, float]] = {
    "user": 1.0,
    "system": 0.5,
    "tool_result": 2.0,
    "document": 2.0,
}


class Classifier(Protocol):
    """A local model a user installs; returns P(injection) for a text, in 0..1."""

    def predict(self, text: str) -> float: ...



def combine(findings: Iterable[Finding], *, source: str = "user") -> float:
    """Noisy-OR of the evidence, reweighted by source; see the package docstring.

    Per kind, the strongest finding counts fully and further ones of the same
    kind at a quarter: forty mentions of "ChatGPT" are not forty independent
    signals, but a persona, a "no restrictions" clause and a fake turn are.
    """
    by_kind: dict[str, list[float]] = {}
    for f in findings:
        by_kind.setdefault(f.kind, []).append(f.confidence)
    miss = 1.0
    for confs in by_kind.values():
        confs.sort(reverse=True)
        miss *= 1.0 - confs[0]
        for c in confs[1:4]:
            miss *= 1.0 - 0.25 * c
    weight = _SOURCE_WEIGHT.get(source, 1.0)
    combined: float = 1.0 - miss**weight
    return max(0.0, min(1.0, combined))


def score(text: str, *, source: str = "user") -> float:
    """How likely `text` is an injection or jailbreak, in 0..1, from heuristics alone."""
    return combine(scan_text(text), source=source)


def _logit(p: float) -> float:
    p = min(0.99, max(0.01, p))
    return math.log(p / (1.0 - p))


def blend(heuristic: float, model: float) -> float:
    """Average the heuristic score and a classifier's probability in log-odds.

    Either one alone at full certainty lands exactly on 0.5 (the default
    threshold), so a confident model can flag what no rule saw and a
    confident rule survives a model that shrugs; when both are unsure the
    result is unsure. Both inputs are clamped to 0.01..0.99 so neither can
    veto the other outright.
    """
    return 1.0 / (1.0 + math.exp(-(_logit(heuristic) + _logit(model)) / 2.0))


class InjectionGuard:
    """The injection guard with a threshold and an optional local classifier.

    `scan` returns the findings only when the (blended) score reaches the
    threshold, so weak cues in an ordinary prompt do not become verdicts;
    `score` exposes the number for callers that want their own policy.
    """

    name = "injection"

    def __init__(self, threshold: float = 0.5, classifier: Classifier | None = None,
                 *, source: str = "user") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} outside 0..1")
        self.threshold = threshold
        self.classifier = classifier
        self.source = source

    def score(self, text: str, *, source: str | None = None) -> float:
        src = self.source if source is None else source
        heuristic = score(text, source=src)
        if self.classifier is None:
            return heuristic
        return blend(heuristic, float(self.classifier.predict(text)))

    def scan(self, text: str, *, source: str | None = None) -> list[Finding]:
        src = self.source if source is None else source
        findings = scan(text, source=src)
        heuristic = combine(findings, source=src)
        total = (heuristic if self.classifier is None
                 else blend(heuristic, float(self.classifier.predict(text))))
        if total < self.threshold:
            return []
        if not findings:
            # Only the model saw it: one whole-text finding so the verdict has evidence.
            return [Finding(GUARD, "classifier", 0, len(text), min(1.0, total),
                            f"classifier: p={total:.2f}")]
        return findings
