"""Streamed answers masked in flight (`[inspection.output] action = "mask"`), end to end.

A fake upstream streams a scripted answer (`FakeUpstream.say`) that leaks an
API key and an email address, cut into one-character events; the official
SDKs read it through a real gateway process. The key is generated at run
time, so the repository holds no real-format secret.
"""

from __future__ import annotations

import os
import random
import re
import string
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.conftest import Gateway, start_gateway, stop_gateway
from tests.fakes.upstream import FakeUpstream, drop_mid_stream

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


def _start(tmp: object, fakes: dict[str, FakeUpstream], inspection: str) -> Gateway:
    config = f"""
[[providers]]
name = "oa"
kind = "openai"
base_url = "{fakes['oa'].url}/v1"
secret = "env:STREAMMASK_KEY"

[[providers]]
name = "an"
kind = "anthropic"
base_url = "{fakes['an'].url}"
secret = "env:STREAMMASK_KEY"

[[models]]
name = "gpt"
deployments = [{{ provider = "oa", model = "gpt" }}]

[[models]]
name = "claude"
deployments = [{{ provider = "an", model = "claude" }}]
{inspection}
"""
    return start_gateway(tmp, config=config,  # type: ignore[arg-type]
                         env={**os.environ, "STREAMMASK_KEY": KEY})


@pytest.fixture(scope="module")
def masking(fakes: dict[str, FakeUpstream],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = _start(tmp_path_factory.mktemp("mask"), fakes,
                     '[inspection]\noutput = { action = "mask" }\n')
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


def test_block_still_ends_the_stream_with_an_error_event(
        fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> None:
    gateway = _start(tmp_path_factory.mktemp("block"), fakes, "[inspection]\n")
    fakes["oa"].say("Sure, the key is ", f"{LEAKED_KEY} ", "- keep it safe.")
    try:
        received: list[str] = []
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0,
                               timeout=30)
        with pytest.raises(openai.APIError) as info:
            for chunk in client.chat.completions.create(
                    model="gpt", stream=True, messages=[{"role": "user", "content": "key?"}]):
                if chunk.choices:
                    received.append(chunk.choices[0].delta.content or "")
        assert "withheld" in str(info.value) and "secrets.openai_api_key" in str(info.value)
        _no_leak(received)
    finally:
        stop_gateway(gateway)
    assert "cut by policy: secrets.openai_api_key" in gateway.log()


def test_observe_mode_passes_the_leak_but_reports_it(
        fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> None:
    gateway = _start(tmp_path_factory.mktemp("observe"), fakes,
                     '[inspection]\nmode = "observe"\noutput = { action = "mask" }\n')
    fakes["oa"].say(*leak())
    try:
        text, _ = _openai_text(gateway)
    finally:
        stop_gateway(gateway)
    assert text == "".join(leak())
    log = gateway.log()
    assert "output policy observe: redact (" in log
    assert LEAKED_KEY not in log and LEAKED_EMAIL not in log
