"""bench/speed/driver.py measures the real inspected path on the bench shapes.

Its counts only mean something if each shape does the work it names: the
request is chat.lua's body byte for byte and is screened (allowed, sent
unchanged), the answer passes the output policy unchanged, and the stream's
50 events reach the client with every character of the text, in the
upstream's cuts, after the hold.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import msgspec

ROOT = Path(__file__).resolve().parents[3]


def _driver() -> ModuleType:
    path = ROOT / "bench" / "speed" / "driver.py"
    spec = importlib.util.spec_from_file_location("bench_speed_driver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_speed_driver", module)
    spec.loader.exec_module(module)
    return module


driver = _driver()


def test_the_request_is_chat_lua_s_body() -> None:
    raw = driver.chat_request()
    assert len(raw) == 1642  # what bench/README.md and chat.lua's header say
    body = msgspec.json.decode(raw)
    assert [m["role"] for m in body["messages"]] == [
        "system", "user", "assistant", "user", "assistant", "user"]
    assert body["messages"][0]["content"].startswith("You are a senior backend engineer")
    assert body["messages"][-1]["content"].endswith("how to size the pool.")
    assert (body["temperature"], body["max_tokens"], body["user"]) == (0.2, 400,
                                                                       "bench-user-0001")


def test_each_shape_does_the_work_it_names() -> None:
    shapes = driver.shapes()
    sent, headers, known = shapes["request"]()
    assert sent == driver.chat_request() and headers == () and known == []
    answer, answer_headers = shapes["answer"]()
    assert answer == driver.answer_bytes() and answer_headers == []
    out, blocked = shapes["stream"]()
    assert blocked is None
    text = msgspec.json.decode(driver.answer_bytes())["choices"][0]["message"]["content"]
    deltas = [msgspec.json.decode(e[6:])["choices"][0]["delta"].get("content", "")
              for e in out if e.startswith(b"data: {")]
    assert "".join(deltas) == text
    assert sum(1 for d in deltas if d) == driver.EVENTS  # released in the upstream's cuts
    assert out[-1] == b"data: [DONE]\n\n"
    for name in ("code", "ticket", "agent"):
        decision, findings = shapes[name]()
        assert decision.verdict in ("allow", "redact", "block")
        assert isinstance(findings, list)


def test_the_conversation_shape_sends_a_new_last_turn_each_time() -> None:
    bodies = driver.conversation_bodies(driver.chat_request(), 3)
    first, second, third, again = (msgspec.json.decode(next(bodies)) for _ in range(4))
    original = msgspec.json.decode(driver.chat_request())
    assert first["messages"][:-1] == second["messages"][:-1] == original["messages"][:-1]
    assert len({m["messages"][-1]["content"] for m in (first, second, third)}) == 3
    assert again == first  # a cycle of the bodies built in advance
    shapes = driver.shapes()
    sent, headers, known = shapes["conversation"]()
    assert msgspec.json.decode(sent)["messages"][-1]["content"].endswith("(turn 0)")
    assert headers == () and known == []
    assert shapes["repeat"]() == shapes["request"]()  # remembered or judged, the same


def test_a_leak_in_the_stream_shape_is_cut() -> None:
    """The stream shape runs the enforcing policy: the same events with a key are cut."""
    from gateway_cli.config import parse_config
    from gateway_cli.guards.mask_stream import MaskingStream

    key = "xoxb-123456789012-1234567890123-" + "Ab3dEf6hIj9kLm2nOp5qRs8t"
    events = driver.stream_events("Here is the token you asked for: " + key + " " + "x " * 200)
    output = parse_config({}).inspection.output
    policy = MaskingStream(output, "openai", None, frozenset())
    out: list[bytes] = []
    for event in events:
        out.extend(policy.feed(event))
    assert policy.blocked is not None
    assert not any(key[:8].encode() in piece for piece in out)


def test_each_guard_alone_runs_on_each_prompt() -> None:
    """The per-guard shapes do the guard's own work: the classifier gives its (p, start, end),
    the format guards their findings, on the same prompt the Inspector shape screens."""
    table = driver.shapes()
    for prompt in ("code", "ticket", "agent"):
        p, start, end = table[f"{prompt}:classifier"]()
        assert 0.0 < p < 0.5 and start == 0 and end == 4096
        assert table[f"{prompt}:rules"]() == []
    assert [f.kind for f in table["ticket:pii"]()].count("email") >= 1
    assert table["code:secrets"]() == []
