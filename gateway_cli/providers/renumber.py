"""Responses stream events leave numbered 0, 1, 2, ... by `sequence_number`.

The Responses API numbers every event of a stream, one more each time, and
clients may rely on it (to order events, to spot a lost one, to resume).
Stages after the provider change the event count: the output policy holds
text back and re-emits it as deltas of its own, or drops what it withheld
(guards/mask_stream.py); placeholder restoration can do the same. Each such
stage would otherwise have to know the numbering, so this last stage
renumbers what actually goes out instead. Events with no number (an error
the gateway adds) pass as they are.

Pure: bytes in, bytes out.
"""

from __future__ import annotations

import msgspec

from gateway_cli.formats.sse import SSEParser, encode_event
from gateway_cli.formats.strict_json import decode_unique

_encode = msgspec.json.Encoder().encode
_KEY = "sequence_number"


class Renumbering:
    """A stream converter (feed/finish) that rewrites each event's `sequence_number`."""

    def __init__(self) -> None:
        self._parser = SSEParser()
        self._next = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for event in self._parser.feed(data):
            if _KEY not in event.data or not event.data.startswith("{"):
                out.append(encode_event(event.data.encode(), event=event.event))
                continue
            value = decode_unique(event.data)
            if isinstance(value, dict) and _KEY in value:
                value[_KEY] = self._next
                self._next += 1
            out.append(encode_event(_encode(value), event=event.event))
        return out

    def finish(self) -> list[bytes]:
        return []
