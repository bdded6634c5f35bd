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
