"""The answer's head read in one piece (http1._read_head) against the line reader it
replaced, kept here as the reference: for every head, well-formed or hostile, the same
status and headers, the same refusal with the same message, and the body starting at
the same byte. Heads are fed to a real asyncio.StreamReader with the client's limit."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from gateway_cli.net import http1
from gateway_cli.net.errors import ProtocolError


async def _reference_line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise ProtocolError("a line of the answer is too long") from None
    except asyncio.IncompleteReadError:
        raise ProtocolError("the connection closed in the middle of the answer") from None
    return line[:-2]


async def _reference(reader: asyncio.StreamReader) -> tuple[bytes, int, dict[str, str]]:
    """The line-by-line reader of the status line and headers, as it was."""
    total = 0
    while True:
        status_line = await _reference_line(reader)
        matched = http1._STATUS.fullmatch(status_line)
        if matched is None:
            raise ProtocolError("the answer does not start with an HTTP/1.x status line")
        minor, status = matched[1], int(matched[2])
        headers: dict[str, str] = {}
        for count in range(http1.MAX_HEADERS + 1):
            line = await _reference_line(reader)
            total += len(line) + 2
            if not line:
                break
            if count == http1.MAX_HEADERS or total > http1.HEAD_LIMIT:
                raise ProtocolError("the answer's head is too large")
            name, sep, value = line.partition(b":")
            if not sep or not http1._TOKEN.fullmatch(name):
                raise ProtocolError("a header line of the answer is malformed")
            if http1._CONTROL.search(value):
                raise ProtocolError("a header value of the answer holds a control character")
            key = name.decode("ascii").lower()
            text = value.strip(b" \t").decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        if not 100 <= status < 200:
            break
        if status == 101:
            raise ProtocolError("the upstream switched protocols")
    return minor, status, headers


def _reader(raw: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=http1.LINE_LIMIT)
    reader.feed_data(raw)
    reader.feed_eof()
    return reader


async def _outcome(raw: bytes, new: bool) -> tuple[Any, ...]:
    reader = _reader(raw)
    try:
        got = await (http1.read_head(reader) if new else _reference(reader))
    except ProtocolError as err:
        return ("refused", str(err))
    return (*got, await reader.read())


STATUS_REFUSED = ("refused", "the answer does not start with an HTTP/1.x status line")
LATER = {("refused", "the connection closed in the middle of the answer"),
         ("refused", "a line of the answer is too long")}


def _bad_at_its_cr(raw: bytes) -> bool:
    """A status line that no bytes after its first CR could make valid: a bad one, or one
    whose CR is not followed by LF (the line reader's line would hold a bare CR)."""
    line, cr, after = raw.partition(b"\r")
    return bool(cr) and (http1._STATUS.fullmatch(line) is None
                         or (after[:1] not in (b"", b"\n")))


def _same(raw: bytes) -> None:
    async def both() -> None:
        old = await _outcome(raw, new=False)
        new = await _outcome(raw, new=True)
        if new != old and new == STATUS_REFUSED and old in LATER and _bad_at_its_cr(raw):
            return  # refused either way; now when the status line is read, not later
        assert new == old, raw[:200]

    asyncio.run(both())


CASES = [
    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\nbody\r\n\r\nmore",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nx-a: 1\r\nX-A: 2\r\n\r\nrest",
    b"HTTP/1.1 200 OK\r\nx-a: 1\n\r\n",  # a bare LF ends the last line
    b"HTTP/1.1 200 OK\r\nx-a\n: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\rX\r\n\r\n",  # a bare CR in the status line
    b"HTTP/1.1 200 OK\r\r\n\r\n",
    b"HTTP/1.1 200 OK\n\r\n",
    b"HTTP/1.1 200 OK\rx",  # then the end
    b"HTTP/1.1 200 OK\r\nno colon\r\nx-a: 1",  # refused before the end, as before
    b"HTTP/1.1 200 OK\r\nx-a: 1\r\nx-b: 2",
    b"HTTP/1.1 200 OK\r\n\r",
    b"HTTP/1.1 200 OK\r\nx-a:\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nx-a: \t v \t\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nx-a: caf\xe9\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"x-h: v\r\n" * 100 + b"\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"x-h: v\r\n" * 101 + b"\r\n",
    # Over the reader's limit in all: read line by line, the head's limits as before.
    b"HTTP/1.1 200 OK\r\n" + (b"x-h: " + b"v" * 1000 + b"\r\n") * 30 + b"\r\nbody",
    b"HTTP/1.1 200 OK\r\n" + (b"x-h: " + b"v" * 1000 + b"\r\n") * 70 + b"\r\n",
    b"HTTP/1.1 200 OK\r\nx-long: " + b"a" * 20000 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r" + b"a" * 20000 + b"\r\n\r\n",
    b"HTTP/1.1 200 " + b"a" * 20000 + b"\r\n\r\n",
]


@pytest.mark.parametrize("raw", CASES)
def test_the_head_reads_as_the_line_reader_read_it(raw: bytes) -> None:
    _same(raw)


def test_random_heads_read_as_the_line_reader_read_them() -> None:
    pieces = [b"HTTP/1.1 200 OK", b"HTTP/1.0 101 X", b"HTTP/1.1 100 C", b"\r\n", b"\r",
              b"\n", b"\r\n\r\n", b"\n\r\n", b"x-a: 1", b"x-a", b":", b" ", b"\t", b"\x00",
              b"\x7f", b"bad name", b"content-length: 3", b"abc", b"\xff"]
    rng = random.Random(19)
    for _ in range(3000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 14)))
        if rng.random() < 0.8:
            raw = b"HTTP/1.1 200 OK\r\n" + raw
        _same(raw)


def test_a_status_line_that_is_not_http_is_refused_before_the_head_ends() -> None:
    async def main() -> None:
        reader = asyncio.StreamReader(limit=http1.LINE_LIMIT)
        reader.feed_data(b"SSH-2.0-OpenSSH_9.6\r\n")  # and then nothing: the peer waits
        with pytest.raises(ProtocolError, match=r"HTTP/1\.x status line"):
            async with asyncio.timeout(5):
                await http1.read_head(reader)

    asyncio.run(main())
