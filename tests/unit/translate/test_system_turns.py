"""A system turn inside an Anthropic `messages` list, translated for an OpenAI-format
provider: a system message at the same position, its text unchanged."""

from __future__ import annotations

import pytest

from gateway_cli.translate import anthropic_to_openai
from gateway_cli.translate.errors import TranslationError


def test_a_system_turn_keeps_its_position() -> None:
    out = anthropic_to_openai.request({
        "model": "claude-x", "max_tokens": 10, "system": "first rules",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "system", "content": "now answer briefly"},
            {"role": "user", "content": [{"type": "text", "text": "why?"}]},
        ]}, upstream_model="gpt-x")
    assert [m["role"] for m in out["messages"]] == ["system", "user", "assistant", "system",
                                                    "user"]
    assert out["messages"][3] == {"role": "system", "content": "now answer briefly"}


def test_a_system_turn_of_text_blocks_keeps_the_text_and_drops_cache_control() -> None:
    out = anthropic_to_openai.request({
        "model": "c", "max_tokens": 10, "messages": [
            {"role": "system", "content": [
                {"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "b"}]},
            {"role": "user", "content": "hi"}]}, upstream_model="g")
    assert out["messages"][0] == {"role": "system", "content": [
        {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}


def test_a_system_turn_with_an_image_is_refused_naming_the_place() -> None:
    with pytest.raises(TranslationError, match=r"messages\[1\]\[0\] must be a text block"):
        anthropic_to_openai.request({
            "model": "c", "max_tokens": 10, "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "image", "source": {}}]}]},
            upstream_model="g")
