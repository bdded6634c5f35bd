"""Token estimates of a request before it is sent, and the usage an answer reports.

Token limits must be checked before the call, when only the request is known,
and corrected afterwards to what the provider reports. The gateway ships no
vocabulary file (none is needed at run time, and none could be verified the
way the lockfiles are), so `estimate_text` is a calibrated count of what a
BPE tokenizer's pre-tokenisation splits on, computed with a handful of C-speed
byte operations instead of a regex walk (a 4 KB prompt in tens of
microseconds):

    - the text's UTF-8 bytes are mapped to classes (lower, upper, digit,
      space, newline, punctuation, control, and the script of each non-ASCII
      character by its lead byte; continuation bytes are dropped);
    - the estimate is a weighted sum of counts: class runs (a piece boundary
      in the tokenizers' own regex is a change of class), lower-to-upper and
      digit/punctuation-to-letter transitions (random strings and identifiers
      split there), 8-letter stretches (long words and unbroken strings cost
      more than one token), uppercase letters, digits, newlines, and a per
      character weight for each non-Latin script.

The weights were fitted against real tokenizer counts (o200k_base,
cl100k_base and a Claude tokenizer) with under-estimates penalised four
times as hard as over-estimates, then rounded: a limit checked with this
estimate is rarely passed by a request that turns out larger. Method, data
and error figures: bench/limits/ESTIMATOR.md.

`estimate_input` applies it to each API's request shape with the overhead
the APIs add per message; `requested_output` / `with_output_cap` read and
bound the output the client asked for; `usage_of` and `StreamUsage` read what
the provider reports. Everything here is pure and never raises on odd input:
a field of the wrong type is skipped (reported usage) or counted as the text
it holds (estimates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway_cli.providers.operations import Family, Op

_encode = msgspec.json.Encoder().encode

# -- the text estimator -----------------------------------------------------------------------


def _class_table(fold_case: bool) -> bytes:
    out = bytearray(256)
    for i in range(256):
        if 97 <= i <= 122:
            cls = "a"
        elif 65 <= i <= 90:
            cls = "a" if fold_case else "A"
        elif 48 <= i <= 57:
            cls = "0"
        elif i in (9, 11, 12, 32):
            cls = " "
        elif i in (10, 13):
            cls = "\n"
        elif i < 32 or i == 127:
            cls = "c"
        elif i < 128:
            cls = "."
        elif i < 0xC0:
            cls = "~"  # continuation byte: deleted before counting
        elif i < 0xCB:
            cls = "L"  # U+0080-U+02BF: Latin-1 supplement, Latin extended, IPA
        elif i < 0xD0:
            cls = "G"  # U+02C0-U+03FF: modifiers, combining marks, Greek
        elif i < 0xD5:
            cls = "R"  # U+0400-U+053F: Cyrillic
        elif i < 0xE0:
            cls = "H"  # U+0540-U+07FF: Armenian, Hebrew, Arabic, Syriac, Thaana
        elif i == 0xE0:
            cls = "I"  # U+0800-U+0FFF: Indic scripts, Thai, Lao, Tibetan
        elif i == 0xE1:
            cls = "E"  # U+1000-U+1FFF: Myanmar, Georgian, Ethiopic, Vietnamese letters
        elif i == 0xE2:
            cls = "P"  # U+2000-U+2FFF: punctuation, symbols, arrows, box drawing
        elif i < 0xEA:
            cls = "C"  # U+3000-U+9FFF: CJK, kana
        elif i < 0xEE:
            cls = "K"  # U+A000-U+DFFF: Hangul syllables, Yi, surrogates
        elif i < 0xF0:
            cls = "F"  # U+E000-U+FFFF: private use, compatibility and full-width forms
        else:
            cls = "4"  # beyond the BMP: emoji, rare CJK
        out[i] = ord(cls)
    return bytes(out)


_CLASSES = _class_table(fold_case=False)
_FOLDED = _class_table(fold_case=True)
_CONTINUATION = bytes(range(0x80, 0xC0))

# Fitted weights (bench/limits/ESTIMATOR.md), tokens per occurrence.
_BASE = 1.46          # per non-empty text
_PER_RUN = 0.46       # per change of byte class
_PER_LONG = 0.87      # per 8 lowercase letters in a row
_PER_UPPER = 0.2
_PER_DIGIT = 0.35
_PER_NEWLINE = 1.11
_PER_CONTROL = 1.0
_PER_CAMEL = 0.9      # lower then upper
_PER_DIGIT_LETTER = 0.64
_PER_PUNCT_LETTER = 1.18
_PER_DIGIT_PUNCT = 0.61
# Per non-ASCII character, by script (lead byte class).
_PER_SCRIPT: tuple[tuple[bytes, float], ...] = (
    (b"L", 2.28), (b"G", 1.17), (b"R", 0.49), (b"H", 0.93), (b"I", 1.68), (b"E", 0.9),
    (b"P", 0.98), (b"C", 0.89), (b"K", 1.04), (b"F", 1.0), (b"4", 3.37),
)


def _runs(classes: bytes) -> int:
    """How many times the class changes from one byte to the next (in C: one XOR)."""
    n = len(classes) - 1
    if n < 1:
        return 0
    diff = int.from_bytes(classes[:-1], "big") ^ int.from_bytes(classes[1:], "big")
    return n - diff.to_bytes(n, "big").count(0)


def estimate_text(text: str) -> int:
    """Tokens `text` is likely to take in a modern BPE tokenizer, erring high.

    Monotone: appending to a text never lowers its estimate. Empty text is 0.
    """
    if not text:
        return 0
    raw = text.encode("utf-8", "surrogatepass")
    classes = raw.translate(_CLASSES, _CONTINUATION)
    folded = raw.translate(_FOLDED, _CONTINUATION)
    total = (_BASE
             + _PER_RUN * _runs(classes)
             + _PER_LONG * classes.count(b"aaaaaaaa")
             + _PER_UPPER * classes.count(b"A")
             + _PER_DIGIT * classes.count(b"0")
             + _PER_NEWLINE * classes.count(b"\n")
             + _PER_CONTROL * classes.count(b"c")
             + _PER_CAMEL * classes.count(b"aA")
             + _PER_DIGIT_LETTER * folded.count(b"0a")
             + _PER_PUNCT_LETTER * folded.count(b".a")
             + _PER_DIGIT_PUNCT * folded.count(b"0."))
    if not text.isascii():
        for cls, weight in _PER_SCRIPT:
            total += weight * classes.count(cls)
    return math.ceil(total)


# -- request estimates ------------------------------------------------------------------------

# What the APIs add around the texts, as documented or measured against their own counts:
# each chat message is wrapped in a few role/separator tokens, and the answer is primed.
PER_MESSAGE = 4
PER_REQUEST = 3
PER_TOOL = 8  # wrapping of each tool definition, beyond its JSON text
# Anthropic puts a tool-use system prompt in front of any request with tools (its docs list
# 313-346 tokens, depending on the model and tool_choice).
ANTHROPIC_TOOLS_PROMPT = 350
# An image part, whatever its size: an upper bound of the common cases (OpenAI: 765 tokens for
# a 1024x1024 image at high detail, 85 at low; Anthropic: about width*height/750, at most
# about 1,600 once the image is scaled to its 1.15 megapixel limit). Corrected by the usage
# the provider reports.
IMAGE_TOKENS = 1600
IMAGE_TOKENS_LOW_DETAIL = 85
# A file, document or audio part: its real cost depends on pages or seconds the gateway does
# not decode; one page's worth is assumed, and corrected after the call.
FILE_TOKENS = 1600

_IMAGE_TYPES = frozenset({"image_url", "input_image", "image"})
_FILE_TYPES = frozenset({"file", "input_file", "document", "input_audio", "audio",
                         "container_upload"})
# Fields holding an encoded payload or a reference rather than text the model reads.
_BLOB_KEYS = frozenset({"data", "file_data", "image_url", "url", "file_id", "file_url",
                        "signature", "encrypted_content", "id", "call_id", "tool_use_id",
                        "tool_call_id", "cache_control", "type", "role", "status"})


def _json_tokens(value: Any) -> int:
    """A structured value (a tool's schema, a tool call's input), as its JSON text."""
    if value is None:
        return 0
    if isinstance(value, str):
        return estimate_text(value)
    try:
        return estimate_text(_encode(value).decode("utf-8", "surrogatepass"))
    except (TypeError, msgspec.EncodeError, UnicodeDecodeError, OverflowError):
        return 0


def _walk_tokens(value: Any) -> int:
    """Every text a part or item carries, skipping encoded payloads and ids."""
    if isinstance(value, str):
        return estimate_text(value)
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int | float):
        return 1
    if isinstance(value, list):
        return sum(_part_tokens(item) for item in value)
    if isinstance(value, dict):
        return sum(_walk_tokens(v) for k, v in value.items() if k not in _BLOB_KEYS)
    return 0


def _part_tokens(part: Any) -> int:
    """One content part or block of any of the APIs (a plain string counts as text)."""
    if not isinstance(part, dict):
        return _walk_tokens(part)
    kind = part.get("type")
    if kind in _IMAGE_TYPES:
        image = part.get("image_url")
        detail = part.get("detail", image.get("detail") if isinstance(image, dict) else None)
        return IMAGE_TOKENS_LOW_DETAIL if detail == "low" else IMAGE_TOKENS
    if kind in _FILE_TYPES:
        return FILE_TOKENS + _walk_tokens({k: v for k, v in part.items() if k != "source"}) \
            + _text_source(part.get("source"))
    if kind == "tool_use" or kind == "server_tool_use":
        return PER_TOOL + _walk_tokens(part.get("name")) + _json_tokens(part.get("input"))
    if kind == "function_call":  # Responses input item
        return PER_TOOL + _walk_tokens(part.get("name")) + _json_tokens(part.get("arguments"))
    if kind == "redacted_thinking":
        return 0  # encrypted; what it costs is not knowable before the call
    return _walk_tokens(part)


def _text_source(source: Any) -> int:
    """An Anthropic document whose source is plain text or content blocks is counted."""
    if isinstance(source, dict) and source.get("type") in ("text", "content"):
        return _walk_tokens(source.get("data")) + _walk_tokens(source.get("content"))
    return 0


def _content_tokens(content: Any) -> int:
    if isinstance(content, list):
        return sum(_part_tokens(part) for part in content)
    return _walk_tokens(content)


def _tools_tokens(tools: Any) -> int:
    if not isinstance(tools, list):
        return 0
    return sum(PER_TOOL + _json_tokens(tool) for tool in tools)


def _chat_message(message: Any) -> int:
    if not isinstance(message, dict):
        return PER_MESSAGE + _walk_tokens(message)
    total = PER_MESSAGE + _content_tokens(message.get("content"))
    if isinstance(message.get("name"), str):
        total += 1 + estimate_text(message["name"])
    calls = message.get("tool_calls")
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += PER_TOOL + _walk_tokens(function.get("name")) \
                    + _json_tokens(function.get("arguments"))
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        total += PER_TOOL + _walk_tokens(legacy.get("name")) \
            + _json_tokens(legacy.get("arguments"))
    for key in ("refusal", "reasoning_content"):
        total += _walk_tokens(message.get(key))
    return total


def _chat(body: dict[str, Any]) -> int:
    total = PER_REQUEST
    messages = body.get("messages")
    if isinstance(messages, list):
        total += sum(_chat_message(m) for m in messages)
    total += _tools_tokens(body.get("tools")) + _tools_tokens(body.get("functions"))
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        total += _json_tokens(response_format.get("json_schema"))
    return total


def _responses(body: dict[str, Any]) -> int:
    total = PER_REQUEST + _walk_tokens(body.get("instructions"))
    items = body.get("input")
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and "content" in item:
                total += PER_MESSAGE + _content_tokens(item.get("content"))
            else:
                total += PER_MESSAGE + _part_tokens(item)
    else:
        total += PER_MESSAGE + _walk_tokens(items)
    total += _tools_tokens(body.get("tools"))
    text = body.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        total += _json_tokens(text["format"].get("schema"))
    return total


def _embeddings(body: dict[str, Any]) -> int:
    value = body.get("input")
    if isinstance(value, str):
        return estimate_text(value)
    if not isinstance(value, list):
        return 0
    if value and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return len(value)  # one input given as token ids
    total = 0
    for item in value:
        if isinstance(item, str):
            total += estimate_text(item)
        elif isinstance(item, list):
            total += len(item)  # token ids
    return total


def _anthropic(body: dict[str, Any]) -> int:
    total = PER_REQUEST + _content_tokens(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else message
            total += PER_MESSAGE + _content_tokens(content)
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        total += ANTHROPIC_TOOLS_PROMPT + _tools_tokens(tools)
    return total


def estimate_input(op: Op, body: dict[str, Any]) -> int:
    """Input tokens `body` is likely to take, for a request of operation `op`."""
    if not isinstance(body, dict):
        return 0
    if op is Op.CHAT:
        return _chat(body)
    if op is Op.RESPONSES:
        return _responses(body)
    if op is Op.EMBEDDINGS:
        return _embeddings(body)
    return _anthropic(body)  # MESSAGES and COUNT_TOKENS take the same body


# -- the output cap ---------------------------------------------------------------------------

# The fields that cap the answer, in the order they are read. Chat Completions has two:
# `max_completion_tokens` is the current one (reasoning models refuse `max_tokens`), and the
# one the gateway sets when the client gave neither.
_CAP_FIELDS: dict[Op, tuple[str, ...]] = {
    Op.CHAT: ("max_completion_tokens", "max_tokens"),
    Op.RESPONSES: ("max_output_tokens",),
    Op.MESSAGES: ("max_tokens",),
}


def _count(value: Any) -> int | None:
    """A token count as the wire carries it: a non-negative integer, and not a bool."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def requested_output(op: Op, body: dict[str, Any]) -> int | None:
    """The output cap the client asked for (the smaller one if a chat body has both), or
    None: no cap given, a cap that is not a positive integer, or an operation with no
    output (embeddings, count_tokens)."""
    if not isinstance(body, dict):
        return None
    best: int | None = None
    for key in _CAP_FIELDS.get(op, ()):
        value = body.get(key)
        if value is None:
            continue
        # A plain int (what JSON gives) is read without the _count call.
        n = (value if value >= 0 else None) if type(value) is int else _count(value)
        if n and (best is None or n < best):
            best = n
    return best


def with_output_cap(op: Op, body: dict[str, Any], cap: int) -> dict[str, Any]:
    """`body` (a shallow copy when changed) with its output capped at `cap`.

    Every cap field the client used is lowered to `cap` if it asked for more. A client that
    gave none gets the API's current field: `max_completion_tokens` (chat),
    `max_output_tokens` (Responses), `max_tokens` (Anthropic, where it is required anyway).
    A field holding something other than a positive integer is left as sent: the provider
    refuses the request, and nothing is spent. Operations without output are unchanged.
    """
    if cap < 1:
        raise ValueError("an output cap must be at least 1 token")
    fields = _CAP_FIELDS.get(op)
    if not fields or not isinstance(body, dict):
        return body
    present = [key for key in fields if key in body and body[key] is not None]
    if not present:
        return {**body, fields[0]: cap}
    out = body
    for key in present:
        asked = _count(body[key])
        if asked is not None and asked > cap:
            if out is body:
                out = dict(body)
            out[key] = cap
    return out


# -- usage in streams ------------------------------------------------------------------------


def with_stream_usage(op: Op, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """A streamed chat request that asks for its usage, and whether that was added.

    An OpenAI chat stream reports usage only when `stream_options.include_usage` is true;
    without it a token limit or budget could not be charged what the call used. Apply this
    to the body that goes to an OpenAI-family provider (`op` being the operation of that
    body), and keep the client's own body for deciding what the client gets: when `added`
    is true, the relay drops the usage-only chunk (`is_usage_only_chunk`) the client did
    not ask for. The other chunks then carry `"usage": null`, which clients ignore.
    Responses and Anthropic streams always report usage; they and non-streamed requests
    come back unchanged, as does a `stream_options` that is not an object (the provider
    refuses it).
    """
    if op is not Op.CHAT or not isinstance(body, dict) or body.get("stream") is not True:
        return body, False
    options = body.get("stream_options")
    if options is None:
        return {**body, "stream_options": {"include_usage": True}}, True
    if not isinstance(options, dict) or options.get("include_usage") is True:
        return body, False
    return {**body, "stream_options": {**options, "include_usage": True}}, True


def is_usage_only_chunk(payload: Any) -> bool:
    """The chunk an OpenAI chat stream ends with when usage was asked for: no choices, a
    `usage` object."""
    return (isinstance(payload, dict) and isinstance(payload.get("usage"), dict)
            and payload.get("choices") == [])


# -- reported usage ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Tokens one call used, the same way for every provider.

    `input` counts every input token, including those read from a prompt cache
    (`cached_input`) and those written to it (`cache_write`, Anthropic only); OpenAI
    reports input that way, and Anthropic's three separate counts are added up to match.
    """

    input: int
    output: int
    cached_input: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.input + self.output


def _openai_usage(usage: dict[str, Any]) -> Usage | None:
    if "prompt_tokens" in usage or "completion_tokens" in usage:
        inp, out = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
        details = usage.get("prompt_tokens_details")
    else:
        inp, out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
        details = usage.get("input_tokens_details")
    if inp is None and out is None:
        return None
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(input=inp or 0, output=out or 0, cached_input=min(cached or 0, inp or 0))


def _anthropic_usage(usage: dict[str, Any]) -> Usage | None:
    inp, out = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    read = _count(usage.get("cache_read_input_tokens")) or 0
    written = _count(usage.get("cache_creation_input_tokens")) or 0
    if inp is None and out is None and not read and not written:
        return None
    return Usage(input=(inp or 0) + read + written, output=out or 0,
                 cached_input=read, cache_write=written)


def usage_of(family: Family, answer: Any) -> Usage | None:
    """The usage a provider's answer reports (chat completion, Responses object, embeddings
    list, Anthropic message), or None when it reports none that can be read."""
    if not isinstance(answer, dict):
        return None
    usage = answer.get("usage")
    if not isinstance(usage, dict):
        return None
    return _anthropic_usage(usage) if family == "anthropic" else _openai_usage(usage)


class StreamUsage:
    """The usage reported along a stream, fed each event's decoded JSON payload.

    - OpenAI chat: the last chunk carries `usage` when `stream_options.include_usage` was
      asked for (see `with_stream_usage`); other chunks carry `"usage": null`.
    - Responses: `response.completed` (or `.incomplete` / `.failed`) carries the final
      response object with its `usage`.
    - Anthropic: `message_start` carries `message.usage` (input and cache counts, a first
      output count); each `message_delta` carries a cumulative `usage.output_tokens`, and
      may restate the input counts.

    `add_text` lets the caller count the answer's streamed text as it goes, so a stream cut
    before its usage arrived can still be charged an estimate (`estimated_output`).
    """

    def __init__(self) -> None:
        self._reported: Usage | None = None  # OpenAI: the whole usage, as last reported
        self._anthropic_counts: dict[str, int] = {}  # Anthropic: each count, as last reported
        self._text_tokens = 0

    def feed(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        kind = payload.get("type")
        if kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                self._anthropic(message["usage"])
        elif kind == "message_delta":
            if isinstance(payload.get("usage"), dict):
                self._anthropic(payload["usage"])
        elif isinstance(kind, str) and kind.startswith("response."):
            response = payload.get("response")
            if isinstance(response, dict):
                self._reported = usage_of("openai", response) or self._reported
        elif isinstance(payload.get("usage"), dict):  # a chat completion chunk
            self._reported = usage_of("openai", payload) or self._reported

    def _anthropic(self, usage: dict[str, Any]) -> None:
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                    "cache_creation_input_tokens"):
            value = _count(usage.get(key))
            if value is not None:
                self._anthropic_counts[key] = value

    def add_text(self, text: str) -> None:
        self._text_tokens += estimate_text(text)

    @property
    def estimated_output(self) -> int:
        """The output tokens of the text passed to `add_text` so far, estimated."""
        return self._text_tokens

    @property
    def usage(self) -> Usage | None:
        """What the stream has reported so far; None if nothing."""
        if self._anthropic_counts:
            return _anthropic_usage(self._anthropic_counts)
        return self._reported
