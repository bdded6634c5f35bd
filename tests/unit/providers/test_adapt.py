"""Adapters: pass-through stays byte-exact, translation streams end well-formed."""

from __future__ import annotations

import json

import msgspec
import pytest

from gateway_cli.providers.adapt import Ids, adapter_for, stream_error, upstream_error_message
from gateway_cli.providers.operations import Op
from gateway_cli.providers.wire import Unsupported
from gateway_cli.translate.errors import UpstreamStreamError

IDS = Ids("req1", 1700000000)


def test_passthrough_keeps_bytes_when_model_matches() -> None:
    raw = b'{"model":"m",  "messages":[], "zz_unknown": 1}'
    adapter = adapter_for(Op.CHAT, "openai")
    assert adapter.passthrough
    assert adapter.body(json.loads(raw), raw, "m") is raw


def test_passthrough_changes_only_model() -> None:
    raw = b'{"model":"alias","messages":[],"zz_unknown":{"a":[1,2]}}'
    out = json.loads(adapter_for(Op.CHAT, "openai").body(json.loads(raw), raw, "real"))
    assert out == {"model": "real", "messages": [], "zz_unknown": {"a": [1, 2]}}


@pytest.mark.parametrize(("op", "upstream"), [(Op.EMBEDDINGS, "anthropic"),
                                              (Op.COUNT_TOKENS, "openai")])
def test_unsupported_crossings(op: Op, upstream: str) -> None:
    with pytest.raises(Unsupported):
        adapter_for(op, upstream).body({"model": "m"}, b"{}", "m")  # type: ignore[arg-type]


def test_responses_cross_to_anthropic_as_messages() -> None:
    body = {"model": "alias", "input": "hi", "max_output_tokens": 9}
    out = json.loads(adapter_for(Op.RESPONSES, "anthropic").body(body, b"", "claude-x"))
    assert out == {"model": "claude-x", "max_tokens": 9,
                   "messages": [{"role": "user", "content": "hi"}]}


def test_errors_are_rendered_in_the_client_format() -> None:
    anthropic_body = b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'
    openai_client = adapter_for(Op.CHAT, "anthropic")
    rendered = json.loads(openai_client.error(529, anthropic_body))
    assert rendered["error"]["message"] == "busy"
    assert upstream_error_message(b"not json") is None
    fallback = json.loads(openai_client.error(500, b"<html>oops</html>"))
    assert fallback["error"]["message"] == "upstream answered HTTP 500"


def _anthropic_events(*events: tuple[str, dict[str, object]]) -> bytes:
    return b"".join(b"event: " + n.encode() + b"\ndata: " + msgspec.json.encode(d) + b"\n\n"
                    for n, d in events)


START = ("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "type": "message", "role": "assistant", "model": "c", "content": [],
    "stop_reason": None, "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1}}})


def test_anthropic_error_event_mid_stream_raises() -> None:
    converter = adapter_for(Op.CHAT, "anthropic").stream(IDS, "c", include_usage=False)
    assert converter is not None
    converter.feed(_anthropic_events(START))
    with pytest.raises(UpstreamStreamError) as info:
        converter.feed(_anthropic_events(("error", {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}})))
    assert info.value.message == "Overloaded"


def test_translated_stream_split_anywhere_gives_same_output() -> None:
    stream = _anthropic_events(
        START,
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "héllo"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                              "stop_sequence": None},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    )

    def run(pieces: list[bytes]) -> list[bytes]:
        converter = adapter_for(Op.CHAT, "anthropic").stream(IDS, "c", include_usage=True)
        assert converter is not None
        out = [o for p in pieces for o in converter.feed(p)]
        return out + converter.finish()

    whole = run([stream])
    assert whole[-1] == b"data: [DONE]\n\n"
    for cut in range(1, len(stream), 7):
        assert run([stream[:cut], stream[cut:]]) == whole


def test_openai_stream_without_done_still_ends_well_formed() -> None:
    converter = adapter_for(Op.MESSAGES, "openai").stream(IDS, "gpt", include_usage=False)
    assert converter is not None
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "gpt",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"},
                          "finish_reason": None}]}
    out = converter.feed(b"data: " + msgspec.json.encode(chunk) + b"\n\n") + converter.finish()
    names = [piece.split(b"\n", 1)[0] for piece in out]
    assert names[0] == b"event: message_start"
    assert names[-1] == b"event: message_stop"
    assert converter.finish() == []


def test_stream_error_shapes() -> None:
    openai_event = stream_error("openai", "broke")
    assert json.loads(openai_event.removeprefix(b"data: "))["error"]["message"] == "broke"
    anthropic_event = stream_error("anthropic", "broke")
    assert anthropic_event.startswith(b"event: error\ndata: ")
