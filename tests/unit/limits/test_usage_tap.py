"""The usage tap on a stream cut anywhere: the usage is read, the bytes pass on in order,
and the usage chunk the gateway asked for on the client's behalf is removed whole."""

from __future__ import annotations

import json

import pytest

from gateway_cli.limits.tokens import Usage
from gateway_cli.limits.usage_tap import UsageTap, reported_usage

BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def event(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


CONTENT = [event({**BASE, "choices": [{"index": 0, "delta": {"content": w}}],
                  "usage": None}) for w in ("one ", "two ", "three")]
USAGE = event({**BASE, "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
STREAM = b"".join(CONTENT) + USAGE + b"data: [DONE]\n\n"


def run(tap: UsageTap, pieces: list[bytes]) -> bytes:
    return b"".join(tap.feed(p) for p in pieces) + tap.finish()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, len(STREAM)])
def test_cut_anywhere_strip_removes_only_the_usage_chunk(size: int) -> None:
    tap = UsageTap(strip=True)
    out = run(tap, [STREAM[i:i + size] for i in range(0, len(STREAM), size)])
    assert out == b"".join(CONTENT) + b"data: [DONE]\n\n"
    assert tap.usage == Usage(input=7, output=3)


@pytest.mark.parametrize("size", [1, 5, 64])
def test_without_strip_every_byte_passes_as_it_came(size: int) -> None:
    tap = UsageTap()
    pieces = [STREAM[i:i + size] for i in range(0, len(STREAM), size)]
    assert [tap.feed(p) for p in pieces] == pieces
    assert tap.finish() == b""
    assert tap.usage == Usage(input=7, output=3)


def test_usage_null_in_every_chunk_is_not_read_as_usage() -> None:
    tap = UsageTap(strip=True)
    assert run(tap, [b"".join(CONTENT)]) == b"".join(CONTENT)
    assert tap.usage is None


def test_an_event_longer_than_the_cap_passes_on_unread() -> None:
    huge = b"data: " + b"x" * (1024 * 1024 + 10)
    tap = UsageTap(strip=True)
    out = run(tap, [huge[i:i + 65536] for i in range(0, len(huge), 65536)] + [b"\n\n"])
    assert out == huge + b"\n\n"


def test_a_whole_answer_reports_only_its_usage_member() -> None:
    answer = json.dumps({"id": "x", "choices": [{"message": {"content": '"usage": {}'}}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 2}}).encode()
    assert reported_usage("openai", answer) == Usage(input=5, output=2)
    assert reported_usage("openai", b"not json") is None
    assert reported_usage("anthropic", b'{"usage": {"input_tokens": 4, "output_tokens": 1}}') \
        == Usage(input=4, output=1)


def _compact(payload: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


@pytest.mark.parametrize("size", [1, 4, 9, 1000])
def test_strip_removes_the_null_usage_the_gateway_caused(size: int) -> None:
    """As OpenAI sends it: compact JSON, `"usage":null` in every chunk once usage is asked."""
    words = ("one ", ',"usage":null', "three")  # the second is text that looks like it
    asked = [_compact({**BASE, "choices": [{"index": 0, "delta": {"content": w}}],
                       "usage": None}) for w in words]
    plain = [_compact({**BASE, "choices": [{"index": 0, "delta": {"content": w}}]})
             for w in words]
    usage = _compact({**BASE, "choices": [], "usage": {"prompt_tokens": 2,
                                                       "completion_tokens": 1}})
    stream = b"".join(asked) + usage + b"data: [DONE]\n\n"
    tap = UsageTap(strip=True)
    out = run(tap, [stream[i:i + size] for i in range(0, len(stream), size)])
    assert out == b"".join(plain) + b"data: [DONE]\n\n"
    assert tap.usage == Usage(input=2, output=1)
