"""Shortcuts in the injection guard's text preparation give what the plain computation gives.

- The classifier's markers are searched in the distinct runs of marker
  characters, not in the whole punctuation skeleton (`features.markers_in`):
  the same markers for any window, so the trainer and the gateway still see
  the same features.
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
from gateway_cli.guards.injection.features import MARKER_BYTES, markers_in, prepare

_NOT_PUNCT = bytes(b for b in range(128) if chr(b).isalnum() or chr(b).isspace())
_PIECES = [*features.MARKERS, "a", "Z", "7", " ", "\n", ".", ",", "'", '"', ";", "$", "@",
           "_", "%", "&", "^", "+", "é", "中", "\u200b", "\u180b", "\\\\"]


def _plain_markers(data: bytes) -> set[bytes]:
    skeleton = data.translate(None, _NOT_PUNCT)
    return set(filter(skeleton.__contains__, MARKER_BYTES)) if len(skeleton) > 1 else set()


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_markers_from_runs_are_the_skeletons_markers(parts: list[str]) -> None:
    data = prepare("".join(parts)).encode("utf-8", "surrogatepass")
    assert markers_in(data) == _plain_markers(data)


def test_a_lone_backslash_is_a_marker_only_beside_other_punctuation() -> None:
    """The one one-byte marker: a skeleton of one byte holds no marker (as trained)."""
    assert markers_in(b"a\\b") == set()
    assert markers_in(b"a\\b;") == {b"\\"}
    assert markers_in(b"<a|b") == {b"<|"}
    assert markers_in(b"<.|") == set()


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
