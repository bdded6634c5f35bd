"""The chunked transfer coding (RFC 9112 section 7.1), decoded from whatever bytes arrived.

Why a state machine over the bytes of each read rather than a read per chunk: an upstream
that writes a stream faster than the gateway reads it (a burst of SSE events, each its
own chunk) would cost a wait, a line search and a hand-over per event; here one socket
read gives one piece, whatever number of chunks it held (as aiohttp's parser did). The
checks are the strict ones of the line reader it replaced: a size line is hex digits
(extensions after `;` ignored) and at most `line_limit` bytes, a chunk ends with CRLF,
trailer lines are bounded in number.
"""

from __future__ import annotations

import re

from gateway_cli.net.errors import ProtocolError

_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_SIZE, _DATA, _CRLF, _TRAILER, _DONE = range(5)


class Dechunker:
    __slots__ = (
        "_held",
        "_left",
        "_limit",
        "_state",
        "_trailer_limit",
        "_trailers",
        "extra",
    )

    def __init__(self, line_limit: int, trailer_limit: int) -> None:
        self._held = b""  # an incomplete line, or the start of a chunk's CRLF
        self._left = 0
        self._state = _SIZE
        self._trailers = 0
        self._limit = line_limit
        self._trailer_limit = trailer_limit
        self.extra = False  # bytes came after the end: the connection is not reusable

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def ended_early(self) -> str:
        """What to say when the connection closes before the end."""
        if self._state in (_DATA, _CRLF):
            return "the connection closed in the middle of a chunk"
        return "the connection closed in the middle of the answer"

    def feed(self, data: bytes) -> bytes:
        """The chunk data in `data` (with what an earlier call held back), joined."""
        buf = self._held + data if self._held else data
        out: list[bytes] = []
        pos, end = 0, len(buf)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._left, end - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self._left -= take
                if not self._left:
                    self._state = _CRLF
            elif state == _CRLF:
                if end - pos < 2:
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise ProtocolError("a chunk does not end with CRLF")
                pos += 2
                self._state = _SIZE
            elif state == _DONE:
                self.extra = True
                pos = end
            else:
                cut = buf.find(b"\r\n", pos, pos + self._limit + 2)
                if cut < 0:
                    if end - pos > self._limit:
                        raise ProtocolError("a line of the answer is too long")
                    break
                line = buf[pos:cut]
                pos = cut + 2
                if state == _SIZE:
                    size_text = line.split(b";", 1)[0].strip(b" \t")
                    if not _HEX.fullmatch(size_text):
                        raise ProtocolError("a chunk size is not a hex number")
                    self._left = int(size_text, 16)
                    self._state = _DATA if self._left else _TRAILER
                elif not line:
                    self._state = _DONE
                else:
                    self._trailers += 1
                    if self._trailers > self._trailer_limit:
                        raise ProtocolError("too many trailer lines")
        self._held = buf[pos:] if pos < end else b""
        return out[0] if len(out) == 1 else b"".join(out)
