"""Content-Encoding gzip and deflate, decoded in bounded pieces.

Why bounded: a few KiB of gzip can inflate to gigabytes. Each piece handed out here is at
most `piece` bytes, whatever the input, so a reader's own size cap (64 MiB for a
provider's answer) counts decoded bytes and stops a bomb one piece past it, never
holding the whole expansion. Only gzip and zlib-wrapped deflate (RFC 9110 section 8.4.1)
are read; anything else (br, zstd, stacked codings, raw deflate) is a ProtocolError
rather than bytes a guard could not read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from gateway_cli.net.errors import ProtocolError

_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


class Inflater:
    __slots__ = ("_z",)

    def __init__(self, wbits: int) -> None:
        self._z = zlib.decompressobj(wbits)

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        """The decoded bytes of `data`, in pieces of at most `piece` bytes."""
        z = self._z
        try:
            while data:
                if z.eof:  # a second member, or bytes after the end
                    raise ProtocolError("the compressed answer has data after its end")
                out = z.decompress(data, piece)
                data = z.unconsumed_tail or z.unused_data
                if out:
                    yield out
        except zlib.error:
            raise ProtocolError("the compressed answer is corrupt") from None

    def finish(self) -> None:
        if not self._z.eof:
            raise ProtocolError("the compressed answer ends before its end")


def inflater_for(encoding: str | None) -> Inflater | None:
    """The decoder for a Content-Encoding value; None for no coding."""
    if encoding is None:
        return None
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    wbits = _WBITS.get(name)
    if wbits is None:
        raise ProtocolError("the answer's Content-Encoding is not gzip or deflate")
    return Inflater(wbits)
