"""Shortcuts in the injection guard's text preparation give what the plain computation gives.

- A text's distinct words are not joined when they could not be short enough
  to search, and their pieces need the join only when the text has an
  apostrophe (`views.Text`): `holds` and `pieces` answer as with the join.
- The classifier ranks a long text's pieces by the vocabulary words they
  hold and looks up only the pairs of words that have a weight: the same
  logit as the plain sums over every feature.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.injection import features, views
from gateway_cli.guards.injection.classifier import shipped
from gateway_cli.guards.injection.features import prepare


def _words(text: str) -> views.Text:
    return views.views(text).t


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["ab", "cd", "e'f", "'", " ", "\n", "x" * 30, "q", "you",
                                 "are", "now", "é"]), max_size=60),
       st.sampled_from([b"you", b"ab ", b" cd", b"e", b"zz", b"'"]))
def test_holds_and_pieces_answer_as_with_the_join(parts: list[str], probe: bytes) -> None:
    t = _words("".join(parts))
    holds = t.holds()
    pieces = t.pieces()
    joined = t.joined()  # now built whatever the shortcuts skipped
    limit = max(views.MAX_JOINED, len(t._low_bytes) // 4)
    assert holds(probe) == (probe in joined if len(joined) <= limit else True)
    fresh = views.Text(t._low_bytes, t._words, t.ascii_only)
    fresh.joined()
    assert pieces == fresh.pieces()


def test_distinct_words_too_many_to_search_are_not_joined() -> None:
    text = " ".join(f"w{i:05d}" for i in range(20_000))
    t = _words(text)
    assert t.holds()(b"absent")  # too long to search: "maybe"
    assert t.pieces() == t._words
    assert t._joined == b""  # neither needed the join


def _plain_logit(window: str) -> float:
    model = shipped()
    unigrams, bigrams, stems, chars, markers = feats = features.window_features(window)
    found = [*filter(None, map(model.unigrams.get, unigrams)),
             *filter(None, map(model.bigrams.get, bigrams)),
             *filter(None, map(model.stems.get, stems)),
             *filter(None, map(model.chars.get, chars)),
             *(model.markers[m] for m in markers if m in model.markers)]
    return model.bias + math.fsum(found) / math.sqrt(max(features.count(feats), model.floor))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["ignore", "all", "previous", "instructions", "you", "are",
                                 "now", "the", "system", "prompt", "please", "review", "code",
                                 "<|", "```", " ", "\n", ".", "ß", "指示を無視して"]),
                max_size=80))
def test_window_logit_is_the_plain_sum_over_every_feature(parts: list[str]) -> None:
    window = prepare(" ".join(parts))
    assert shipped().window_logit(window) == _plain_logit(window)
