"""Streamed answers held back and judged in flight, end to end: masked (`action = "mask"`),
or ended before any of a finding is sent (`"block"`, the default); passed on at once when
only watching (`"flag"`, observe mode).

A fake upstream streams a scripted answer (`FakeUpstream.say`) that leaks an
API key and an email address, cut into one-character events (or ending exactly
where an event ends); the official SDKs read it through a real gateway process.
The secrets are generated at run time, so the repository holds no real-format
secret.
"""

from __future__ import annotations

import os
import random
import re
import string
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import msgspec
import openai
import pytest

from gateway_cli.formats.sse import SSEParser
from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.config import GatewayConfig, Value, deployment
from tests.fakes.upstream import FakeUpstream, drop_mid_stream, slow_stream

KEY = "sk-test-streammask-" + "m" * 20  # the gateway's key for the fake providers
_RNG = random.Random()
_ALNUM = string.ascii_letters + string.digits
LEAKED_KEY = ("sk-proj-" + "".join(_RNG.choice(_ALNUM) for _ in range(20)) + "T3BlbkFJ"
              + "".join(_RNG.choice(_ALNUM) for _ in range(20)))
LEAKED_EMAIL = "ops.oncall@internal-corp.example"
USER_EMAIL = "jane.doe@example.com"

BEFORE = "Here is what I found in the runbook. " * 20  # longer than the hold
AFTER = " Let me know if you need anything else." * 20


def leak() -> list[str]:
    """The scripted answer: the leaks arrive one character per event."""
    return [*re.findall(r"\S+\s*", BEFORE), "The key is ", *LEAKED_KEY,
            " and the on-call address is ", *LEAKED_EMAIL, ".", *re.findall(r"\s*\S+", AFTER)]


MASKED = "The key is sk-p**** and the on-call address is ops.****."


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    started = {"oa": FakeUpstream("oa", api_key=KEY).start(),
               "an": FakeUpstream("an", api_key=KEY, kind="anthropic").start()}
    yield started
    for fake in started.values():
        fake.stop()


def _start(tmp: Path, fakes: dict[str, FakeUpstream], **inspection: Value) -> Gateway:
    """A gateway on both fakes; `inspection` is its [inspection] table (empty: defaults)."""
    config = (GatewayConfig()
              .provider("oa", "openai", base_url=f"{fakes['oa'].url}/v1",
                        secret="env:STREAMMASK_KEY")
              .provider("an", "anthropic", base_url=fakes["an"].url,
                        secret="env:STREAMMASK_KEY")
              .model("gpt", deployment("oa", "gpt"))
              .model("claude", deployment("an", "claude"))
              .section("inspection", **inspection))
    return start_gateway(tmp, config=config.toml(), env={**os.environ, "STREAMMASK_KEY": KEY})


@pytest.fixture(scope="module")
def masking(fakes: dict[str, FakeUpstream],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _start(tmp_path_factory.mktemp("mask"), fakes, output={"action": "mask"})
    yield gateway
    stop_gateway(gateway)
    assert LEAKED_KEY not in gateway.log() and LEAKED_EMAIL not in gateway.log()


@pytest.fixture(autouse=True)
def _fresh(fakes: dict[str, FakeUpstream]) -> None:
    for fake in fakes.values():
        fake.clear()


def _openai_text(gateway: Gateway, model: str = "gpt",
                 content: str = "read me the runbook") -> tuple[str, list[str]]:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    deltas = []
    for chunk in client.chat.completions.create(
            model=model, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": content}]):
        if chunk.choices:
            deltas.append(chunk.choices[0].delta.content or "")
    return "".join(deltas), deltas


def _no_leak(pieces: list[str]) -> None:
    for secret in (LEAKED_KEY, LEAKED_EMAIL):
        assert secret not in "".join(pieces)
        assert all(secret not in piece for piece in pieces)


def test_openai_stream_is_masked_in_flight(masking: Gateway,
                                           fakes: dict[str, FakeUpstream]) -> None:
    fakes["oa"].say(*leak())
    text, deltas = _openai_text(masking)
    _no_leak(deltas)
    assert text == BEFORE + MASKED + AFTER
    assert "secrets.openai_api_key" in masking.log() or "pii.email" in masking.log()


def test_anthropic_stream_is_masked_in_flight(masking: Gateway,
                                              fakes: dict[str, FakeUpstream]) -> None:
    fakes["an"].say(*leak())
    client = anthropic.Anthropic(base_url=masking.url, api_key="x", max_retries=0, timeout=30)
    with client.messages.stream(model="claude", max_tokens=500,
                                messages=[{"role": "user", "content": "runbook?"}]) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    _no_leak(deltas)
    assert "".join(deltas) == BEFORE + MASKED + AFTER
    assert final.content[0].type == "text" and final.content[0].text == "".join(deltas)
    assert final.stop_reason == "end_turn"


def test_openai_client_on_an_anthropic_model_is_masked(masking: Gateway,
                                                       fakes: dict[str, FakeUpstream]) -> None:
    fakes["an"].say(*leak())
    text, deltas = _openai_text(masking, model="claude")
    _no_leak(deltas)
    assert text == BEFORE + MASKED + AFTER


def test_values_the_request_carried_are_restored_not_masked(
        masking: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    """The request's email goes upstream as [EMAIL_1]; restored for the client, it stays."""
    fakes["oa"].say("I will write to ", "[EMA", "IL_1", "] and copy ", *LEAKED_EMAIL, " today.")
    text, deltas = _openai_text(masking, content=f"my address is {USER_EMAIL}")
    assert USER_EMAIL.encode() not in fakes["oa"].requests[-1].body
    assert text == f"I will write to {USER_EMAIL} and copy ops.**** today."
    _no_leak(deltas)


def test_a_stream_broken_mid_secret_does_not_release_half_of_it(
        masking: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    """Cut inside the key: the held text (half a key, no longer recognisable) is dropped."""
    chunks = leak()
    mid_key = chunks.index("The key is ") + 1 + len(LEAKED_KEY) // 2
    fakes["oa"].say(*chunks)
    fakes["oa"].script(drop_mid_stream(1 + mid_key))  # the role chunk, then these
    received: list[str] = []
    client = openai.OpenAI(base_url=masking.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
                model="gpt", stream=True, messages=[{"role": "user", "content": "runbook?"}]):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "broke off" in str(info.value)
    assert "sk-proj-" not in "".join(received)
    assert BEFORE.startswith("".join(received))


def test_tool_call_deltas_pass_untouched(masking: Gateway) -> None:
    client = openai.OpenAI(base_url=masking.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    tools = [{"type": "function", "function": {
        "name": "weather", "parameters": {"type": "object",
                                          "properties": {"city": {"type": "string"}}}}}]
    fragments = []
    finish = None
    for chunk in client.chat.completions.create(
            model="gpt", stream=True, tools=tools,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "call a tool please"}]):
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            fragments.append(call.function.arguments if call.function else None)
        finish = choice.finish_reason or finish
    assert fragments == ["", '{"city', '": "', "Paris", '"}']
    assert finish == "tool_calls"


# -- block (the default action): the same hold, judged before any of a finding leaves ----------

LEAKED_MAIL = "".join(_RNG.choice(string.ascii_lowercase) for _ in range(10)) + "@corp-mail.invalid"


def _eights(secret: str) -> list[bytes]:
    """Every run of 8 characters of `secret`: none may reach the client."""
    return [secret[i:i + 8].encode() for i in range(len(secret) - 7)]


def _sse(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    return [(e.event, msgspec.json.decode(e.data)) for e in SSEParser().feed(raw)
            if e.data.startswith("{")]


def _openai_raw(gateway: Gateway, model: str = "gpt") -> tuple[bytes, str, str]:
    """The raw SSE bytes the OpenAI SDK received, the text in them, the last event's error."""
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    with client.chat.completions.with_streaming_response.create(
            model=model, stream=True, messages=[{"role": "user", "content": "runbook?"}]
    ) as response:
        raw = b"".join(response.iter_bytes())
    events = _sse(raw)
    text = "".join(c["delta"].get("content") or "" for _, e in events
                   for c in e.get("choices") or [])
    return raw, text, events[-1][1].get("error", {}).get("message", "")


def _anthropic_raw(gateway: Gateway) -> tuple[bytes, str, str]:
    client = anthropic.Anthropic(base_url=gateway.url, api_key="x", max_retries=0, timeout=30)
    with client.messages.with_streaming_response.create(
            model="claude", max_tokens=500, stream=True,
            messages=[{"role": "user", "content": "runbook?"}]) as response:
        raw = b"".join(response.iter_bytes())
    events = _sse(raw)
    text = "".join(e["delta"]["text"] for name, e in events
                   if name == "content_block_delta" and e["delta"]["type"] == "text_delta")
    name, last = events[-1]
    return raw, text, last["error"]["message"] if name == "error" else ""


@pytest.fixture(scope="module")
def blocking(fakes: dict[str, FakeUpstream],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _start(tmp_path_factory.mktemp("block"), fakes)  # the defaults
    yield gateway
    stop_gateway(gateway)
    assert LEAKED_KEY not in gateway.log() and LEAKED_MAIL not in gateway.log()


def _key_per_character() -> list[str]:
    return [*re.findall(r"\S+\s*", BEFORE), "The key is ", *LEAKED_KEY, " - keep it safe.",
            *re.findall(r"\s*\S+", AFTER)]


def _mail_at_an_event_boundary() -> list[str]:
    return [*re.findall(r"\S+\s*", BEFORE), "Write to ", LEAKED_MAIL, " today.",
            *re.findall(r"\s*\S+", AFTER)]


@pytest.mark.parametrize(("script", "secret", "reason"), [
    (_key_per_character, LEAKED_KEY, "secrets.openai_api_key"),
    (_mail_at_an_event_boundary, LEAKED_MAIL, "pii.email")])
@pytest.mark.parametrize("client", ["openai", "anthropic", "openai-on-claude"])
def test_block_ends_the_stream_before_any_of_the_secret_is_sent(
        blocking: Gateway, fakes: dict[str, FakeUpstream], client: str,
        script: Callable[[], list[str]], secret: str, reason: str) -> None:
    fakes["oa" if client == "openai" else "an"].say(*script())
    raw, text, error = _anthropic_raw(blocking) if client == "anthropic" else \
        _openai_raw(blocking, "gpt" if client == "openai" else "claude")
    assert "withheld" in error and reason in error  # the error event, in the client's format
    assert b"request id " in raw
    if client != "anthropic":  # OpenAI's error format carries a code: policy, not upstream
        assert b'"code":"output_blocked_by_policy"' in raw
    assert not any(piece in raw for piece in _eights(secret))
    # What came before: all but the last hold (256) to hold + hold // 2 (384) characters,
    # and the words of one more event.
    assert BEFORE.startswith(text) and len(text) >= len(BEFORE) - 384 - 20
    assert f"cut by policy: {reason}" in blocking.log()


def test_block_lets_an_answer_without_a_finding_through_in_its_own_deltas(
        blocking: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    script = [*re.findall(r"\S+\s*", BEFORE), *BEFORE[:300], *re.findall(r"\s*\S+", AFTER)]
    fakes["oa"].say(*script)
    text, deltas = _openai_text(blocking)
    assert text == "".join(script)
    assert deltas == ["", *script, ""]  # held back, not re-cut (role chunk, text, finish)


def test_block_with_the_sdk_s_own_stream_reader(blocking: Gateway,
                                                fakes: dict[str, FakeUpstream]) -> None:
    fakes["oa"].say(*_key_per_character())
    received: list[str] = []
    client = openai.OpenAI(base_url=blocking.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
                model="gpt", stream=True, messages=[{"role": "user", "content": "key?"}]):
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "withheld" in str(info.value) and "secrets.openai_api_key" in str(info.value)
    _no_leak(received)
    assert "sk-proj-" not in "".join(received) and BEFORE.startswith("".join(received))


SLOW = list("A short answer: held back, it would only show at its end.")


def _first_text_share(gateway: Gateway, fake: FakeUpstream) -> float:
    """When the first text showed, as a share of the whole stream's time (0.02 s per event)."""
    fake.say(*SLOW)
    fake.script(slow_stream(0.02))
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0,
                           timeout=30)
    started = time.monotonic()
    first = None
    for chunk in client.chat.completions.create(
            model="gpt", stream=True, messages=[{"role": "user", "content": "hi"}]):
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - started
    assert first is not None
    return first / (time.monotonic() - started)


def test_block_shows_the_first_text_only_after_the_hold(
        blocking: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    assert _first_text_share(blocking, fakes["oa"]) > 0.8  # shorter than the hold: at its end


@pytest.mark.parametrize(("inspection", "reported"), [
    ({"mode": "observe"}, "output policy observe: block ("),
    ({"output": {"action": "flag"}}, None)], ids=["observe", "flag"])
def test_observe_and_flag_pass_the_stream_through_unchanged_and_undelayed(
        fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory,
        inspection: dict[str, Value], reported: str | None) -> None:
    gateway = _start(tmp_path_factory.mktemp("watch"), fakes, **inspection)
    script = _key_per_character()
    fakes["oa"].say(*script)
    try:
        text, deltas = _openai_text(gateway)
        share = _first_text_share(gateway, fakes["oa"])
    finally:
        stop_gateway(gateway)
    assert text == "".join(script)
    assert deltas == ["", *script, ""]  # each upstream event as it came (role, text, finish)
    assert share < 0.5  # not held: the first text shows while the upstream is still sending
    if reported is not None:
        assert reported in gateway.log()
    assert LEAKED_KEY not in gateway.log()


def test_observe_mode_passes_the_leak_but_reports_it(
        fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> None:
    gateway = _start(tmp_path_factory.mktemp("observe"), fakes, mode="observe",
                     output={"action": "mask"})
    fakes["oa"].say(*leak())
    try:
        text, _ = _openai_text(gateway)
    finally:
        stop_gateway(gateway)
    assert text == "".join(leak())
    log = gateway.log()
    assert "output policy observe: redact (" in log
    assert LEAKED_KEY not in log and LEAKED_EMAIL not in log
