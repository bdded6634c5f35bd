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
