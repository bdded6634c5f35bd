"""Read the usage a provider reports, from its answer's bytes or its stream as it goes by.

Token limits and budgets are settled with what the provider counted, streams
included. The tap looks at the upstream's bytes before any translation; it
parses only the few events that mention usage (a substring test per chunk
otherwise), so a stream pays almost nothing for being counted.

When the gateway asked an OpenAI upstream for usage the client did not ask
for (`stream_options.include_usage`), `strip` removes the usage-only chunk
that answer adds, so the client receives exactly the stream it asked for.
"""

from __future__ import annotations

from typing import Any

import msgspec

from gateway_cli.formats.sse import SSEError, SSEParser, encode_event
from gateway_cli.limits.tokens import StreamUsage, Usage, is_usage_only_chunk, usage_of
from gateway_cli.providers.operations import Family

_MARK = b'"usage"'
_MAX_TAIL = 1024 * 1024  # an event longer than this is not read for usage


_ENDS = (b"\n\n", b"\r\n\r\n", b"\r\r")


def _boundary(data: bytes | bytearray, start: int = 0) -> int:
    """Where the last complete SSE event in `data` ends (0: none is), looking from `start`."""
    end = 0
    for sep in _ENDS:
        at = data.rfind(sep, start)
        if at >= 0:
            end = max(end, at + len(sep))
    return end


_NULL_USAGE = b',"usage":null'


def _has_usage(data: bytes) -> bool:
    """Whether `data` holds a usage object (not `"usage": null`, which OpenAI sends in every
    chunk of a stream that asked for usage)."""
    at = data.find(_MARK)
    while at >= 0:
        rest = data[at + len(_MARK):at + len(_MARK) + 8].lstrip(b" \t:")
        if rest.startswith(b"{"):
            return True
        at = data.find(_MARK, at + 1)
    return False


class _UsageOnly(msgspec.Struct):
    usage: Any = None


def reported_usage(family: Family, answer: bytes) -> Usage | None:
    """The usage a whole answer reports; only its `usage` member is decoded."""
    try:
        found = msgspec.json.decode(answer, type=_UsageOnly)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return usage_of(family, {"usage": found.usage})


class UsageTap:
    def __init__(self, *, strip: bool = False) -> None:
        self._usage = StreamUsage()
        self._strip = strip
        self._tail = bytearray()  # the unfinished last event, grown in place

    @property
    def usage(self) -> Usage | None:
        return self._usage.usage

    def feed(self, chunk: bytes) -> bytes:
        """The bytes to pass on: `chunk` itself unless stripping held or removed some."""
        # Only the new bytes (and the three before them, for an end cut in two) are searched:
        # an upstream trickling one long event must not cost a rescan per piece.
        if not self._tail and chunk.endswith(b"\n\n"):
            complete = chunk  # whole events, as providers send them: nothing to hold
        else:
            start = max(0, len(self._tail) - 3)
            self._tail += chunk
            cut = _boundary(self._tail, start)
            complete = bytes(self._tail[:cut])
            del self._tail[:cut]
            if len(self._tail) > _MAX_TAIL:
                if self._strip:  # nothing to hold back for: pass it on as it is
                    complete += self._tail
                self._tail.clear()
        if self._strip:
            # OpenAI adds `"usage":null` to every chunk of a stream that asked for usage;
            # a client that did not ask gets its chunks as they would have been. (Inside a
            # JSON string the quotes are escaped, so this never matches text.)
            complete = complete.replace(_NULL_USAGE, b"")
        if not _has_usage(complete):
            return complete if self._strip else chunk
        kept: list[bytes] = []
        removed = False
        try:
            events = SSEParser().feed(complete)
        except SSEError:  # the relay's own parsing reports a broken stream
            return complete if self._strip else chunk
        for event in events:
            payload: Any = None
            if _has_usage(event.data.encode()):
                try:
                    payload = msgspec.json.decode(event.data)
                except msgspec.DecodeError:
                    payload = None
                if isinstance(payload, dict):
                    self._usage.feed(payload)
            if self._strip and is_usage_only_chunk(payload):
                removed = True
                continue
            kept.append(encode_event(event.data.encode(), event=event.event))
        if not self._strip:
            return chunk
        return b"".join(kept) if removed else complete

    def finish(self) -> bytes:
        """What is still held when the stream ends (an unterminated last event)."""
        rest = bytes(self._tail)
        self._tail.clear()
        return rest if self._strip else b""
