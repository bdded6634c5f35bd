"""The folded view the secrets and PII guards match on (guards/normalise.py)."""

from __future__ import annotations

import pytest

from gateway_cli.guards import normalise, pii, redact, secrets
from tests.unit.guards.test_guard_secrets import with_crc


def test_plain_text_is_its_own_view() -> None:
    assert normalise.folded("plain ascii") == ("plain ascii", None)
    assert normalise.folded("déjà vu") == ("déjà vu", None)  # NFKC already, nothing hidden


def test_invisible_characters_go_and_full_width_folds_with_offsets_back() -> None:
    view, offsets = normalise.folded("a\u200bb\uff20c")
    assert view == "ab@c"
    assert offsets is not None and [offsets[i] for i in range(4)] == [0, 2, 3, 4]
    view, offsets = normalise.folded("x\ufb01y\u200bz")  # a ligature: one char, two out
    assert view == "xfiyz"
    assert offsets is not None and [offsets[i] for i in (0, 1, 3, 4)] == [0, 1, 2, 4]


@pytest.mark.parametrize("disguise", [
    lambda t: t[:10] + "\u200b" + t[10:],      # zero-width space
    lambda t: t[:6] + "\u00ad" + t[6:],        # soft hyphen
    lambda t: t[:4] + "\u2060" + t[4:12] + "\ufeff" + t[12:],
    lambda t: "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in t),  # full width
])
def test_a_disguised_token_is_found_and_its_original_characters_redacted(disguise: object) -> None:
    token = with_crc("ghp_")
    disguised = disguise(token)  # type: ignore[operator]
    text = f"use {disguised} please"
    [finding] = [f for f in secrets.scan(text) if f.kind.startswith("github")]
    assert text[finding.start:finding.end] == disguised
    masked, _ = redact.redact(text, [finding], style="placeholder")
    assert masked.startswith("use [") and masked.endswith("] please")
    assert not any(part in masked for part in (token[4:12], token[-8:]))


FULL_CARD = "".join(chr(ord(c) + 0xFEE0) for c in "4111111111111111")


@pytest.mark.parametrize(("text", "kind", "original"), [
    ("mail jane.doe\u200b@example.com now", "email", "jane.doe\u200b@example.com"),
    ("mail jane.doe\uff20example.com now", "email", "jane.doe\uff20example.com"),
    ("card 4111\u200b111111111111 ok", "credit_card", "4111\u200b111111111111"),
    ("card " + FULL_CARD + " ok", "credit_card", FULL_CARD),
])
def test_disguised_personal_data_is_found(text: str, kind: str, original: str) -> None:
    found = [f for f in pii.scan(text) if f.kind == kind]
    assert found, pii.scan(text)
    assert text[found[0].start:found[0].end] == original


def test_the_utf8_search_finds_exactly_the_ignorable_characters() -> None:
    # Every code point, alone and between other text (a lone surrogate, which a JSON
    # body can carry, included): the UTF-8 search agrees with the character class.
    for code in range(0x110000):
        char = chr(code)
        expected = normalise._IGNORABLE.search(char) is not None
        assert normalise.has_ignorable(char) is expected, hex(code)
        if code % 97 == 0 or expected:
            assert normalise.has_ignorable(f"é{char}\ud800x") is expected, hex(code)


def _reference_view(text: str) -> str:
    """quick_view as it was before the UTF-8 search and the kept answer."""
    import unicodedata
    if text.isascii() or (unicodedata.is_normalized("NFKC", text)
                          and not normalise._IGNORABLE.search(text)):
        return text
    view = normalise._IGNORABLE.sub("", text).translate(normalise._FULL_WIDTH)
    return view if unicodedata.is_normalized("NFKC", view) else normalise.folded(text)[0]


def test_quick_view_is_unchanged_over_eval_texts_and_disguises() -> None:
    texts = _eval_texts()
    extra = ["caf\u00e9 \u2019quoted\u2019", "a\u200bb", "\uff27\uff28\uff30", "x\ufb01y",
             "\ud800 lone", "\U000e0041tag", "\u3164filler", "\u00e9" * 3]
    assert len(texts) > 100
    for text in texts + extra + [t + " \u2019" for t in texts[:300]]:
        assert normalise.quick_view(text) == _reference_view(text)
        # asked again (the kept answer) and for an equal text that is another object
        assert normalise.quick_view(text) == _reference_view(text)
        twin = "".join(list(text))
        assert normalise.quick_view(twin) == _reference_view(text)


def _eval_texts() -> list[str]:
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "eval"
    out: list[str] = []
    for path in sorted(root.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = record.get("text") or record.get("prompt")
            if isinstance(text, str):
                out.append(text)
    return out


def test_the_native_digit_blocks_are_the_interpreters() -> None:
    # Every decimal digit of the Basic Multilingual Plane outside ASCII that NFKC leaves as
    # it is lies in a block of ten starting at one of NATIVE_ZEROS, at its value.
    import unicodedata

    expected = {code for code in range(0x80, 0x10000)
                if unicodedata.category(chr(code)) == "Nd"
                and unicodedata.normalize("NFKC", chr(code)) == chr(code)}
    listed = {zero + d for zero in normalise.NATIVE_ZEROS for d in range(10)}
    assert listed == expected
    for zero in normalise.NATIVE_ZEROS:
        assert [unicodedata.digit(chr(zero + d)) for d in range(10)] == list(range(10))


ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
DEVANAGARI = str.maketrans("0123456789", "".join(chr(0x966 + d) for d in range(10)))
THAI = str.maketrans("0123456789", "".join(chr(0xE50 + d) for d in range(10)))


@pytest.mark.parametrize(("plain", "kind"), [
    ("4111111111111111", "credit_card"),
    ("4111 1111 1111 1111", "credit_card"),
    ("415-555-0132", "phone"),
    ("219-09-9998", "us_ssn"),
])
@pytest.mark.parametrize("script", [ARABIC, DEVANAGARI, THAI])
def test_digits_of_other_scripts_are_read_as_digits(plain: str, kind: str,
                                                     script: dict[int, str]) -> None:
    value = plain.translate(script)
    assert value != plain
    text = f"\u0631\u0642\u0645 {value} \u0634\u0643\u0631\u0627"  # between Arabic words
    found = pii.scan(text)
    assert [(f.kind, text[f.start:f.end]) for f in found] == [(kind, value)]
    # Mixed with ASCII digits and an invisible character, still one value.
    mixed = "x " + plain[:3] + "\u200b" + value[3:] + " y"
    assert [f.kind for f in pii.scan(mixed)] == [kind]


def test_a_card_in_arabic_digits_is_redacted_where_it_was_written() -> None:
    from gateway_cli.config import parse_config
    from gateway_cli.guards.pipeline import Inspector

    value = "4111111111111111".translate(ARABIC)
    result = Inspector(parse_config({}).inspection).inspect_text(f"pay {value} now")
    assert value not in result["text"]
    assert result["text"].startswith("pay ") and result["text"].endswith(" now")
    assert [f["kind"] for f in result["findings"]] == ["credit_card"]
