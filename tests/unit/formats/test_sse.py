"""The incremental SSE parser against the WHATWG rules, however the bytes are cut."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.formats.sse import SSEError, SSEEvent, SSEParser, encode_event


def parse(*chunks: bytes, max_event_bytes: int = 1 << 20) -> list[SSEEvent]:
    parser = SSEParser(max_event_bytes=max_event_bytes)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


# Every rule the parser knows, in one stream: a BOM, all three line endings,
# comments, multi-line data, a field without a colon, no space after the
# colon, a multi-byte character, ids carried over, unknown fields, and an
# event with no data (never dispatched).
STREAM = (
    "\ufeff: hello comment\r\n"
    "event: message_start\r\n"
    "data: {\"a\": \"h\u00e9llo \U0001f600\"}\r\n"
    "\r\n"
    "id: 7\n"
    "data:first\n"
    "data:  second\n"
    "retry: 1000\n"
    "unknown: x\n"
    "\n"
    "event: only-type\r"
    "\r"
    "data\r"
    "\r"
    "event: ping\n"
    "data: {}\n"
    "\n"
    "data: unterminated"
).encode()

EXPECTED = [
    SSEEvent("message_start", '{"a": "h\u00e9llo \U0001f600"}', None),
    SSEEvent(None, "first\n second", "7"),
    SSEEvent(None, "", "7"),
    SSEEvent("ping", "{}", "7"),
]


def test_whole_stream() -> None:
    assert parse(STREAM) == EXPECTED


def test_every_single_split_point() -> None:
    for i in range(len(STREAM) + 1):
        assert parse(STREAM[:i], STREAM[i:]) == EXPECTED, i


def test_one_byte_at_a_time() -> None:
    assert parse(*(STREAM[i:i + 1] for i in range(len(STREAM)))) == EXPECTED


@settings(max_examples=200)
@given(st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_set_of_split_points(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(STREAM)]
    assert parse(*(STREAM[a:b] for a, b in itertools.pairwise(bounds))) == EXPECTED


_no_newline = st.characters(exclude_categories=["Cs"], exclude_characters="\r\n")
_names = st.none() | st.text(_no_newline, min_size=1, max_size=8)
_lines = st.lists(st.text(_no_newline, max_size=12), min_size=1, max_size=4)


@settings(max_examples=150)
@given(events=st.lists(st.tuples(_names, _lines), max_size=6),
       newline=st.sampled_from([b"\n", b"\r\n", b"\r"]), data=st.data())
def test_generated_streams_survive_any_chunking(
    events: list[tuple[str | None, list[str]]], newline: bytes, data: st.DataObject,
) -> None:
    wire = b""
    for name, lines in events:
        wire += b": keep-alive" + newline
        if name is not None:
            wire += b"event: " + name.encode() + newline
        for line in lines:
            wire += b"data: " + line.encode() + newline
        wire += newline
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    bounds = [0, *cuts, len(wire)]
    chunks = [wire[a:b] for a, b in itertools.pairwise(bounds)]
    expected = [SSEEvent(name or None, "\n".join(lines)) for name, lines in events]
    assert parse(*chunks) == expected


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # Were the LF read as a second, empty line, "a" would be dispatched alone.
    assert parse(b"data: a\r", b"\ndata: b\r\n\r\n") == [SSEEvent(None, "a\nb")]
    assert parse(b"data: a\r", b"", b"\ndata: b\r\n\r\n") == [SSEEvent(None, "a\nb")]


def test_cr_alone_ends_lines() -> None:
    assert parse(b"event: e\rdata: x\r\r") == [SSEEvent("e", "x")]


def test_comments_alone_dispatch_nothing() -> None:
    assert parse(b": ping\n\n:\n\n: another\r\n\r\n") == []


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert parse(b"data:x\n\ndata: x\n\ndata:  x\n\n") == [
        SSEEvent(None, "x"), SSEEvent(None, "x"), SSEEvent(None, " x")]


def test_field_without_colon_has_empty_value() -> None:
    assert parse(b"event\ndata\ndata\n\n") == [SSEEvent(None, "\n")]


def test_event_type_resets_after_dispatch() -> None:
    assert parse(b"event: a\ndata: 1\n\ndata: 2\n\n") == [SSEEvent("a", "1"), SSEEvent(None, "2")]


def test_id_persists_and_nul_id_is_ignored() -> None:
    assert parse(b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\nid\ndata: c\n\n") == [
        SSEEvent(None, "a", "1"), SSEEvent(None, "b", "1"), SSEEvent(None, "c", "")]


def test_bom_is_stripped_only_at_the_start_even_when_split() -> None:
    assert parse(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == [SSEEvent(None, "a")]
    # A second BOM is part of a field name, so the line is an unknown field.
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [SSEEvent(None, "b")]


def test_split_multibyte_character() -> None:
    raw = "data: \u20ac\U0001f600\n\n".encode()
    for i in range(len(raw) + 1):
        assert parse(raw[:i], raw[i:]) == [SSEEvent(None, "\u20ac\U0001f600")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert parse(b"data: \xff\xfe\n\n") == [SSEEvent(None, "\ufffd\ufffd")]


def test_incomplete_event_at_end_is_not_dispatched() -> None:
    assert parse(b"data: a\n") == []
    assert parse(b"data: a") == []


def test_oversize_line_raises() -> None:
    parser = SSEParser(max_event_bytes=100)
    parser.feed(b"data: " + b"x" * 90)
    with pytest.raises(SSEError, match="exceeded 100 bytes"):
        parser.feed(b"x" * 10)


def test_oversize_event_of_many_lines_raises() -> None:
    parser = SSEParser(max_event_bytes=100)
    with pytest.raises(SSEError):
        parser.feed(b"data: 0123456789\n" * 10)


def test_many_small_events_do_not_count_against_the_limit() -> None:
    parser = SSEParser(max_event_bytes=20)
    events: list[SSEEvent] = []
    for _ in range(1000):
        events += parser.feed(b"data: 0123456789\n\n")
    assert len(events) == 1000


def test_event_exactly_at_the_limit_is_accepted() -> None:
    raw = b"data: abc\n\n"
    assert parse(raw, max_event_bytes=len(raw)) == [SSEEvent(None, "abc")]
    with pytest.raises(SSEError):
        parse(raw, max_event_bytes=len(raw) - 1)


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SSEParser(max_event_bytes=0)


def test_encode_event() -> None:
    assert encode_event(b'{"a":1}', "message_start") == b'event: message_start\ndata: {"a":1}\n\n'
    assert encode_event(b"[DONE]") == b"data: [DONE]\n\n"


def test_encode_event_rejects_line_break_in_name() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_event(b"x", "a\nb")


@settings(max_examples=150)
@given(data=st.text(max_size=40), name=_names)
def test_encode_then_parse_round_trips(data: str, name: str | None) -> None:
    # Line breaks of any kind in the data come back as LF: SSE cannot carry CR.
    normalised = data.replace("\r\n", "\n").replace("\r", "\n")
    assert parse(encode_event(data.encode(), name)) == [SSEEvent(name, normalised)]
