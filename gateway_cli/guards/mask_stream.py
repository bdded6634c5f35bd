"""Hold back and judge the text of a streamed answer in flight: mask it, or block first.

A whole answer is judged by `output_policy.inspect_answer`. A stream cannot
be judged whole, so the text of each slot (an OpenAI choice's
`delta.content`, an Anthropic text block, a Responses `output_text` part)
goes through its own `TextMasker`, which holds back the end of the text:

- Text is released once more than `hold + step` characters are held, down
  to `hold` (or more: a release ends where a chunk fed ended); after the
  first release, once more than `hold + then` are held. A finding of
  up to `hold` characters is therefore seen whole before any of it leaves,
  however the upstream cut it into events (one character per event
  included), and the released text is masked exactly as
  `redact(..., style="mask")` masks the whole answer (`sk-p****`).
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

`MaskingStream` applies `[inspection.output]` to a client-format stream with
that machinery, in one of three ways:

- `action = "mask"`: the released text is masked, as above.
- `action = "block"`: the same hold, nothing masked. A finding that reaches
  the policy's threshold is judged while it is still held, so `blocked` is
  set before any of its characters is released; the caller ends the stream
  with an error event, the client having received only text from before the
  finding (all of it but the last `hold` to `hold + then` characters, or
  less). A stream with no finding arrives whole, in the upstream's deltas.
- `action = "flag"`, or `mode = "observe"`: watching only. Each `feed`
  returns the bytes it was given, at once and unchanged; the same machinery
  judges a copy, for the log (`report`). (A guard that fails still ends an
  enforced stream, as it would a whole answer.)

The hold (`stream_hold`, 256 characters by default, 64 to 8192) is what a
finding may need to be recognised before its first character leaves. A run
without spaces is held whole anyway (a key, a JWT, an e-mail address, a URL,
up to `max_hold`), so it matters for what has spaces in it or depends on the
words after it: a PEM private key is a finding once its header and 64
characters of key material have arrived (about 100 characters); an AWS
secret key counts when "aws" or a key id comes up to about 155 characters
after it (a hold of about 190 is then needed); a Google API key needs the 40
characters after it; a card number or an IBAN written in groups is under
50. 256 covers all of these with a margin; 512 would double the delay for
nothing the built-in guards need. The price is latency: the first text of a
slot goes out once `hold + step` characters have arrived (288 by default,
about 70 tokens: 0.75 s measured at 100 four-character events per second,
1.5 s with a hold of 512), and the text then trails the upstream by `hold`
to `hold + then` characters until the slot closes (the end of the answer is
not later: the rest is flushed at once). `step` is `hold // 8` (32) and
`then` is `hold // 2` (128): the first text is not delayed for the sake of
fewer scans, and once text flows it goes out 128 characters (about 30
tokens) at a time, which is a quarter of the scans of the held text and
its context that releasing every 32 characters needed. A long unbroken token delays it
further while it arrives. Memory per slot is bounded by `2 * context +
max_hold + then` characters plus one event; `context` is at least 256
characters, whatever the hold (the AWS rule looks 200 characters back).

Released text goes out in the deltas the upstream cut it into (a release
ends where a delta ended), so a stream with no finding reaches the client
event for event as the upstream sent it, only later; an event whose only
content was text still held is not sent. Masked text goes out in one piece
with the deltas it spanned.

Only text deltas are delayed or rewritten. Role, usage, tool-call and every
other event pass through as they came (tool-call arguments and other
deltas are still scanned, and a guard failure still ends the stream; a
finding there is reported, not masked: rewriting JSON fragments could make
the arguments unparseable). Blocking judges them as they pass, not held, so
part of a finding in tool-call arguments (all of it, if it ends where an
event ends) can be sent before the stream is cut. Token log-probabilities
spell the text out token by token, ahead of the hold, so with block or mask
they are dropped (`logprobs: null`, or `[]` in the Responses API). The
full-text copies the Responses API repeats in its `.done` and
`response.completed` events are replaced by the text that was streamed.

The text judged is the text the client receives: `RestoringStream` runs
first, so a value the request carried, redacted upstream and restored here,
is judged like any other and skipped because the request carried it
(`known`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import msgspec

from gateway_cli.config import Mode, OutputPolicyConfig
from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.formats.stream_index import check_room, index_of
from gateway_cli.formats.strict_json import DuplicateKey, JsonProblem, decode_unique
from gateway_cli.guards import answers, redact
from gateway_cli.guards.base import Finding
from gateway_cli.guards.output_policy import OutputWatch, leaks, policies, scanner
from gateway_cli.policy.decide import Decision, decide
from gateway_cli.providers.operations import Family

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

HOLD = 256  # the default of `[inspection.output] stream_hold`
CONTEXT = 256  # released text kept in view of later scans, at least
MAX_HOLD = 8192  # a still-growing finding is held whole up to this, at least
Judge = Callable[[str], list[Finding]]
_CHOICE_FIELDS = frozenset({"index", "delta", "logprobs", "finish_reason"})
Slot = tuple[Any, ...]  # ("chat", index) | ("anthropic", index) | ("responses", output, part)


class TextMasker:
    """`redact(text, judge(text), style="mask")` for text arriving in pieces.

    `judge` returns the findings to mask in the text it is given (offsets into
    that text). Concatenating every `feed` and the `finish` equals the mask of
    the whole text as long as each finding is no longer than `hold` and
    depends on no more than `context` characters before it.

    `feed_pieces` and `finish_pieces` give the same text cut where the chunks
    fed were cut (except inside a masked finding), so a stream can go on in
    the upstream's own deltas, only later.
    """

    __slots__ = ("_buf", "_context", "_cut", "_due", "_head", "_hold", "_judge", "_max_hold",
                 "_pending", "_pending_len", "_sizes", "_step", "_then", "masked")

    def __init__(self, judge: Judge, *, hold: int = HOLD, step: int | None = None,
                 context: int | None = None, max_hold: int | None = None,
                 then: int | None = None) -> None:
        if hold < 1:
            raise ValueError("hold must be positive")
        self._judge = judge
        self._hold = hold
        self._step = max(1, hold // 8) if step is None else step
        # The step once text has started to go out (see `MaskingStream`): `step` again
        # unless given.
        self._then = self._step if then is None else then
        self._context = hold if context is None else context
        self._max_hold = max(MAX_HOLD, hold) if max_hold is None else max_hold
        if min(self._step, self._then) < 1 or self._context < 0 or self._max_hold < hold:
            raise ValueError("need step >= 1, context >= 0 and max_hold >= hold")
        self._buf = ""  # released context, then the held text
        self._cut = 0  # where the held text starts in _buf
        self._head = ""  # the start of a finding cut in two, scanned before _buf
        self._pending: list[str] = []  # arrived since the last scan (joined when due)
        self._pending_len = 0
        self._sizes: deque[int] = deque()  # the lengths of the chunks the held text came in
        self._due = hold + self._step  # held characters that make the next scan due
        self.masked = 0  # findings masked so far

    @property
    def held(self) -> int:
        return len(self._buf) - self._cut + self._pending_len

    def feed(self, chunk: str) -> str:
        return "".join(self.feed_pieces(chunk))

    def finish(self) -> str:
        return "".join(self.finish_pieces())

    def feed_pieces(self, chunk: str) -> list[str]:
        if not chunk:
            return []
        self._pending.append(chunk)
        self._pending_len += len(chunk)
        self._sizes.append(len(chunk))
        if len(self._buf) - self._cut + self._pending_len < self._due:  # `held`, inlined
            return []
        return self._release(final=False)

    def finish_pieces(self) -> list[str]:
        out = self._release(final=True) if self.held else []
        self._buf, self._cut, self._head, self._due = "", 0, "", self._hold + self._step
        self._sizes.clear()
        return out

    def _release(self, *, final: bool) -> list[str]:
        if self._pending:
            self._buf += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        buf, cut, size, head = self._buf, self._cut, len(self._buf), len(self._head)
        # (start, end, finding), offsets in `buf`: a finding that began in the head starts
        # below 0. Findings that end in already released text were masked then.
        found = [(f.start - head, f.end - head, f)
                 for f in self._judge(self._head + buf if head else buf) if f.end - head > cut]
        end = size if final else self._chunk_end(cut, self._boundary(buf, cut, found), found,
                                                 max(cut, size - self._max_hold))
        spans = [Finding(f.guard, f.kind, max(start, cut) - cut, min(stop, end) - cut,
                         f.confidence, f.preview)
                 for start, stop, f in found if start < end]
        out = self._pieces(buf[cut:end], spans)
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
        self._due = max(self._hold, size - end) + self._then
        return out

    def _pieces(self, text: str, spans: list[Finding]) -> list[str]:
        """`text` (released now) masked, cut where its chunks were cut, outside the spans."""
        size = len(text)
        if not size:
            return []
        cuts: list[int] = []
        done = 0
        sizes = self._sizes
        while sizes and done + sizes[0] <= size:
            done += sizes.popleft()
            if done < size:
                cuts.append(done)
        if done < size and sizes:
            sizes[0] -= size - done  # the rest of that chunk is still held
        if spans:
            cuts = [c for c in cuts if not any(f.start < c < f.end for f in spans)]
        edges = [0, *cuts, size]
        if not spans:
            return [text[a:b] for a, b in pairwise(edges)]
        out = []
        for a, b in pairwise(edges):
            inside = [Finding(f.guard, f.kind, f.start - a, f.end - a, f.confidence, f.preview)
                      for f in spans if a <= f.start < b]
            out.append(redact.redact(text[a:b], inside, style="mask")[0] if inside
                       else text[a:b])
        return out

    def _chunk_end(self, cut: int, end: int, found: list[tuple[int, int, Finding]],
                   floor: int) -> int:
        """`end` moved back to where a chunk ended, so no chunk is cut in two (nor a finding).

        Past `max_hold` (`floor`), `end` as it is."""
        ends = [cut]
        for n in self._sizes:
            if ends[-1] + n > end:
                break
            ends.append(ends[-1] + n)
        for candidate in reversed(ends):
            if candidate < floor:
                break
            if not any(start < candidate < stop for start, stop, _ in found):
                return candidate
        return end

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
    """Client-format SSE in; out, the events with leaked text masked (`action = "mask"`),
    or held back until judged (`"block"`), or the very bytes that came in (watching only:
    `"flag"`, or `mode = "observe"`).

    `blocked` is set when policy ends the stream instead (a finding under
    `block`, or a guard that failed without `fail_open`): the caller sends what
    that `feed` returned (the events before the one that blocked, if any) and
    ends the stream with an error event; nothing more is released. `report` is
    the strongest verdict seen, for the log.
    """

    def __init__(self, config: OutputPolicyConfig, family: Family, canary: str | None,
                 known: frozenset[str] = frozenset(), *, mode: Mode = "enforce",
                 hold: int | None = None) -> None:
        self._family = family
        self._known = known
        self._min = config.min_confidence
        self._mode = mode
        self._hold = config.stream_hold if hold is None else hold
        # Watching only: the traffic goes out as it came, a copy is judged for the log.
        self.watching = mode != "enforce" or config.action == "flag"
        self.masking = not self.watching and config.action == "mask"
        self._errors: set[str] = set()
        self._scan = scanner(config, canary, self._errors)
        self._policies = policies(config)
        self._watch = OutputWatch(config, mode, family, canary, known)  # other deltas
        self._parser = SSEParser()
        self._slots: dict[Slot, TextMasker] = {}
        self._last: dict[str, Any] = {}  # the last chunk or event, for the fields of a flush
        self._sent: dict[Slot, list[str]] = {}  # Responses: the text streamed per part
        self._items: dict[Slot, Any] = {}  # Responses: the item id of each part
        self._decision: Decision | None = None
        self.blocked: Decision | None = None
        self.masked = 0
        # Tool-call events, held whole until the answer ends and their arguments are
        # judged: a client cannot act on half a call, and no piece of a finding leaves.
        self._calls: list[bytes] = []
        self._call_text: list[str] = []  # what the held events say, judged whole at release
        self._tool_blocks: set[Any] = set()  # Anthropic: indexes of tool_use blocks

    @property
    def report(self) -> Decision | None:
        """The strongest verdict on the text and on the other deltas, for the log."""
        seen = [d for d in (self.blocked, self._decision, self._watch.reported) if d is not None]
        return seen[0] if seen else None

    # -- judging -----------------------------------------------------------------------------

    def _judge(self, text: str) -> list[Finding]:
        found = leaks(self._scan(text), text, self._known)
        if found or self._errors:
            decision = decide(found, self._policies, mode=self._mode,
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
            check_room(len(self._slots))
            masker = self._slots[key] = TextMasker(
                self._judge, hold=self._hold, context=max(self._hold, CONTEXT),
                max_hold=max(self._hold, MAX_HOLD), then=max(1, self._hold // 2))
        return masker

    def _text(self, key: Slot, text: str) -> list[bytes]:
        """Feed a text delta of slot `key`: the deltas it releases, in the upstream's cuts."""
        pieces = self._slot(key).feed_pieces(text)
        return [] if self.watching else [self._flush_event(key, p) for p in pieces]

    def _close(self, key: Slot) -> list[bytes]:
        """The slot ends: what it still holds, as deltas to go before the closing event."""
        masker = self._slots.pop(key, None)
        if masker is None:
            return []
        pieces = masker.finish_pieces()
        self.masked += masker.masked
        return [] if self.watching else [self._flush_event(key, p) for p in pieces]

    def _whole(self, text: str) -> str:
        """A text that arrives whole (not as deltas), masked at once."""
        found = self._judge(text) if text else []
        self.masked += len(found)
        return redact.redact(text, found, style="mask")[0] if found else text

    # -- the stream --------------------------------------------------------------------------

    def feed(self, data: bytes) -> list[bytes]:
        """The events to send now. Once `blocked`, only those before the event that blocked."""
        if self.blocked is not None:
            return []
        out: list[bytes] = []
        for event in self._parser.feed(data):
            this = self._event(event.event, event.data)
            if self.blocked is not None:
                # What earlier events released was judged then, with `hold` characters
                # after it in view: it can go. Nothing of this event or after it can.
                return [] if self.watching else out
            out += this
        return [data] if self.watching else out

    def finish(self) -> list[bytes]:
        """Whatever is still held when the stream ends without closing its slots."""
        if self.blocked is not None:
            return []
        out = self._flush_all()
        return [] if self.watching or self.blocked is not None else out

    def _event(self, name: str | None, data: str) -> list[bytes]:
        payload = None
        if data.startswith("{"):
            try:
                # Enforcing, every judged event is sent re-encoded from what was judged, so
                # a key given twice cannot smuggle its other copy out; watching, the bytes
                # go out as they came, so such an event ends the stream.
                payload = decode_unique(data) if self.watching else _decode(data)
            except DuplicateKey:
                raise  # the client would read one copy and the policy another
            except (JsonProblem, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                payload = None
        if not isinstance(payload, dict):
            before = self._flush_all() if data.strip() == "[DONE]" else []
            return [*before, encode_event(data.encode(), event=name)]
        self._last = payload
        other: list[str] = []
        keep = True  # False: the event carried only text, now held or sent as deltas before it
        if payload.get("type") == "error" or "error" in payload:  # the upstream gave up
            self._slots.clear()  # what is held may be half a secret: dropped, not flushed
            before = []
            other += [text for _, text in answers.texts(self._family, payload)]
        elif self._family == "anthropic":
            before, keep = self._anthropic(payload, other)
        elif "choices" in payload:
            before, keep = self._chat(payload, other)
        else:
            before, keep = self._responses(payload, other)
        if other and not self._watch.see(other):
            self.blocked = self._watch.blocked
        if self.watching:
            return []  # the bytes go out as they came
        if keep and self._is_tool_call(payload):
            self._calls.append(encode_event(_encode(payload), event=name))
            self._call_text += other
            return [*before, *self._release()] if self._closes_call(payload) else before
        if self._calls and self._closes_call(payload):
            before = [*before, *self._release()]
        # An event that carried only text is not sent (its text goes in the deltas released
        # from the hold): it is encoded only when it goes on, once per event that does.
        return [*before, encode_event(_encode(payload), event=name)] if keep else before

    def _closes_call(self, payload: dict[str, Any]) -> bool:
        """The event after which held tool calls are complete: release them then."""
        if self._family == "anthropic":
            return payload.get("type") in ("content_block_stop", "message_delta",
                                           "message_stop")
        if "choices" in payload:
            return any(isinstance(c, dict) and c.get("finish_reason") is not None
                       for c in payload["choices"] or [])
        return payload.get("type") in ("response.output_item.done", "response.completed")

    def _release(self) -> list[bytes]:
        """The held tool-call events, judged whole first; none if that ends the stream."""
        if self._call_text:
            self._judge("".join(self._call_text))
        out = self._calls if self.blocked is None else []
        self._calls, self._call_text = [], []
        return out

    def _is_tool_call(self, payload: dict[str, Any]) -> bool:
        """Whether an event carries (part of) a tool call, to be held until the end."""
        if self._family == "anthropic":
            kind, index = payload.get("type"), payload.get("index")
            block = payload.get("content_block")
            if kind == "content_block_start" and isinstance(block, dict) \
                    and block.get("type") in ("tool_use", "server_tool_use", "mcp_tool_use"):
                self._tool_blocks.add(index)
                return True
            return kind in ("content_block_delta", "content_block_stop") \
                and index in self._tool_blocks
        if "choices" in payload:
            return any(isinstance(c, dict) and isinstance(c.get("delta"), dict)
                       and c["delta"].get("tool_calls") for c in payload["choices"] or [])
        kind = str(payload.get("type", ""))
        item = payload.get("item")
        return kind.startswith(("response.function_call_arguments.",
                                "response.custom_tool_call_input.")) or (
            kind.startswith("response.output_item.") and isinstance(item, dict)
            and str(item.get("type", "")).endswith("_call"))

    def _flush_all(self) -> list[bytes]:
        out: list[bytes] = []
        for key in list(self._slots):
            out += self._close(key)
        if self._watch.blocked is None and not self._watch.finish():
            self.blocked = self._watch.blocked
        if self._calls:
            out += self._release()
        return out

    def _flush_event(self, key: Slot, text: str) -> bytes:
        """One text delta carrying `text` for the slot `key`, to go before the current event."""
        if key[0] == "chat":
            envelope = dict(self._last)  # id, model, created...: copied, not filtered
            if "usage" in envelope:
                envelope["usage"] = None
            envelope["choices"] = [{"index": key[1], "delta": {"content": text},
                                    "logprobs": None, "finish_reason": None}]
            return encode_event(_encode(envelope))
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

    def _chat(self, chunk: dict[str, Any], other: list[str]) -> tuple[list[bytes], bool]:
        before: list[bytes] = []
        choices = chunk.get("choices")
        keep = chunk.get("usage") is not None or not choices
        for choice in choices or []:
            if not isinstance(choice, dict):
                keep = True
                continue
            key = ("chat", index_of(choice.get("index")))
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if isinstance(content, str) and content:
                    before += self._text(key, content)
                    delta["content"] = ""
                    if len(delta) > 1:
                        keep = True  # a role, a tool call, a refusal... goes on, text emptied
                else:
                    keep = True  # no text of its own: passed on as it came
                # Everything else the delta carries (tool names and arguments, refusals,
                # reasoning) is judged as it passes.
                if len(delta) > 1 or "content" not in delta:
                    other += answers.delta_texts(self._family, {"choices": [
                        {"delta": {k: v for k, v in delta.items()
                                   if k not in ("content", "role")}}]})
            else:
                keep = True
            if choice.get("logprobs") is not None:
                choice["logprobs"] = None
            if choice.get("finish_reason") is not None:
                before += self._close(key)
                keep = True
            elif not choice.keys() <= _CHOICE_FIELDS and any(
                    v is not None for k, v in choice.items() if k not in _CHOICE_FIELDS):
                keep = True  # (the set test spares the scan for the usual four fields)
        return before, keep

    # -- Anthropic messages ------------------------------------------------------------------

    def _anthropic(self, event: dict[str, Any], other: list[str]) -> tuple[list[bytes], bool]:
        kind = event.get("type")
        key = ("anthropic", index_of(event.get("index"), None))
        if kind == "content_block_start":
            block = event.get("content_block")
            if isinstance(block, dict) and isinstance(block.get("text"), str) and block["text"]:
                # The block's first text stays in it: its deltas may only come after it.
                block["text"] = "".join(self._slot(key).feed_pieces(block["text"]))
        elif kind == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("text"), str):
                    before = self._text(key, delta["text"]) if delta["text"] else []
                    delta["text"] = ""
                    return before, False
                other += [v for k, v in delta.items()
                          if isinstance(v, str) and k != "type" and v]  # json, thinking...
        elif kind == "content_block_stop":
            return self._close(key), True
        elif kind in ("message_delta", "message_stop"):
            return self._flush_all(), True
        return [], True

    # -- OpenAI Responses API ----------------------------------------------------------------

    def _responses(self, event: dict[str, Any], other: list[str]) -> tuple[list[bytes], bool]:
        kind = event.get("type")
        key = ("responses", index_of(event.get("output_index")),
               index_of(event.get("content_index")))
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self._items.setdefault(key, event.get("item_id", ""))
            return self._text(key, event["delta"]), False
        if isinstance(event.get("delta"), str):
            other.append(event["delta"])
        before: list[bytes] = []
        if kind == "response.output_text.done":
            before += self._close(key)
            self._part(event, key)
        elif kind in ("response.content_part.added", "response.content_part.done"):
            if isinstance(event.get("part"), dict):
                self._part(event["part"], key)
        elif kind in ("response.output_item.added", "response.output_item.done"):
            self._item(event.get("item"), index_of(event.get("output_index")))
        elif isinstance(event.get("response"), dict):  # created, in_progress, completed, ...
            if kind in ("response.completed", "response.incomplete", "response.failed"):
                before += self._flush_all()
            for i, item in enumerate(event["response"].get("output") or []):
                self._item(item, i)
        return before, True

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
        elif text and not (self.watching and key in self._items):  # (watching: judged already)
            holder["text"] = self._whole(text)
        if holder.get("logprobs"):
            holder["logprobs"] = []
