"""The score: noisy-OR of the findings (the rules' and the classifier's), reweighted by source.

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
from gateway_cli.guards.injection.classifier import Model
from gateway_cli.guards.injection.findings import GUARD
from gateway_cli.guards.injection.scanner import scan, scan_text
from gateway_cli.guards.injection.tokens import Shared, share

Source = Literal["user", "system", "tool_result", "document"]

# Score exponent per source: score' = 1 - (1 - score) ** weight. A tool result or a
# document needs one cue of 0.42 or more to be refused on it alone (a user turn: 0.5), so
# the strongest weak cues (0.45: "has no restrictions", "you are now ...") refuse there and
# the single 0.3-0.4 cues that ordinary code and docs carry (an "override" docstring, the
# words "system prompt" in an SDK's types, a `user:` field) do not. At 2.0 any one cue from
# 0.3 refused a pasted file: 0.75% of 4 KB chunks of the locked packages' code and docs, and
# 4.8% of the dev split's benign prompts as tool results (bench/guards/README.md, issue 21).
_SOURCE_WEIGHT: Final[dict[str, float]] = {
    "user": 1.0,
    "system": 0.5,
    "tool_result": 1.3,
    "document": 1.3,
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


# The shipped classifier's decision point: its bias already holds the threshold chosen
# on cross-validation (see classifier.py), so 0.5 is where it measured its target FPR.
CLASSIFIER_THRESHOLD: Final = 0.5


class _Shipped:
    """Marks the default: the classifier shipped in the package, loaded on first use."""


SHIPPED: Final = _Shipped()


def classifier_finding(model: Classifier, text: str,
                       shared: Shared | None = None) -> Finding | None:
    """The classifier's finding on `text` when its probability reaches the threshold.

    The confidence is the probability itself, so a policy can weigh it per slot;
    the span is the window that scored highest (the whole text for most texts);
    the preview names the probability and the window, never the text.
    """
    locate = getattr(model, "locate", None)
    if shared is not None and isinstance(model, Model):
        p, start, end = model.locate_shared(text, shared)
    elif locate is not None:
        p, start, end = locate(text)
    else:
        p, start, end = float(model.predict(text)), 0, len(text)
    p = max(0.0, min(1.0, float(p)))
    if p < CLASSIFIER_THRESHOLD:
        return None
    return Finding(GUARD, "classifier", start, end, p,
                   f"classifier: p={p:.3f} >= {CLASSIFIER_THRESHOLD} over chars {start}-{end}")


class InjectionGuard:
    """The injection guard: the rules' findings, the classifier's, and a threshold.

    `scan` returns the findings only when their combined score reaches the
    threshold, so weak cues in an ordinary prompt do not become verdicts;
    `score` exposes the number for callers that want their own policy. The
    classifier (by default the one shipped in the package; `None` for the
    rules alone) adds one finding of kind `classifier` when its probability
    reaches `CLASSIFIER_THRESHOLD`; it is combined with the rules' findings
    like any other kind (noisy-OR, then the source's weight).
    """

    name = "injection"

    def __init__(self, threshold: float = 0.5, classifier: Classifier | _Shipped | None = SHIPPED,
                 *, source: str = "user") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold {threshold} outside 0..1")
        self.threshold = threshold
        self._classifier = classifier
        self.source = source

    @property
    def classifier(self) -> Classifier | None:
        if isinstance(self._classifier, _Shipped):
            from gateway_cli.guards.injection.classifier import shipped

            self._classifier = shipped()
        return self._classifier

    def findings(self, text: str, *, repeats: bool = False) -> list[Finding]:
        """The rules' findings and the classifier's, before any threshold.

        `repeats` keeps a rule's repeated findings, as the module's `score` does.
        """
        model = self.classifier
        # The shipped model's split serves the rules too (`tokens`), for the texts it
        # scores as one window; any other text or model gets a split of each.
        # The compiled scorer finds its own words, and the rules' word set is made in C
        # too (`views.word_set`): the shared split pays only for the Python scorer.
        shared = (share(text) if isinstance(model, Model) and not model.compiled
                  and len(text) <= model.window else None)
        found = scan_text(text, shared=shared) if repeats else scan(text, shared=shared)
        if model is not None and text:
            extra = classifier_finding(model, text, shared)
            if extra is not None:
                found.append(extra)
        return found

    def score(self, text: str, *, source: str | None = None) -> float:
        return combine(self.findings(text, repeats=True),
                       source=self.source if source is None else source)

    def scan(self, text: str, *, source: str | None = None) -> list[Finding]:
        found = self.findings(text)
        if combine(found, source=self.source if source is None else source) < self.threshold:
            return []
        return found
