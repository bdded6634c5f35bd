"""Masking a streamed answer in flight: the transformer alone, then in each client format.

Credentials are generated at run time, so the repository holds no real-format
secret for a push-protection scanner to flag.
"""

from __future__ import annotations

import base64
import random
import re
import string
from itertools import pairwise
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.config import OutputPolicyConfig
from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.guards import pii, redact, secrets
from gateway_cli.guards.base import Finding
from gateway_cli.guards.mask_stream import MaskingStream, TextMasker
from gateway_cli.guards.output_policy import value_hash

RNG = random.Random(20260501)
ALNUM = string.ascii_letters + string.digits


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


KEY = f"sk-proj-{rand(20)}T3BlbkFJ{rand(20)}"  # 56 characters
EMAIL = "bob.leak@corp-mail.example"
KNOWN_EMAIL = "jane.doe@example.com"
PEM = ("-----BEGIN PRIVATE KEY-----\n"
       + "\n".join(base64.b64encode(RNG.randbytes(48)).decode() for _ in range(26))
       + "\n-----END PRIVATE KEY-----")
MASK = OutputPolicyConfig(action="mask")


def judge(text: str) -> list[Finding]:
    return [f for f in [*secrets.scan(text), *pii.scan(text)] if f.confidence >= 0.7]


def whole_mask(text: str) -> str:
    return redact.redact(text, judge(text), style="mask")[0]


def stream_mask(pieces: list[str], **options: int) -> list[str]:
    masker = TextMasker(judge, **options)
    return [masker.feed(p) for p in pieces] + [masker.finish()]


def cut(text: str, bounds: list[int]) -> list[str]:
    edges = [0, *sorted(bounds), len(text)]
    return [text[a:b] for a, b in pairwise(edges)]


# -- the transformer alone -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from([
        "lorem", "ipsum dolor", KEY, EMAIL, "key:", "\n", "mail me at", "sk-proj-", "@",
        "https://docs.example.org/guide", "4111 1111 1111 1111", "x" * 40,
    ]), max_size=30),
    st.data(),
    st.sampled_from([(64, 1), (64, 8), (96, 16), (512, 64)]),
)
def test_streamed_output_is_the_mask_of_the_whole_text(
        pieces: list[str], data: st.DataObject, shape: tuple[int, int]) -> None:
    # Pieces are separated by spaces so no finding is longer than `hold`: the documented
    # bound within which the streamed mask equals the whole one.
    text = " ".join(pieces)
    bounds = data.draw(st.sets(st.integers(0, len(text)), max_size=40))
    hold, step = shape
    out = stream_mask(cut(text, list(bounds)), hold=hold, step=step)
    assert "".join(out) == whole_mask(text)
    for secret in (KEY, EMAIL):
        assert all(secret not in chunk for chunk in out)
        assert secret not in "".join(out)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["lorem", "ipsum dolor", "\n", "sit", "x" * 40, "amet,"]),
                max_size=80),
       st.data(), st.sampled_from([64, 256]))
def test_the_text_goes_out_in_the_chunks_it_came_in(
        words: list[str], data: st.DataObject, hold: int) -> None:
    """No finding: every chunk comes out whole and alone, only later."""
    text = " ".join(words)
    bounds = data.draw(st.sets(st.integers(0, len(text)), max_size=60))
    chunks = [c for c in cut(text, list(bounds)) if c]
    masker = TextMasker(judge, hold=hold)
    out = [piece for c in chunks for piece in masker.feed_pieces(c)] + masker.finish_pieces()
    assert out == chunks


def test_chunks_are_kept_apart_except_inside_a_masked_finding() -> None:
    text = "intro " * 60 + f"the key is {KEY}, write to {EMAIL}." + " outro" * 60
    chunks = [text[i:i + 5] for i in range(0, len(text), 5)]
    masker = TextMasker(judge)
    out = [piece for c in chunks for piece in masker.feed_pieces(c)] + masker.finish_pieces()
    assert "".join(out) == whole_mask(text)
    masked = [piece for piece in out if "****" in piece]
    assert len(masked) == 2 and all(len(piece) > 5 for piece in masked)
    spans = [(text.index(s), text.index(s) + len(s)) for s in (KEY, EMAIL)]
    apart = [text[i:i + 5] for i in range(0, len(text), 5)
             if not any(a < i + 5 and i < b for a, b in spans)]
    assert [piece for piece in out if "****" not in piece] == apart


@pytest.mark.parametrize("size", [1, 2, 7, 100, 10_000])
def test_one_character_at_a_time_and_in_big_pieces(size: int) -> None:
    text = "intro " * 120 + f"the key is {KEY}, write to {EMAIL}." + " outro" * 120
    out = stream_mask([text[i:i + size] for i in range(0, len(text), size)])
    assert "".join(out) == whole_mask(text)
    assert "the key is sk-p****, write to bob.****." in "".join(out)
    assert KEY not in "".join(out) and EMAIL not in "".join(out)


def test_text_is_held_back_hold_to_hold_plus_step_characters() -> None:
    masker = TextMasker(judge, hold=100, step=10)
    released = ""
    for i in range(1000):
        released += masker.feed("a " if i % 2 else "b ")
        assert 100 <= masker.held < 110 or len(released) == 0
    assert len(released) + masker.held == 2000
    assert released + masker.finish() == ("b a " * 500)
    assert masker.held == 0


def test_after_the_first_release_text_goes_out_every_then_characters() -> None:
    """The first text leaves at `hold + step`; then the held text stays `hold` to
    `hold + then`, and a scan runs once per `then` characters, not once per `step`."""
    scans = 0

    def counting(text: str) -> list[Finding]:
        nonlocal scans
        scans += 1
        return judge(text)

    masker = TextMasker(counting, hold=100, step=10, then=50)
    released = ""
    for i in range(1000):
        released += masker.feed("a " if i % 2 else "b ")
        if len(released) == 0:
            assert masker.held < 110
        else:
            assert 100 <= masker.held < 150
    assert released + masker.finish() == ("b a " * 500)
    assert scans <= 2 + (2000 - 110) // 50 + 1  # against about (2000 - 110) // 10 before
    with pytest.raises(ValueError):
        TextMasker(judge, hold=100, then=0)


def test_a_long_block_is_held_whole_until_it_ends() -> None:
    """A PEM block is longer than `hold`, but the guard sees it growing: nothing leaks."""
    text = "here it is:\n" + PEM + "\nkeep it safe"
    assert len(PEM) > 1024
    for size in (1, 5, 64):
        out = stream_mask([text[i:i + size] for i in range(0, len(text), size)], hold=256)
        assert "".join(out) == whole_mask(text)
        assert "".join(out).endswith("****\nkeep it safe")
        assert not any(line in "".join(out) for line in PEM.splitlines()[1:-1])


@pytest.mark.parametrize("size", [1, 3, 50])
def test_past_max_hold_a_finding_is_cut_but_masked_to_its_end(size: int) -> None:
    """Held text stays bounded; the finding's start is kept in view to recognise the rest."""
    text = "here it is:\n" + PEM + "\nkeep it safe " + "z " * 300
    masker = TextMasker(judge, hold=128, max_hold=512)
    out = []
    for i in range(0, len(text), size):
        out.append(masker.feed(text[i:i + size]))
        assert masker.held <= 512 + 16 + size
    released = "".join([*out, masker.finish()])
    assert not any(line in released for line in PEM.splitlines()[1:-1])
    assert released.startswith("here it is:\n-")
    assert released.endswith("****\nkeep it safe " + "z " * 300)


def test_a_long_unbroken_token_is_held_until_it_ends() -> None:
    url = "https://files.example.net/" + "a1b2" * 200 + "?token=" + KEY
    text = f"download {url} now"
    out = stream_mask([text[i:i + 4] for i in range(0, len(text), 4)], hold=64)
    assert "".join(out) == whole_mask(text)
    assert KEY not in "".join(out)


def test_memory_stays_bounded() -> None:
    masker = TextMasker(judge, hold=64, step=8, max_hold=256)
    for _ in range(5000):
        masker.feed("word " if RNG.random() < 0.5 else "x" * 7)
        assert len(masker._buf) + masker._pending_len <= 64 + 256 + 8 + 7
    masker.finish()


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        TextMasker(judge, hold=0)
    with pytest.raises(ValueError):
        TextMasker(judge, hold=64, max_hold=32)


# -- in the client's formats -----------------------------------------------------------------


def run(stream: MaskingStream, events: list[bytes], cuts: int = 0) -> list[bytes]:
    """Feed the events as one byte stream, cut every `cuts` bytes (0: event by event)."""
    data = b"".join(events)
    pieces = events if not cuts else [data[i:i + cuts] for i in range(0, len(data), cuts)]
    out = [o for p in pieces for o in stream.feed(p)] + stream.finish()
    assert stream.blocked is None
    return out


def parsed(out: list[bytes]) -> list[tuple[str | None, Any]]:
    events = SSEParser().feed(b"".join(out))
    return [(e.event, msgspec.json.decode(e.data) if e.data.startswith("{") else e.data)
            for e in events]


def chat_chunk(delta: dict[str, Any], finish: str | None = None, index: int = 0,
               **extra: Any) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": index, "delta": delta, "logprobs": None,
                          "finish_reason": finish}], **extra}
    return b"data: " + msgspec.json.encode(chunk) + b"\n\n"


LEAK = f"Sure: {KEY} and {EMAIL} - that is all."
MASKED = "Sure: sk-p**** and bob.**** - that is all."


def chat_stream(text: str) -> list[bytes]:
    return [chat_chunk({"role": "assistant", "content": ""}),
            *[chat_chunk({"content": c}) for c in text],
            chat_chunk({}, "stop"),
            b"data: " + msgspec.json.encode({"id": "c1", "object": "chat.completion.chunk",
                                             "created": 1, "model": "m", "choices": [],
                                             "usage": {"total_tokens": 9}}) + b"\n\n",
            b"data: [DONE]\n\n"]


@pytest.mark.parametrize("cuts", [0, 1, 7])
def test_openai_chunks_are_masked_and_keep_their_shape(cuts: int) -> None:
    out = run(MaskingStream(MASK, "openai", None), chat_stream(LEAK), cuts)
    events = [data for _, data in parsed(out)]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in events[:-1]
                   if isinstance(c, dict) and c["choices"])
    assert text == MASKED
    assert all(KEY.encode() not in piece and EMAIL.encode() not in piece for piece in out)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finish = next(i for i, c in enumerate(events)
                  if isinstance(c, dict) and c["choices"] and c["choices"][0]["finish_reason"])
    assert events[finish - 1]["choices"][0]["delta"]["content"]  # the flush, just before
    assert events[finish]["choices"][0]["delta"] == {}
    assert events[-2]["usage"] == {"total_tokens": 9} and events[-1] == "[DONE]"


def test_each_choice_is_masked_on_its_own() -> None:
    events = [chat_chunk({"content": c}, index=i) for c in KEY for i in (0, 1)]
    events += [chat_chunk({}, "stop", index=0), chat_chunk({}, "stop", index=1),
               b"data: [DONE]\n\n"]
    texts = {0: "", 1: ""}
    for _, c in parsed(run(MaskingStream(MASK, "openai", None), events)):
        if isinstance(c, dict):
            choice = c["choices"][0]
            texts[choice["index"]] += choice["delta"].get("content") or ""
    assert texts == {0: "sk-p****", 1: "sk-p****"}


def test_held_text_is_flushed_at_done_when_no_finish_reason_came() -> None:
    events = [chat_chunk({"content": c}) for c in f"mail {EMAIL}"] + [b"data: [DONE]\n\n"]
    out = parsed(run(MaskingStream(MASK, "openai", None), events))
    assert out[-1][1] == "[DONE]"
    assert "".join(c["choices"][0]["delta"].get("content", "") for _, c in out[:-1]) \
        == "mail bob.****"


def test_tool_call_deltas_and_role_chunks_pass_untouched() -> None:
    calls = [{"index": 0, "id": "call_1", "type": "function",
              "function": {"name": "send", "arguments": ""}},
             {"index": 0, "function": {"arguments": '{"to": "'}},
             {"index": 0, "function": {"arguments": f'{EMAIL}"}}'}}]
    events = [chat_chunk({"role": "assistant", "content": None})]
    events += [chat_chunk({"tool_calls": [call]}) for call in calls]
    events += [chat_chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    stream = MaskingStream(MASK, "openai", None)
    out = run(stream, events)
    assert parsed(out) == parsed(events)
    assert stream.report is not None and stream.report.reason == "pii.email"  # reported


def test_logprobs_would_spell_the_secret_out_so_they_are_dropped() -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": KEY}, "finish_reason": "stop",
                          "logprobs": {"content": [{"token": KEY, "logprob": -0.1}]}}]}
    out = run(MaskingStream(MASK, "openai", None),
              [b"data: " + msgspec.json.encode(chunk) + b"\n\n"])
    assert KEY.encode() not in b"".join(out)
    assert all(c["choices"][0]["logprobs"] is None for _, c in parsed(out))


def test_values_the_request_carried_are_not_masked() -> None:
    text = f"I wrote to {KNOWN_EMAIL}; {EMAIL} is new."
    stream = MaskingStream(MASK, "openai", None, frozenset({value_hash(KNOWN_EMAIL)}))
    out = parsed(run(stream, chat_stream(text)))
    got = "".join(c["choices"][0]["delta"].get("content") or "" for _, c in out
                  if isinstance(c, dict) and c["choices"])
    assert got == f"I wrote to {KNOWN_EMAIL}; bob.**** is new."


def anthropic_stream(text: str, block: int = 0) -> list[bytes]:
    def ev(name: str, data: dict[str, Any]) -> bytes:
        return encode_event(msgspec.json.encode({"type": name, **data}), event=name)
    return [ev("message_start", {"message": {"id": "m", "content": []}}),
            ev("content_block_start", {"index": block,
                                       "content_block": {"type": "text", "text": ""}}),
            ev("ping", {}),
            *[ev("content_block_delta", {"index": block,
                                         "delta": {"type": "text_delta", "text": c}})
              for c in text],
            ev("content_block_stop", {"index": block}),
            ev("content_block_start", {"index": block + 1, "content_block": {
                "type": "tool_use", "id": "t", "name": "f", "input": {}}}),
            ev("content_block_delta", {"index": block + 1, "delta": {
                "type": "input_json_delta", "partial_json": '{"a": 1}'}}),
            ev("content_block_stop", {"index": block + 1}),
            ev("message_delta", {"delta": {"stop_reason": "end_turn"}}),
            ev("message_stop", {})]


@pytest.mark.parametrize("cuts", [0, 3])
def test_anthropic_text_deltas_are_masked_and_flushed_before_the_block_stops(
        cuts: int) -> None:
    original = parsed(anthropic_stream(LEAK))
    out = parsed(run(MaskingStream(MASK, "anthropic", None), anthropic_stream(LEAK), cuts))
    text = "".join(d["delta"]["text"] for n, d in out if n == "content_block_delta"
                   and d["delta"]["type"] == "text_delta")
    assert text == MASKED
    names = [n for n, _ in out]
    stop = names.index("content_block_stop")
    assert names[stop - 1] == "content_block_delta"  # the flush
    assert [e for e in out if e[0] != "content_block_delta"] \
        == [e for e in original if e[0] != "content_block_delta"]
    assert [d for n, d in out if n == "content_block_delta" and d["index"] == 1] \
        == [d for n, d in original if n == "content_block_delta" and d["index"] == 1]


def responses_stream(text: str) -> list[bytes]:
    def ev(name: str, **data: Any) -> bytes:
        return encode_event(msgspec.json.encode({"type": name, **data}), event=name)
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": [part]}
    return [ev("response.created", response={"id": "r", "output": []}, sequence_number=0),
            ev("response.content_part.added", **where, sequence_number=1,
               part={**part, "text": ""}),
            *[ev("response.output_text.delta", **where, delta=c, logprobs=[],
                 sequence_number=2 + i) for i, c in enumerate(text)],
            ev("response.output_text.done", **where, text=text, logprobs=[],
               sequence_number=900),
            ev("response.content_part.done", **where, part=part, sequence_number=901),
            ev("response.output_item.done", output_index=0, item=item, sequence_number=902),
            ev("response.completed", response={"id": "r", "output": [item]},
               sequence_number=903)]


def test_responses_api_deltas_and_their_full_text_copies_are_masked() -> None:
    out = run(MaskingStream(MASK, "openai", None), responses_stream(LEAK))
    assert KEY.encode() not in b"".join(out) and EMAIL.encode() not in b"".join(out)
    events = [d for _, d in parsed(out)]
    deltas = "".join(d["delta"] for d in events if d["type"] == "response.output_text.delta")
    assert deltas == MASKED
    done = next(d for d in events if d["type"] == "response.output_text.done")
    assert done["text"] == MASKED
    completed = events[-1]
    assert completed["response"]["output"][0]["content"][0]["text"] == MASKED


def test_a_failing_guard_blocks_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> list[Finding]:
        raise RuntimeError("guard bug")

    monkeypatch.setattr(secrets, "scan", broken)
    stream = MaskingStream(MASK, "openai", None, hold=16)
    for piece in chat_stream("a harmless answer that is long enough to be scanned"):
        stream.feed(piece)
    assert stream.blocked is not None and stream.blocked.reason == "secrets.guard_error"
    open_stream = MaskingStream(OutputPolicyConfig(action="mask", fail_open=True), "openai",
                                None, hold=16)
    out = run(open_stream, chat_stream("a harmless answer that is long enough to be scanned"))
    assert "".join(c["choices"][0]["delta"].get("content") or "" for _, c in parsed(out)
                   if isinstance(c, dict) and c["choices"]) \
        == "a harmless answer that is long enough to be scanned"


def test_held_text_is_dropped_when_the_upstream_gives_up() -> None:
    """Half a secret is no longer recognisable: what is held is not flushed after an error."""
    events = anthropic_stream("Sure, here: " + KEY[:30])[:-6]  # cut mid-key, block open
    events.append(encode_event(msgspec.json.encode(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        event="error"))
    out = run(MaskingStream(MASK, "anthropic", None), events)
    assert parsed(out)[-1][0] == "error"
    assert KEY[:12].encode() not in b"".join(out)


# -- block: the same hold, a finding judged before any of it is released -----------------------

BLOCK = OutputPolicyConfig()  # the default: action = "block"
CARD = "4111 1111 1111 1111"  # a test card number: valid Luhn, spaces inside
FILLER = ["lorem", "ipsum", "dolor sit", "amet,", "the key is", "mail me at", "\n", "-", "x" * 40,
          "see https://docs.invalid/guide", "card:", "(", ")."]


def relay(stream: MaskingStream, events: list[bytes], cuts: int = 0) -> bytes:
    """What the relay sends: what each feed returns, until one blocks (cuts: as in `run`)."""
    data = b"".join(events)
    pieces = events if not cuts else [data[i:i + cuts] for i in range(0, len(data), cuts)]
    sent = b""
    for piece in pieces:
        sent += b"".join(stream.feed(piece))
        if stream.blocked is not None:
            return sent
    return sent + b"".join(stream.finish())


def streamed_text(raw: bytes, family: str) -> str:
    text = ""
    for name, data in parsed([raw]):
        if not isinstance(data, dict):
            continue
        if family == "anthropic":
            if name == "content_block_delta" and data["delta"].get("type") == "text_delta":
                text += data["delta"]["text"]
        else:
            text += "".join(c["delta"].get("content") or "" for c in data.get("choices") or [])
    return text


def events_for(family: str, pieces: list[str]) -> list[bytes]:
    if family == "anthropic":
        events = anthropic_stream("")
        middle = [encode_event(msgspec.json.encode(
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": p}}), event="content_block_delta")
            for p in pieces]
        return [*events[:3], *middle, *events[3:]]
    stream = chat_stream("")
    return [stream[0], *[chat_chunk({"content": p}) for p in pieces], *stream[1:]]


def eights(secret: str) -> list[bytes]:
    return [secret[i:i + 8].encode() for i in range(len(secret) - 7)]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(FILLER), max_size=40),
    st.integers(0, 40),
    st.sampled_from([KEY, EMAIL, CARD]),
    st.sampled_from(["openai", "anthropic"]),
    st.sampled_from([64, 256]),
    st.booleans(),
    st.sampled_from([0, 5, 1 << 20]),  # event by event, 5 bytes at a time, all in one read
    st.data(),
)
def test_block_never_releases_a_prefix_of_the_secret(
        filler: list[str], where: int, secret: str, family: str, hold: int,
        one_by_one: bool, cuts: int, data: st.DataObject) -> None:
    words = [*filler[:where], secret, *filler[where:]]
    text = " ".join(words)
    start = text.index(secret)
    end = start + len(secret)
    bounds = set(data.draw(st.sets(st.integers(0, len(text)), max_size=40)))
    bounds.add(end)  # the secret ends exactly where an event ends
    if one_by_one:
        bounds.update(range(start, end))
    stream = MaskingStream(BLOCK, family, None, hold=hold)  # type: ignore[arg-type]
    raw = relay(stream, events_for(family, cut(text, sorted(bounds))), cuts)
    assert stream.blocked is not None
    released = streamed_text(raw, family)
    assert released == text[:len(released)]
    assert len(released) <= start  # not one character of the secret
    assert not any(piece in raw for piece in eights(secret))


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_block_ends_before_a_key_sent_one_character_per_event(family: str) -> None:
    before = "Here is what I found in the runbook. " * 20
    pieces = [*re.findall(r"\S+\s*", before), "The key is ", *KEY, " - keep it safe.",
              *[" and more"] * 50]
    stream = MaskingStream(BLOCK, family, None)  # type: ignore[arg-type]
    raw = relay(stream, events_for(family, pieces))
    assert stream.blocked is not None and stream.blocked.reason == "secrets.openai_api_key"
    released = streamed_text(raw, family)
    assert before.startswith(released) and len(released) >= len(before) - 256 - 128 - 11
    assert not any(piece in raw for piece in eights(KEY))


def test_block_judges_an_email_that_ends_where_an_event_ends() -> None:
    """The old sliding-window watch sent this event and blocked one event too late."""
    stream = MaskingStream(BLOCK, "openai", None)
    raw = relay(stream, events_for("openai", ["intro " * 80, "write to ", EMAIL, " today."]))
    assert stream.blocked is not None and stream.blocked.reason == "pii.email"
    assert not any(piece in raw for piece in eights(EMAIL))
    assert ("intro " * 80).startswith(streamed_text(raw, "openai"))


@pytest.mark.parametrize("hold", [64, 256])
def test_block_keeps_a_private_key_s_material_back(hold: int) -> None:
    """With the default hold not even the header leaves; with 64 the header can, no more."""
    text = "intro " * 80 + "here it is:\n" + PEM + "\nkeep it safe " + "z " * 300
    stream = MaskingStream(BLOCK, "openai", None, hold=hold)
    raw = relay(stream, events_for("openai", [text[i:i + 3] for i in range(0, len(text), 3)]))
    assert stream.blocked is not None and stream.blocked.reason == "secrets.private_key"
    released = streamed_text(raw, "openai")
    assert text.startswith(released)
    assert not any(line.encode() in raw for line in PEM.splitlines()[1:-1])
    if hold == 256:
        assert b"-----BEGIN" not in raw


@pytest.mark.parametrize("family", ["openai", "anthropic"])
def test_block_without_a_finding_sends_the_upstream_s_own_events_only_later(
        family: str) -> None:
    """Nothing masked, lost or re-cut: the same events, the text `hold` characters behind.

    The first text goes out once `hold + hold // 8` characters have arrived (288); from
    then on it trails by `hold` to `hold + hold // 2` (a scan per 128 characters, not 32)."""
    text = "A harmless answer about gardens, with a link to https://docs.invalid/guide. " * 30
    pieces = [text[i:i + RNG.randint(1, 9)] for i in range(0, len(text), 9)]
    pieces = [p for p in pieces if p]
    events = events_for(family, pieces)
    stream = MaskingStream(BLOCK, family, None)  # type: ignore[arg-type]
    first = 3 if family == "anthropic" else 1  # the events before the text's
    out = [o for event in events[:first] for o in stream.feed(event)]
    fed = released = 0
    first_text_at = None
    for event, piece in zip(events[first:], pieces, strict=False):
        out += stream.feed(event)
        fed += len(piece)
        released = len(streamed_text(b"".join(out), family))
        if released and first_text_at is None:
            first_text_at = fed
        assert released == 0 or fed - 384 - 9 <= released <= fed - 256
    assert first_text_at is not None and 288 <= first_text_at <= 288 + 9
    whole = relay(MaskingStream(BLOCK, family, None), events)  # type: ignore[arg-type]
    assert parsed([whole]) == parsed(events)
    assert stream.blocked is None and stream.report is None


def test_block_on_the_responses_api() -> None:
    stream = MaskingStream(BLOCK, "openai", None)
    raw = relay(stream, responses_stream(LEAK))
    assert stream.blocked is not None
    assert not any(piece in raw for piece in eights(KEY))


def test_block_drops_logprobs_that_would_spell_the_text_out_ahead_of_the_hold() -> None:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "fine words " * 40},
                          "logprobs": {"content": [{"token": "fine", "logprob": -0.1}]},
                          "finish_reason": None}]}
    raw = relay(MaskingStream(BLOCK, "openai", None),
                [b"data: " + msgspec.json.encode(chunk) + b"\n\n", *chat_stream("")[1:]])
    assert all(c["choices"][0]["logprobs"] is None for _, c in parsed([raw])
               if isinstance(c, dict) and c["choices"])


def test_block_judges_tool_call_arguments_as_they_pass() -> None:
    calls = [{"index": 0, "id": "call_1", "type": "function",
              "function": {"name": "send", "arguments": '{"key": "'}},
             {"index": 0, "function": {"arguments": KEY}},
             {"index": 0, "function": {"arguments": '"}'}}]
    events = [chat_chunk({"role": "assistant", "content": None}),
              *[chat_chunk({"tool_calls": [call]}) for call in calls],
              chat_chunk({}, "tool_calls"), b"data: [DONE]\n\n"]
    stream = MaskingStream(BLOCK, "openai", None)
    relay(stream, events)
    assert stream.blocked is not None and stream.blocked.reason == "secrets.openai_api_key"


# -- watching only: flag, or observe mode ------------------------------------------------------


@pytest.mark.parametrize(("config", "mode", "verdict"), [
    (BLOCK, "observe", "block"), (MASK, "observe", "redact"),
    (OutputPolicyConfig(action="flag"), "enforce", None)])
def test_watching_only_passes_every_byte_through_at_once(
        config: OutputPolicyConfig, mode: str, verdict: str | None) -> None:
    for family, events in (("openai", chat_stream(LEAK)), ("anthropic", anthropic_stream(LEAK)),
                           ("openai", responses_stream(LEAK))):
        stream = MaskingStream(config, family, None, mode=mode)  # type: ignore[arg-type]
        for event in events:
            assert stream.feed(event) == [event]  # the same bytes, not one held back
        assert stream.finish() == []
        assert stream.blocked is None and stream.watching and not stream.masking
        report = stream.report
        if verdict is None:
            assert report is None  # flags only: nothing to report
        else:
            assert report is not None and report.verdict == verdict
            assert report.applied == "allow"


def test_a_failing_guard_still_ends_a_flagged_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(text: str) -> list[Finding]:
        raise RuntimeError("guard bug")

    monkeypatch.setattr(pii, "scan", broken)
    events = chat_stream("a harmless answer " * 10)
    stream = MaskingStream(OutputPolicyConfig(action="flag"), "openai", None, hold=64)
    sent = relay(stream, events)
    assert stream.blocked is not None and stream.blocked.reason == "pii.guard_error"
    assert b"".join(events).startswith(sent) and len(sent) < len(b"".join(events))
    observed = MaskingStream(OutputPolicyConfig(action="flag"), "openai", None,
                             mode="observe", hold=64)
    assert relay(observed, events) == b"".join(events)


def test_a_key_given_twice_in_an_event_never_smuggles_its_other_copy() -> None:
    from gateway_cli.formats.strict_json import DuplicateKey

    event = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
             b'"choices":[{"index":0,"delta":{"content":"' + KEY.encode()
             + b'","content":"ok"},"finish_reason":null}]}\n\n')
    # Enforcing: what goes out is re-encoded from the copy that was judged.
    out = b"".join(run(MaskingStream(MASK, "openai", None), [event, b"data: [DONE]\n\n"]))
    assert KEY.encode() not in out and b'"ok"' in out
    # Watching (flag): the bytes would go out as they came, so the stream ends instead.
    with pytest.raises(DuplicateKey):
        MaskingStream(OutputPolicyConfig(action="flag"), "openai", None).feed(event)
