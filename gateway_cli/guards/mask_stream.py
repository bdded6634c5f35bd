"""Mask what a streamed answer leaks, in flight (`[inspection.output] action = "mask"`).

A whole answer is masked by `output_policy.inspect_answer`. A stream cannot
be judged whole, so the text of each slot (an OpenAI choice's
`delta.content`, an Anthropic text block, a Responses `output_text` part)
goes through its own `TextMasker`, which holds back the end of the text:

- Text is released once more than `hold + step` characters are held, down
  to `hold`. A finding of up to `hold` characters is therefore seen whole
  before any of it leaves, however the upstream cut it into events (one
  character per event included), and the released text is masked exactly
  as `redact(..., style="mask")` masks the whole answer (`sk-p****`).
- The scan covers up to `context` characters of already released text before
  the released part (a keyword or a `![x](` a finding depends on) and all
  the held text after it.
- A finding still reaching the end of what has arrived, or an unbroken run of
  non-space characters longer than `hold` (a long URL or token, a PEM block
  without its END line), may still grow: it is held whole until it ends, up
  to `max_hold` characters (8192 by default). Past that it is cut: the part
  released is masked, and its first `context` characters stay in view of
  later scans so the rest is still recognised and masked. What a guard can
  only recognise once more than `hold` characters of it have gone out (no
  finding while it grows, spaces inside) is masked only from there on.
- The held text is flushed, masked, just before the event that closes its
  slot (`finish_reason`, `content_block_stop`, `response.output_text.done`),
  or before `[DONE]` / `message_delta` / `response.completed`, or at the
  end of the stream (`finish`) when the upstream never closed the slot. A
  stream that ends in an error (an error event, a broken or stalled
  upstream) drops the held text instead: it may be the start of a secret
  whose end never came, which no guard would then recognise.

The price is a delay of `hold` to `hold + step` characters of text (512 to
576 by default: about 130 to 150 tokens), longer only while a long unbroken
token arrives. Memory per slot is bounded by `2 * context + max_hold +
step` characters plus one event.

Only text deltas are delayed or rewritten. Role, usage, tool-call and every
other event pass through as they came (tool-call arguments and other
deltas are still scanned, and a guard failure still ends the stream; a
finding there is reported, not masked: rewriting JSON fragments could make
the arguments unparseable). Token log-probabilities spell the text out token
by token, so they are dropped (`logprobs: null`, or `[]` in the Responses
API). The full-text copies the Responses API repeats in its `.done` and
`response.completed` events are replaced by the masked text that was streamed.

Masking judges the text the client receives: `RestoringStream` runs first,
so a value the request carried, redacted upstream and restored here, is
judged like any other and skipped because the request carried it (`known`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from gateway_cli.config import OutputPolicyConfig
from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.guards import redact
from gateway_cli.guards.base import Finding
from gateway_cli.guards.output_policy import OutputWatch, leaks, policies, scanner
from gateway_cli.policy.decide import Decision, decide
from gateway_cli.providers.operations import Family

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode

HOLD = 512
Judge = Callable[[str], list[Finding]]
Slot = tuple[Any, ...]  # ("chat", index) | ("anthropic", index) | ("responses", output, part)


class TextMasker:
    """`redact(text, judge(text), style="mask")` for text arriving in pieces.

    `judge` returns the findings to mask in the text it is given (offsets into
    that text). Concatenating every `feed` and the `finish` equals the mask of
    the whole text as long as each finding is no longer than `hold` and
    depends on no more than `context` characters before it.
    """

    __slots__ = ("_buf", "_context", "_cut", "_due", "_head", "_hold", "_judge", "_max_hold",
                 "_pending", "_pending_len", "_step", "masked")

    def __init__(self, judge: Judge, *, hold: int = HOLD, step: int | None = None,
                 context: int | None = None, max_hold: int | None = None) -> None:
        if hold < 1:
            raise ValueError("hold must be positive")
        self._judge = judge
        self._hold = hold
        self._step = max(1, hold // 8) if step is None else step
        self._context = hold if context is None else context
        self._max_hold = 16 * hold if max_hold is None else max_hold
        if self._step < 1 or self._context < 0 or self._max_hold < hold:
            raise ValueError("need step >= 1, context >= 0 and max_hold >= hold")
        self._buf = ""  # released context, then the held text
        self._cut = 0  # where the held text starts in _buf
        self._head = ""  # the start of a finding cut in two, scanned before _buf
        self._pending: list[str] = []  # arrived since the last scan (joined when due)
        self._pending_len = 0
        self._due = hold + self._step  # held characters that make the next scan due
        self.masked = 0  # findings masked so far

    @property
    def held(self) -> int:
        return len(self._buf) - self._cut + self._pending_len

    def feed(self, chunk: str) -> str:
        if not chunk:
            return ""
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        if self.held < self._due:
            return ""
        return self._release(final=False)

    def finish(self) -> str:
        out = self._release(final=True) if self.held else ""
        self._buf, self._cut, self._head, self._due = "", 0, "", self._hold + self._step
        return out

    def _release(self, *, final: bool) -> str:
        if self._pending:
            self._buf += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        buf, cut, size, head = self._buf, self._cut, len(self._buf), len(self._head)
        # (start, end, finding), offsets in `buf`: a finding that began in the head starts
        # below 0. Findings that end in already released text were masked then.
        found = [(f.start - head, f.end - head, f)
                 for f in self._judge(self._head + buf if head else buf) if f.end - head > cut]
        end = size if final else self._boundary(buf, cut, found)
        spans = [Finding(f.guard, f.kind, max(start, cut) - cut, min(stop, end) - cut,
                         f.confidence, f.preview)
                 for start, stop, f in found if start < end]
        piece = buf[cut:end]
        out = redact.redact(piece, spans, style="mask")[0] if spans else piece
        self.masked += sum(1 for start, _, _ in found if cut <= start < end)
        keep = max(0, end - self._context)
        # A finding cut in two keeps its start in view (its first `context` characters),
        # so the rest is still recognised as part of it once that start has left `buf`.
        split = [start for start, stop, _ in found if start < end < stop]
        if split and min(split) < 0:
            pass  # it began in the head: the head stays
        elif split and min(split) < keep:
            self._head = buf[min(split):min(min(split) + self._context, keep)]
        else:
            self._head = ""
        self._buf = buf[keep:]
        self._cut = end - keep
        self._due = max(self._hold, size - end) + self._step
        return out

    def _boundary(self, buf: str, cut: int, found: list[tuple[int, int, Finding]]) -> int:
        """Where the text to release now ends: `hold` back, never inside a finding."""
        size = len(buf)
        floor = max(cut, size - self._max_hold)  # nothing is held longer than max_hold
        end = size - self._hold
        growing = [start for start, stop, _ in found if not buf[stop:].strip()]
        if buf and not buf[-1].isspace():
            growing.append(size - len(buf.rsplit(maxsplit=1)[-1]))  # an unbroken run
        end = min([end, *(start for start in growing if start >= floor)])
        while True:  # a finding is never cut in two, unless it outgrew max_hold
            inside = [start for start, stop, _ in found if floor <= start < end < stop]
            if not inside:
                return max(end, cut)
            end = min(inside)


class MaskingStream:
    """Client-format SSE in, the same events out with leaked text masked.

    `blocked` is set when policy ends the stream instead (a guard that failed
    without `fail_open`): the caller must then send none of the last output
    and end the stream with an error event. `report` is the strongest
    verdict seen, for the log.
    """

    def __init__(self, config: OutputPolicyConfig, family: Family, canary: str | None,
                 known: frozenset[str] = frozenset(), *, hold: int = HOLD) -> None:
        self._family = family
        self._known = known
        self._min = config.min_confidence
        self._hold = hold
        self._errors: set[str] = set()
        self._scan = scanner(config, canary, self._errors)
        self._policies = policies(config)
        self._watch = OutputWatch(config, "enforce", family, canary, known)  # other deltas
        self._parser = SSEParser()
        self._slots: dict[Slot, TextMasker] = {}
        self._last: dict[str, Any] = {}  # the last chunk or event, for the fields of a flush
        self._sent: dict[Slot, list[str]] = {}  # Responses: the text streamed per part
        self._items: dict[Slot, Any] = {}  # Responses: the item id of each part
        self._decision: Decision | None = None
        self.blocked: Decision | None = None
        self.masked = 0

    @property
    def report(self) -> Decision | None:
        """The strongest verdict on the text and on the other deltas, for the log."""
        seen = [d for d in (self.blocked, self._decision, self._watch.reported) if d is not None]
        return seen[0] if seen else None

    # -- judging -----------------------------------------------------------------------------

    def _judge(self, text: str) -> list[Finding]:
        found = leaks(self._scan(text), text, self._known)
        if found or self._errors:
            decision = decide(found, self._policies, mode="enforce",
                              errors=sorted(self._errors))
            if decision.applied == "block":
                self.blocked = decision
            if decision.verdict != "allow" and (self._decision is None
                                                or self._decision.verdict != "block"):
                self._decision = decision
        return [f for f in found if f.confidence >= self._min]

    def _slot(self, key: Slot) -> TextMasker:
        masker = self._slots.get(key)
        if masker is None:
            masker = self._slots[key] = TextMasker(self._judge, hold=self._hold)
        return masker

    def _close(self, key: Slot) -> str:
        masker = self._slots.pop(key, None)
        if masker is None:
            return ""
        out = masker.finish()
        self.masked += masker.masked
        return out

    def _whole(self, text: str) -> str:
        """A text that arrives whole (not as deltas), masked at once."""
        found = self._judge(text) if text else []
        self.masked += len(found)
        return redact.redact(text, found, style="mask")[0] if found else text

    # -- the stream --------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            out += self._event(event.event, event.data)
        return out

    def finish(self) -> list[bytes]:
        """Whatever is still held when the stream ends without closing its slots."""
        return self._flush_all()

    def _event(self, name: str | None, data: str) -> list[bytes]:
        payload = None
        if data.startswith("{"):
            try:
                payload = _decode(data)
            except msgspec.DecodeError:
                payload = None
        if not isinstance(payload, dict):
            before = self._flush_all() if data.strip() == "[DONE]" else []
            return [*before, encode_event(data.encode(), event=name)]
        self._last = payload
        other: list[str] = []
        if payload.get("type") == "error" or "error" in payload:  # the upstream gave up
            self._slots.clear()  # what is held may be half a secret: dropped, not flushed
            before = []
        elif self._family == "anthropic":
            before = self._anthropic(payload, other)
        elif "choices" in payload:
            before = self._chat(payload, other)
        else:
            before = self._responses(payload, other)
        if other and not self._watch.see(other):
            self.blocked = self._watch.blocked
        return [*before, encode_event(_encode(payload), event=name)]

    def _flush_all(self) -> list[bytes]:
        out: list[bytes] = []
        for key in list(self._slots):
            text = self._close(key)
            if text:
                out.append(self._flush_event(key, text))
        if self._watch.blocked is None and not self._watch.finish():
            self.blocked = self._watch.blocked
        return out

    def _flush_event(self, key: Slot, text: str) -> bytes:
        """One text delta carrying `text` for the slot `key`, to go before the current event."""
        if key[0] == "chat":
            envelope = {k: v for k, v in self._last.items() if k not in ("choices", "usage")}
            if "usage" in self._last:
                envelope["usage"] = None
            choice = {"index": key[1], "delta": {"content": text}, "logprobs": None,
                      "finish_reason": None}
            return encode_event(_encode({**envelope, "choices": [choice]}))
        if key[0] == "anthropic":
            return encode_event(_encode({"type": "content_block_delta", "index": key[1],
                                         "delta": {"type": "text_delta", "text": text}}),
                                event="content_block_delta")
        self._sent.setdefault(key, []).append(text)
        return encode_event(_encode({
            "type": "response.output_text.delta", "item_id": self._items.get(key, ""),
            "output_index": key[1], "content_index": key[2], "delta": text, "logprobs": [],
            "sequence_number": self._last.get("sequence_number", 0)}),
            event="response.output_text.delta")

    # -- OpenAI chat completions -------------------------------------------------------------

    def _chat(self, chunk: dict[str, Any], other: list[str]) -> list[bytes]:
        before: list[bytes] = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            key = ("chat", choice.get("index", 0))
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str) and delta["content"]:
                    delta["content"] = self._slot(key).feed(delta["content"])
                for call in delta.get("tool_calls") or []:
                    function = call.get("function") if isinstance(call, dict) else None
                    if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                        other.append(function["arguments"])
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
            if choice.get("finish_reason") is not None:
                rest = self._close(key)
                if rest:
                    before.append(self._flush_event(key, rest))
        return before

    # -- Anthropic messages ------------------------------------------------------------------

    def _anthropic(self, event: dict[str, Any], other: list[str]) -> list[bytes]:
        kind = event.get("type")
        key = ("anthropic", event.get("index"))
        if kind == "content_block_start":
            block = event.get("content_block")
            if isinstance(block, dict) and isinstance(block.get("text"), str) and block["text"]:
                block["text"] = self._slot(key).feed(block["text"])
        elif kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("text"), str):
                    delta["text"] = self._slot(key).feed(delta["text"])
                elif isinstance(delta.get("partial_json"), str):
                    other.append(delta["partial_json"])
        elif kind == "content_block_stop":
            rest = self._close(key)
            return [self._flush_event(key, rest)] if rest else []
        elif kind in ("message_delta", "message_stop"):
            return self._flush_all()
        return []

    # -- OpenAI Responses API ----------------------------------------------------------------

    def _responses(self, event: dict[str, Any], other: list[str]) -> list[bytes]:
        kind = event.get("type")
        key = ("responses", event.get("output_index", 0), event.get("content_index", 0))
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self._items.setdefault(key, event.get("item_id", ""))
            text = self._slot(key).feed(event["delta"])
            event["delta"] = text
            self._sent.setdefault(key, []).append(text)
            if event.get("logprobs"):
                event["logprobs"] = []
            return []
        if isinstance(event.get("delta"), str):
            other.append(event["delta"])
        before: list[bytes] = []
        if kind == "response.output_text.done":
            rest = self._close(key)
            if rest:
                before.append(self._flush_event(key, rest))
            self._part(event, key)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            if isinstance(event.get("part"), dict):
                self._part(event["part"], key)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(event.get("item"), event.get("output_index", 0))
        elif isinstance(event.get("response"), dict):  # created, in_progress, completed, ...
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                before += self._flush_all()
            for i, item in enumerate(event["response"].get("output") or []):
                self._item(item, i)
        return before

    def _item(self, item: Any, output_index: Any) -> None:
        if isinstance(item, dict):
            for j, content in enumerate(item.get("content") or []):
                if isinstance(content, dict):
                    self._part(content, ("responses", output_index, j))

    def _part(self, holder: dict[str, Any], key: Slot) -> None:
        """A full-text copy of a part (the `text` of a done event, part or item): as streamed."""
        text = holder.get("text")
        if not isinstance(text, str):
            return
        if key in self._sent and key not in self._slots:
            holder["text"] = "".join(self._sent[key])
        elif text:
            holder["text"] = self._whole(text)
        if holder.get("logprobs"):
            holder["logprobs"] = []
