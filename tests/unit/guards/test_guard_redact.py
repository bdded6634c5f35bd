"""Reversible redaction, restoration, and restoration of a stream split anywhere."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.redact import Redactions, StreamRestorer, redact, restore


def find(text: str, value: str, kind: str = "email", guard: str = "pii",
         confidence: float = 0.9) -> list[Finding]:
    return [Finding(guard, kind, m.start(), m.end(), confidence, mask(value))
            for m in re.finditer(re.escape(value), text)]


def stream(restorer: StreamRestorer, chunks: list[str]) -> str:
    return "".join(restorer.feed(c) for c in chunks) + restorer.finish()


def test_placeholders_are_stable_per_value_and_restore_exactly() -> None:
    text = "mail a@x.io, then a@x.io again; key sk-proj-AAAAAAAAAAAAAAAA and b@y.io"
    findings = [*find(text, "a@x.io"), *find(text, "b@y.io"),
                *find(text, "sk-proj-AAAAAAAAAAAAAAAA", "openai_api_key", "secrets")]
    out, red = redact(text, findings)
    assert out == "mail [EMAIL_1], then [EMAIL_1] again; key [SECRET_2] and [EMAIL_3]"
    assert dict(red) == {"[EMAIL_1]": "a@x.io", "[EMAIL_3]": "b@y.io",
                         "[SECRET_2]": "sk-proj-AAAAAAAAAAAAAAAA"}
    assert restore(out, red) == text
    assert "a@x.io" not in repr(red)


def test_one_redactions_object_spans_the_texts_of_a_request() -> None:
    red = Redactions()
    first, _ = redact("to a@x.io", find("to a@x.io", "a@x.io"), redactions=red)
    second, _ = redact("cc a@x.io", find("cc a@x.io", "a@x.io"), redactions=red)
    assert first == "to [EMAIL_1]" and second == "cc [EMAIL_1]"


def test_placeholder_already_in_the_text_is_not_reused() -> None:
    text = "I typed [EMAIL_1] myself; real one a@x.io"
    out, red = redact(text, find(text, "a@x.io"))
    assert out == "I typed [EMAIL_1] myself; real one [EMAIL_2]"
    assert restore(out, red) == text


def test_mask_and_hash_styles() -> None:
    text = "key sk-proj-ABCDEFGHIJKLMNOP end"
    findings = find(text, "sk-proj-ABCDEFGHIJKLMNOP", "openai_api_key", "secrets")
    masked, red = redact(text, findings, style="mask")
    assert masked == "key sk-p**** end"
    assert len(red) == 0
    hashed, red = redact(text, findings, style="hash")
    assert re.fullmatch(r"key \[sha256:[0-9a-f]{8}\] end", hashed)
    again, _ = redact(text, findings, style="hash", redactions=red)
    assert again == hashed  # same salt within a request
    other, _ = redact(text, findings, style="hash")
    assert other != hashed  # a new request, a new salt
    lying = [Finding("custom", "x", 4, 28, 0.5, "sk-proj-ABCDEF…(24 chars)")]
    assert redact(text, lying, style="mask")[0] == "key **** end"  # prefix longer than 1/4
    with pytest.raises(ValueError):
        redact(text, findings, style="nope")  # type: ignore[arg-type]


def test_overlapping_findings_merge_and_the_strongest_labels() -> None:
    text = "xx 0123456789 yy"
    findings = [Finding("pii", "phone", 3, 10, 0.6, ""),
                Finding("pii", "card", 5, 13, 0.9, ""),
                Finding("pii", "zip", 6, 8, 0.9, "")]
    out, red = redact(text, findings)
    assert out == "xx [CARD_1] yy"
    assert red["[CARD_1]"] == "0123456789"


def test_restore_leaves_foreign_placeholders_and_brackets_alone() -> None:
    red = Redactions()
    _, red = redact("a@x.io", find("a@x.io", "a@x.io"), redactions=red)
    answer = "[EMAIL_99] [email_1] [EMAIL_1] [ [EMAIL_1 [[EMAIL_1]] [link](x)"
    assert restore(answer, red) == "[EMAIL_99] [email_1] a@x.io [ [EMAIL_1 [a@x.io] [link](x)"
    restorer = StreamRestorer(red)
    assert stream(restorer, list(answer)) == restore(answer, red)


def test_stream_without_brackets_has_no_delay() -> None:
    _, red = redact("a@x.io", find("a@x.io", "a@x.io"))
    restorer = StreamRestorer(red)
    assert restorer.feed("hello ") == "hello "
    assert restorer.feed("wor[EM") == "wor"
    assert restorer.held == 3
    assert restorer.feed("AIL_1] done") == "a@x.io done"
    assert restorer.feed("[not a placeholder") == "[not a placeholder"
    assert restorer.finish() == ""


def test_holdback_is_bounded_by_the_longest_placeholder() -> None:
    _, red = redact("a@x.io", find("a@x.io", "a@x.io"))
    restorer = StreamRestorer(red)
    longest = red.longest
    for c in "[" + "A" * 100:
        restorer.feed(c)
        assert restorer.held < longest
    assert StreamRestorer({}).feed("[EMA") == "[EMA"  # nothing to restore, nothing held


def test_nothing_redacted_holds_nothing_back() -> None:
    assert Redactions().longest == 0
    restorer = StreamRestorer(Redactions())
    assert restorer.feed("[") == "[" and restorer.held == 0


# -- properties -----------------------------------------------------------------------------

PLAIN = st.text(alphabet="ab [ ]_EMAIL1SECRT0\n", max_size=12)
VALUE = st.text(alphabet="αβγδ@.", min_size=1, max_size=8)  # never inside plain text
KIND = st.sampled_from([("pii", "email"), ("pii", "phone"), ("secrets", "aws_key"),
                        ("custom", "x")])


@st.composite
def redaction_cases(draw: st.DrawFn) -> tuple[str, list[Finding]]:
    pieces = draw(st.lists(st.tuples(PLAIN, st.one_of(st.none(), VALUE), KIND), max_size=6))
    text, findings = "", []
    for plain, value, (guard, kind) in pieces:
        text += plain
        if value is not None:
            confidence = draw(st.floats(0.0, 1.0))
            findings.append(Finding(guard, kind, len(text), len(text) + len(value), confidence,
                                    ""))
            text += value
    # extra findings overlapping the others, to exercise merging
    for _ in range(draw(st.integers(0, 2))):
        if findings:
            base = draw(st.sampled_from(findings))
            findings.append(Finding("pii", "extra", base.start, base.end, 0.5, ""))
    return text, findings


@st.composite
def chunkings(draw: st.DrawFn, text: str) -> list[str]:
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=len(text) + 1)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(redaction_cases(), st.data())
def test_redact_restore_and_stream_agree(case: tuple[str, list[Finding]],
                                         data: st.DataObject) -> None:
    text, findings = case
    out, red = redact(text, findings)
    for f in findings:
        assert text[f.start:f.end] not in out
    assert restore(out, red) == text
    # the answer a model gives: redacted text with foreign brackets mixed in
    answer = data.draw(st.sampled_from(["", "[EMAIL_99]", "[", "[SECRET_", "]"])) + out
    expected = restore(answer, red)
    assert stream(StreamRestorer(red), data.draw(chunkings(answer))) == expected
    longest = red.longest
    restorer = StreamRestorer(red)
    for chunk in data.draw(chunkings(answer)):
        restorer.feed(chunk)
        assert restorer.held < max(longest, 1)


def test_stream_split_at_every_position() -> None:
    text = "to a@x.io and sk-AAAA, [EMAIL_9] [x] again a@x.io!"
    findings = [*find(text, "a@x.io"), *find(text, "sk-AAAA", "k", "secrets")]
    out, red = redact(text, findings)
    for i in range(len(out) + 1):
        for j in range(i, len(out) + 1):
            assert stream(StreamRestorer(red), [out[:i], out[i:j], out[j:]]) == text


# -- the mask style's preview bound -----------------------------------------------------------

@pytest.mark.parametrize(("length", "shown"), [(24, 6), (27, 6), (28, 7), (4, 1), (3, 0)])
def test_mask_trusts_a_preview_prefix_of_at_most_a_quarter_of_the_value(length: int,
                                                                         shown: int) -> None:
    """A finding's preview prefix is kept only up to len(value) // 4 characters:
    exactly the quarter is shown, one character more and nothing is."""
    value = "".join(chr(ord("a") + i % 26) for i in range(length))
    text = f"<{value}>"
    def masked(prefix_length: int) -> str:
        preview = f"{value[:prefix_length]}…({length} chars)"
        finding = Finding("custom", "x", 1, 1 + length, 0.5, preview)
        return redact(text, [finding], style="mask")[0]
    assert masked(shown) == f"<{value[:shown]}****>"
    assert masked(shown + 1) == "<****>"
    assert masked(0) == "<****>"


def test_mask_refuses_a_preview_that_is_not_a_prefix_of_the_value() -> None:
    text = "key sk-proj-ABCDEFGHIJKLMNOP end"
    wrong = Finding("custom", "x", 4, 28, 0.5, "sk-q…(24 chars)")
    assert redact(text, [wrong], style="mask")[0] == "key **** end"
    right = Finding("custom", "x", 4, 28, 0.5, "sk-p…(24 chars)")
    assert redact(text, [right], style="mask")[0] == "key sk-p**** end"


@pytest.mark.parametrize(("length", "shown"), [(3, 0), (4, 1), (15, 3), (16, 4), (17, 4),
                                               (200, 4)])
def test_finding_previews_show_at_most_four_characters_and_a_quarter(length: int,
                                                                     shown: int) -> None:
    value = "".join(chr(ord("A") + i % 26) for i in range(length))
    assert mask(value) == f"{value[:shown]}…({length} chars)"
    assert mask(value, keep=8) == f"{value[:min(8, length // 4)]}…({length} chars)"


def test_labels_are_computed_once_per_kind_and_as_before() -> None:
    from gateway_cli.guards import redact as module

    for kind in ("email", "credit_card", "us-ssn", "iban", "--", "a" * 40, "x.y z"):
        finding = Finding("custom", kind, 0, 1, 0.5, "")
        first = module._label(finding)
        assert first == module._kind_label(kind) == module._label(finding)
        expected = re.sub(r"[^A-Z0-9]+", "_", kind.upper()).strip("_")[:24] or "REDACTED"
        assert first == expected
    assert module._label(Finding("secrets", "x", 0, 1, 0.5, "")) == "SECRET"


def test_the_hash_salt_is_drawn_only_when_a_value_is_hashed() -> None:
    text = "mail jane@example.com now"
    findings = find(text, "jane@example.com")
    placed, red = redact(text, findings)
    assert placed == "mail [EMAIL_1] now"
    assert red._salt is None
    hashed, _ = redact(text, findings, style="hash", redactions=red)
    assert red._salt is not None and len(red._salt) == 16
    assert redact(text, findings, style="hash", redactions=red)[0] == hashed
