"""The chunked decoder on its own: any split of the bytes decodes the same, one read gives
one piece however many chunks it held, and the strict checks hold across splits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.net.chunked import Dechunker
from gateway_cli.net.errors import ProtocolError


def encode(pieces: list[bytes], trailers: bytes = b"") -> bytes:
    return b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces if p) + \
        b"0\r\n" + trailers + b"\r\n"


def decode(wire: bytes, cuts: list[int]) -> tuple[bytes, Dechunker]:
    decoder = Dechunker(64, 4)
    out = b""
    start = 0
    for cut in [*sorted(cuts), len(wire)]:
        out += decoder.feed(wire[start:cut])
        start = cut
    return out, decoder


@given(st.lists(st.binary(max_size=40), max_size=8),
       st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_decodes_the_same(pieces: list[bytes], cuts: list[int]) -> None:
    wire = encode(pieces, b"x-t: 1\r\n")
    out, decoder = decode(wire, [c for c in cuts if c <= len(wire)])
    assert out == b"".join(pieces) and decoder.done and not decoder.extra


def test_one_read_of_many_chunks_is_one_piece() -> None:
    events = [b"data: %d\n\n" % n for n in range(50)]
    decoder = Dechunker(64, 4)
    assert decoder.feed(encode(events)) == b"".join(events)
    assert decoder.done


def test_bytes_after_the_end_make_the_connection_unusable() -> None:
    decoder = Dechunker(64, 4)
    assert decoder.feed(encode([b"ab"]) + b"HTTP/1.1 200 OK\r\n") == b"ab"
    assert decoder.done and decoder.extra


@pytest.mark.parametrize(("wire", "error"), [
    (b"zz\r\n", "not a hex number"),
    (b"-1\r\n", "not a hex number"),
    (b"1" * 16 + b"\r\n", "not a hex number"),
    (b"3\r\nabcXY", "does not end with CRLF"),
    (b"a" * 70, "line of the answer is too long"),
    (b"1;" + b"e" * 70 + b"\r\n", "line of the answer is too long"),
    (b"0\r\n" + b"t: 1\r\n" * 5 + b"\r\n", "too many trailer lines"),
])
def test_strict_checks_hold_whatever_the_split(wire: bytes, error: str) -> None:
    for cut in range(len(wire) + 1):
        decoder = Dechunker(64, 4)
        with pytest.raises(ProtocolError, match=error):
            decoder.feed(wire[:cut])
            decoder.feed(wire[cut:])


def test_what_ending_early_is_called() -> None:
    decoder = Dechunker(64, 4)
    decoder.feed(b"5\r\nab")
    assert decoder.ended_early() == "the connection closed in the middle of a chunk"
    decoder = Dechunker(64, 4)
    decoder.feed(b"5")
    assert decoder.ended_early() == "the connection closed in the middle of the answer"
