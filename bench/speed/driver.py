"""The inspected request path in-process, one shape N times: what callgrind counts.

Wall-clock timings on a shared, loaded machine are noise; instruction counts
are not. `count.py` runs this driver once under `valgrind --tool=callgrind`
with a dump at every `mark()`, so the instructions of each shape's N
iterations are counted apart from imports, set-up and warm-up; minus the
empty loop's, divided by N, they are the instructions per request or per
stream, whatever else the machine runs.

Shapes (the issue 22 bench shapes and the 4 KB prompts of bench/guards):

- `request`: the 1,642 B chat request of bench/chat.lua (a system prompt,
  two exchanges and a question) parsed, screened by the default policy
  (`request.inspect_request.screen`), with its request id;
- `answer`: the bench upstream's 1,120 B `chat.completion` (768 B of answer
  text) through `request.inspect_answer.judge_and_restore`;
- `stream`: a 50-event `chat.completion.chunk` SSE stream of the same text
  through the output policy's `MaskingStream` (default: block, hold 256);
- `code`, `ticket`, `agent`: the three 4 KB prompts of bench/guards through
  `Inspector.inspect_slots`, as bench/guards/run.py times them;
- `code:secrets`, `ticket:classifier`, ... (prompt:guard, guard one of
  `secrets`, `pii`, `rules`, `classifier`): one guard alone on one prompt;
- `request:secrets`, `answer:secrets`: the secrets guard alone on the text the
  `request` and `answer` shapes hand it (the request's strings joined, the
  answer's), captured from one run of each; `request-unicode:secrets`,
  `answer-unicode:secrets`: the same with "That\u2019s it \u2014 thanks." appended
  (a curly apostrophe or a dash makes a text non-ASCII, and the guard takes
  another path for it); `request:format`, `request-unicode:format`, ...: the
  secrets then the PII guard on a fresh copy of that text, as the path runs them;
- `empty`: nothing (the loop alone).

Every shape above judges its texts in full each time (the verdict cache off),
so counts stay comparable with earlier runs. Two more show the cache
(guards/verdict_cache.py) as a conversation meets it:

- `conversation`: the `request` shape whose last user turn is new at every
  call (a counter in it; 2,000 bodies built in advance), the rest of the
  history the same: what a chat client or agent sends turn after turn;
- `repeat`: the same request every time (what `bench/chat.lua` sends), every
  text remembered after the first.

Usage: driver.py N SHAPE...  (runs `empty` first, then each shape N times
between two `mark()` calls; prints a digest of what each shape produced, so a
change that alters a result shows up next to its count).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH / "guards"))

import msgspec  # noqa: E402

from gateway_cli.config import parse_config  # noqa: E402
from gateway_cli.guards import extract  # noqa: E402
from gateway_cli.guards.mask_stream import MaskingStream  # noqa: E402
from gateway_cli.guards.pipeline import Inspector  # noqa: E402
from gateway_cli.keys.principal import OPEN  # noqa: E402
from gateway_cli.providers.adapt import Ids  # noqa: E402
from gateway_cli.providers.operations import Op  # noqa: E402
from gateway_cli.request.call import Call  # noqa: E402
from gateway_cli.request.inspect_answer import judge_and_restore  # noqa: E402
from gateway_cli.request.inspect_request import screen  # noqa: E402
from gateway_cli.request.parse import parse  # noqa: E402
from gateway_cli.server.proxy import new_request_id  # noqa: E402

EVENTS = 50


def chat_request() -> bytes:
    """bench/chat.lua's body, built from the same string literals."""
    lua = (BENCH / "chat.lua").read_text()
    system_src = lua.split("local system =", 1)[1].split("local turns", 1)[0]
    system = "".join(re.findall(r'"([^"]*)"', system_src))
    turns_src = lua.split("local turns = {", 1)[1].split("\n}\n", 1)[0] + "\n"
    turns = []
    for role, rest in re.findall(r'\{"(user|assistant)", (.*?)\},?\n', turns_src, re.S):
        turns.append({"role": role, "content": "".join(re.findall(r'"([^"]*)"', rest))})
    body = {"model": "bench-model",
            "messages": [{"role": "system", "content": system}, *turns],
            "temperature": 0.2, "max_tokens": 400, "user": "bench-user-0001"}
    return msgspec.json.encode(body)


def conversation_bodies(raw: bytes, count: int) -> Iterator[bytes]:
    """`raw` with its last user turn made new each time; the history stays the same."""
    body = msgspec.json.decode(raw)
    last = body["messages"][-1]["content"]
    bodies = [msgspec.json.encode({**body, "messages": [
        *body["messages"][:-1], {"role": "user", "content": f"{last} (turn {i})"}]})
        for i in range(count)]
    return itertools.cycle(bodies)


def answer_bytes() -> bytes:
    return (BENCH / "upstream" / "chat.json").read_bytes()


def stream_events(text: str, events: int = EVENTS) -> list[bytes]:
    """The answer's text cut into `events` deltas, framed as the upstream frames them."""
    cuts = [len(text) * i // events for i in range(events + 1)]
    out = []
    head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
            "model": "bench-model"}
    for i in range(events):
        delta: dict[str, Any] = {"content": text[cuts[i]:cuts[i + 1]]}
        if i == 0:
            delta["role"] = "assistant"
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        out.append(b"data: " + msgspec.json.encode(chunk) + b"\n\n")
    last = {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    out.append(b"data: " + msgspec.json.encode(last) + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out


def shapes() -> dict[str, Any]:
    config = parse_config({})
    inspection = config.inspection
    inspector = Inspector(msgspec.structs.replace(inspection, cache_entries=0))
    remembering = Inspector(inspection)
    raw = chat_request()
    turns = conversation_bodies(raw, 2000)
    answer = answer_bytes()
    text = msgspec.json.decode(answer)["choices"][0]["message"]["content"]
    events = stream_events(text)

    def request() -> object:
        body = parse(Op.CHAT, raw, config.server.max_json_depth)
        rid = new_request_id()
        screened = screen(inspector, Op.CHAT, body, raw, body["model"], OPEN, rid)
        return (screened.raw, screened.headers, sorted(screened.known))

    def screened(inspector: Inspector, raw: bytes) -> object:
        body = parse(Op.CHAT, raw, config.server.max_json_depth)
        rid = new_request_id()
        screened = screen(inspector, Op.CHAT, body, raw, body["model"], OPEN, rid)
        return (screened.raw, screened.headers, sorted(screened.known))

    def conversation() -> object:
        return screened(remembering, next(turns))

    def repeat() -> object:
        return screened(remembering, raw)

    def judged() -> object:
        call = Call(op=Op.CHAT, body={}, raw=b"", client_headers={},
                    ids=Ids("0" * 24, 0), output=inspection.output, mode=inspection.mode)
        headers: list[tuple[bytes, bytes]] = []
        return (judge_and_restore(answer, "openai", call, headers), headers)

    def stream() -> object:
        policy = MaskingStream(inspection.output, "openai", None, frozenset(),
                               mode=inspection.mode)
        out: list[bytes] = []
        for event in events:
            out.extend(policy.feed(event))
        out.extend(policy.finish())
        return (out, policy.blocked)

    import eval_injection
    import eval_pii
    import eval_secrets

    prompts = {"code": eval_secrets.realistic_prompt(4096), "ticket": eval_pii.PROMPT_4K,
               "agent": eval_injection.realistic_prompt()}

    def four_kb(text: str) -> Any:
        slot = extract.TextSlot(path=("messages", 0, "content"), text=text, source="user")
        body = {"messages": [{"role": "user", "content": text}]}

        def run() -> object:
            inspection_ = inspector.inspect_slots([slot], body, "m")
            return (inspection_.decision, [(p.finding.guard, p.finding.kind, p.finding.start,
                                            p.finding.end) for p in inspection_.findings])
        return run

    from gateway_cli.guards import pii, secrets
    from gateway_cli.guards.injection import InjectionGuard
    from gateway_cli.guards.injection.classifier import shipped

    # Each guard alone on each prompt (`code:secrets`, `ticket:classifier`, ...): what the
    # Inspector's count is made of, the rest being policy, decision and redaction.
    alone = {"secrets": secrets.scan, "pii": pii.scan,
             "rules": InjectionGuard(classifier=None).scan, "classifier": shipped().locate}

    def one(guard: Any, text: str) -> Any:
        return lambda: guard(text)

    scanned = {"request": scanned_texts(request), "answer": scanned_texts(judged)}
    scanned |= {f"{name}-unicode": f"{text} That\u2019s it \u2014 thanks."
                for name, text in scanned.items()}

    return {"empty": lambda: None, "request": request, "answer": judged, "stream": stream,
            "conversation": conversation, "repeat": repeat,
            **{name: four_kb(t) for name, t in prompts.items()},
            **{f"{name}:{g}": one(fn, t) for name, t in prompts.items() for g, fn in alone.items()},
            **{f"{name}:secrets": one(secrets.scan, t) for name, t in scanned.items()},
            **{f"{name}:format": both(t) for name, t in scanned.items()}}


def both(text: str) -> Any:
    """The secrets then the PII guard on one new copy of `text`, as a request's joined
    text meets them (a copy each call: nothing is kept from the call before)."""
    from gateway_cli.guards import pii, secrets

    def run() -> Any:
        fresh = text[:1] + text[1:]
        return secrets.scan(fresh), pii.scan(fresh)
    return run


def scanned_texts(run: Any) -> str:
    """The one text the secrets guard is handed when `run` runs (the path joins a
    request's or an answer's strings before the format guards see them)."""
    from gateway_cli.guards.secrets import engine

    seen: list[str] = []
    scan = engine._scan

    def spy(text: str) -> Any:
        seen.append(text)
        return scan(text)

    engine._scan = spy
    try:
        run()
    finally:
        engine._scan = scan
    if len(seen) != 1:
        raise SystemExit(f"expected one secrets scan, saw {len(seen)}")
    return seen[0]


def digest(result: object) -> str:
    """Results with the request id left out (random per request)."""
    return hashlib.sha256(repr(result).encode()).hexdigest()[:16]


def mark() -> None:
    """A boundary for callgrind: count.py runs it with --dump-before=getppid, so each call
    writes the instructions counted since the previous one and starts again from zero."""
    os.getppid()


def main() -> int:
    count, names = int(sys.argv[1]), sys.argv[2:]
    table = shapes()
    runs = [(name, table[name]) for name in ("empty", *names)]
    digests = {name: digest(run()) for name, run in runs}  # warm-up: caches, lazy imports
    for _name, run in runs:
        mark()
        for _ in range(count):
            run()
    mark()
    for name, _ in runs:
        print(f"{name} {count} {digests[name]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
