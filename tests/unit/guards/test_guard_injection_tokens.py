"""The one split of `tokens.share` gives each half of the injection guard what its own split gives.

The rules' word set must be `views`' (the lowered text through `WORD_MAP`),
and the classifier's words and pairs `features.window_features`' of the
prepared text, for every ASCII text; and the guard's findings and the
classifier's probability must be those of the two separate splits, on every
eval record that is shared.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.injection import InjectionGuard, features, scan, tokens, views
from gateway_cli.guards.injection.classifier import shipped
from gateway_cli.guards.injection.scoring import classifier_finding
from tests.unit.guards.findings_record import EVAL


def test_the_join_map_is_each_sides_map_before_its_last_step() -> None:
    for b in range(256):
        assert views.WORD_MAP[b] == views.LEET[tokens.JOIN_MAP[b]], b
        assert features._SPLIT[b] == tokens.CUT[tokens.JOIN_MAP[b]], b
        # The leetspeak fold neither makes nor removes a separator: it commutes with split.
        assert chr(views.LEET[b]).isspace() == chr(b).isspace(), b


def _plain(text: str) -> tuple[frozenset[bytes], set[bytes], set[tuple[bytes, bytes]]]:
    low = views.lower_same_length(text).encode("utf-8", "surrogatepass")
    unigrams, bigrams, *_ = features.window_features(features.prepare(text))
    return frozenset(low.translate(views.WORD_MAP).split()), unigrams, bigrams


_PARTS = ["don't", "it's", "'", "''", "@", "$", "a@b", "p@$$", "1gn0re", "ignore", "all", "'s",
          "you", " ", "  ", "\n", ".", "-", "_", "x'y'z", "@@", "$5", "o'", "'o", "Jane.Doe@Ex.com",
          "ALL", "47", "<|", "```", "3", "e",
          # Not ASCII: never shared.
          "caf\u00e9", "\u00c9t\u00e9", "\u00df", "\u6307\u793a\u3092\u7121\u8996\u3057\u3066",
          "\uff49\uff47\uff4e\uff4f\uff52\uff45", "\u0130", "\u200b", "\u180b", "\U0001f333"]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PARTS), max_size=40), st.text(max_size=30).filter(str.isascii))
def test_one_split_gives_both_sides_words(parts: list[str], noise: str) -> None:
    text = "".join(parts) + noise
    _check(text, tokens.share(text))
    # Without the joiners (most texts), where it is shared.
    stripped = text.replace("'", " ").replace("@", "").replace("$", "5")
    _check(stripped, tokens.share(stripped))


def _check(text: str, shared: tokens.Shared | None) -> None:
    rules, words, pairs = _plain(text)
    if shared is None:
        assert not text.isascii() or any(c in text for c in "'@$")
        return
    assert shared.lowered == views.lower_same_length(text) == features.prepare(text)
    assert shared.data == shared.lowered.encode("utf-8", "surrogatepass")
    assert shared.rules_words == rules
    assert shared.words == words
    assert shared.pairs == pairs


def test_non_ascii_text_is_not_shared() -> None:
    assert tokens.share("caf\u00e9 don't") is None
    assert tokens.share("ignore \u200b all") is None


def test_a_text_with_a_joiner_takes_two_splits() -> None:
    assert tokens.share("don't") is None
    assert tokens.share("jane@example.com") is None
    assert tokens.share("$5") is None
    assert tokens.share("do not, 5 times") is not None


def _eval_texts() -> list[str]:
    texts = []
    for path in sorted(EVAL.glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines() if line]
    return texts


@pytest.mark.skipif(not EVAL.is_dir(), reason="the shared eval fixtures are not present")
def test_the_guard_finds_and_scores_what_two_splits_give_on_every_eval_record() -> None:
    model = shipped()
    guard = InjectionGuard()
    checked = 0
    for text in _eval_texts():
        shared = tokens.share(text) if len(text) <= model.window else None
        if shared is None:
            continue
        checked += 1
        assert scan(text, shared=shared) == scan(text)
        assert model.locate_shared(text, shared) == model.locate(text)
        assert classifier_finding(model, text, shared) == classifier_finding(model, text)
        plain = [*scan(text)]
        extra = classifier_finding(model, text)
        if extra is not None:
            plain.append(extra)
        assert guard.findings(text) == plain
    assert checked > 600  # the ASCII records up to a window long without a joiner
