"""Server-Sent Events, parsed incrementally as the WHATWG HTML spec describes.

Upstream streams arrive in TCP-sized pieces that cut events, lines, CRLF
pairs and multi-byte UTF-8 characters anywhere, so the parser keeps the
unfinished tail between calls and only decodes complete lines (a line
terminator byte never occurs inside a UTF-8 sequence, so a complete line is
always decodable). The bytes buffered for one event are bounded: an upstream
that never ends an event must not be able to grow the gateway's memory.

Pure: bytes in, events out, no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024

_LINE_END = re.compile(rb"\r\n?|\n")
_BOM = b"\xef\xbb\xbf"


class SSEError(ValueError):
    """The stream broke a limit; the caller should drop the upstream connection."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event.

    `event` is None when the stream gave no `event:` field (the spec's
    default type "message"), so callers can tell the two apart. `id` is the
    last event ID in force when the event was dispatched, which the spec
    carries over from earlier events.
    """

    event: str | None
    data: str
    id: str | None = None


class SSEParser:
    """Turns a byte stream into events, one `feed` call per received chunk.

    After an `SSEError` the parser's state is undefined; the stream is over.
    """

    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 1:
            raise ValueError("max_event_bytes must be at least 1")
        self._max = max_event_bytes
        self._pending = bytearray()
        self._at_start = True
        self._skip_lf = False
        self._event_bytes = 0
        self._event_type = ""
        self._data: list[str] = []
        self._last_id: str | None = None

    def feed(self, data: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        if not data:
            return events
        if self._skip_lf:
            # A CR ended the previous chunk; an LF opening this one is the
            # second half of that CRLF, not an empty line.
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        self._pending += data
        if self._at_start:
            if len(self._pending) < len(_BOM) and _BOM.startswith(self._pending):
                return events
            if self._pending.startswith(_BOM):
                del self._pending[: len(_BOM)]
            self._at_start = False
        if b"\r" not in self._pending:
            # LF-only, as every provider sends: split at C speed rather than match per line.
            lines = self._pending.split(b"\n")
            self._pending = lines.pop()
            limit = self._max
            for piece in lines:
                self._event_bytes += len(piece) + 1
                if self._event_bytes > limit:
                    self._check_size(0)
                if piece.startswith(b"data: "):  # nearly every line: `_process_line`'s first case
                    self._data.append(piece[6:].decode("utf-8", errors="replace"))
                else:
                    self._process_line(piece, events)
            if self._event_bytes + len(self._pending) > limit:
                self._check_size(len(self._pending))
            return events
        pos = 0
        for match in _LINE_END.finditer(self._pending):
            line = bytes(self._pending[pos : match.start()])
            self._event_bytes += match.end() - pos
            pos = match.end()
            if match.end() == len(self._pending) and match.group() == b"\r":
                self._skip_lf = True
            self._check_size(0)
            self._process_line(line, events)
        del self._pending[:pos]
        self._check_size(len(self._pending))
        return events

    def _check_size(self, unfinished: int) -> None:
        if self._event_bytes + unfinished > self._max:
            raise SSEError(
                f"an upstream SSE event exceeded {self._max} bytes without ending; "
                "the stream was abandoned"
            )

    def _process_line(self, raw: bytes | bytearray, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        if raw.startswith(b"data: "):  # nearly every line of a model's stream
            self._data.append(raw[6:].decode("utf-8", errors="replace"))
            return
        if raw[:1] == b":":
            return
        line = raw.decode("utf-8", errors="replace")
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self._last_id = value
        # "retry" and unknown fields are ignored: the gateway does not reconnect.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        self._event_bytes = 0
        if self._data:
            events.append(SSEEvent(self._event_type or None, "\n".join(self._data),
                                   self._last_id))
        self._data = []
        self._event_type = ""


def encode_event(data: bytes, event: str | None = None) -> bytes:
    """One SSE event; every line of `data` gets its own `data:` field so it survives parsing."""
    if event is not None and ("\n" in event or "\r" in event):
        raise ValueError("an SSE event name cannot contain a line break")
    head = b"event: " + event.encode() + b"\n" if event is not None else b""
    if b"\n" not in data and b"\r" not in data:  # one line: the usual JSON event
        return head + b"data: " + data + b"\n\n"
    out = bytearray(head)
    for line in _LINE_END.split(data):
        out += b"data: " + line + b"\n"
    out += b"\n"
    return bytes(out)
