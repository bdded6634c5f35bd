"""The pure Responses <-> Anthropic translation: shapes the integration tests' fake does not
produce (thinking blocks, several text blocks, a cut-off answer, a broken stream)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway_cli.translate import responses_to_anthropic as t
from gateway_cli.translate.errors import TranslationError, UpstreamStreamError

BODY = {"model": "m", "input": "hi"}


def _message(*blocks: dict[str, Any], stop: str = "end_turn") -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "up",
            "content": list(blocks), "stop_reason": stop,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                      "cache_read_input_tokens": 3, "cache_creation_input_tokens": 2}}


def test_answer_keeps_block_order_and_skips_thinking() -> None:
    answer = t.response(_message(
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "first"},
        {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": 1}},
        {"type": "text", "text": "after"}), BODY, request_id="r", created=7, model="alias")
    assert [(i["type"], i.get("name")) for i in answer["output"]] == [
        ("message", None), ("function_call", "f"), ("message", None)]
    assert answer["output"][1]["arguments"] == '{"a":1}'
    assert answer["output"][1]["call_id"] == "toolu_9"
    assert answer["output"][2]["content"][0]["text"] == "after"
    assert answer["usage"] == {"input_tokens": 15, "input_tokens_details": {"cached_tokens": 3},
                               "output_tokens": 5, "output_tokens_details":
                               {"reasoning_tokens": 0}, "total_tokens": 20}
    assert (answer["model"], answer["created_at"], answer["status"]) == ("alias", 7,
                                                                         "completed")


@pytest.mark.parametrize(("stop", "reason"), [("max_tokens", "max_output_tokens"),
                                              ("refusal", "content_filter")])
def test_cut_off_answers_are_incomplete(stop: str, reason: str) -> None:
    answer = t.response(_message({"type": "text", "text": "par"}, stop=stop), BODY,
                        request_id="r", created=0, model="m")
    assert answer["status"] == "incomplete"
    assert answer["incomplete_details"] == {"reason": reason}


def _events(*pairs: tuple[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    translator = t.StreamTranslator(BODY, request_id="r", created=0, model="m")
    out = []
    for name, data in pairs:
        out += translator.feed(name, {"type": name, **data})
    return out + translator.finish()


def test_stream_numbers_densely_and_skips_thinking() -> None:
    out = _events(
        ("message_start", {"message": {"usage": {"input_tokens": 4}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "thinking"}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "thinking_delta",
                                                       "thinking": "x"}}),
        ("content_block_stop", {"index": 0}),
        ("content_block_start", {"index": 1, "content_block": {"type": "text", "text": ""}}),
        ("ping", {}),
        ("content_block_delta", {"index": 1, "delta": {"type": "text_delta", "text": "ok"}}),
        ("content_block_stop", {"index": 1}),
        ("message_delta", {"delta": {"stop_reason": "max_tokens"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {}))
    assert [d["sequence_number"] for _, d in out] == list(range(len(out)))
    assert [n for n, _ in out] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.incomplete"]
    last = out[-1][1]["response"]
    assert last["output"][0]["content"][0]["text"] == "ok"
    assert last["output"][0]["id"] == out[2][1]["item"]["id"]
    assert last["usage"]["input_tokens"] == 4 and last["usage"]["output_tokens"] == 2


def test_a_stream_that_ends_early_is_closed_once() -> None:
    translator = t.StreamTranslator(BODY, request_id="r", created=0, model="m")
    translator.feed("content_block_start", {"index": 0, "content_block": {"type": "text"}})
    closing = translator.finish()
    assert [n for n, _ in closing][-1] == "response.completed"
    assert translator.finish() == [] and translator.feed("message_stop", {}) == []


def test_an_error_event_raises() -> None:
    translator = t.StreamTranslator(BODY, request_id="r", created=0, model="m")
    with pytest.raises(UpstreamStreamError, match="overloaded"):
        translator.feed("error", {"type": "error", "error": {"type": "overloaded_error",
                                                             "message": "busy"}})


@pytest.mark.parametrize(("body", "named"), [
    ({"input": 5}, "'input'"),
    ({"input": []}, "at least one"),
    ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
    ({"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
     "input[0].call_id"),
    ({"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]},
     "input[0].output"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
    ({"input": "x", "tools": [{"type": "function", "name": "f", "parameters": "no"}]},
     "tools[0].parameters"),
    ({"input": "x", "instructions": [{"role": "user", "content": "x"}]}, "instructions"),
    ({"input": [{"role": "assistant", "content": [{"type": "input_image",
                                                    "image_url": "https://x/i.png"}]}]},
     "input_image"),
])
def test_malformed_requests_name_the_field(body: dict[str, Any], named: str) -> None:
    with pytest.raises(TranslationError, match=None) as info:
        t.request({"model": "m", **body}, upstream_model="up")
    assert named in str(info.value)


def test_images_and_reasoning_items() -> None:
    out = t.request({"model": "m", "input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]}]},
        upstream_model="up")
    assert out["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "look"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": "AAAA"}}]}]


def test_a_summary_left_to_the_model_is_answered_without_one() -> None:
    # Codex asks for summary "auto" on every call: the model may give none, so a
    # provider without summaries answers it faithfully; nothing of it goes upstream.
    out = t.request({**BODY, "reasoning": {"effort": "low", "summary": "auto"}},
                    upstream_model="up", default_max_tokens=64)
    assert "reasoning" not in out and "thinking" not in out
    for named in ("concise", "detailed"):
        with pytest.raises(TranslationError, match=r"reasoning\.summary"):
            t.request({**BODY, "reasoning": {"summary": named}}, upstream_model="up",
                      default_max_tokens=64)
