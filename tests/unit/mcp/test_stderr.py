"""A stdio child's stderr as the gateway keeps and logs it: lines split across chunks,
bounded in number and length, control characters and credentials never kept."""

from __future__ import annotations

from gateway_cli.mcp import stderr
from tests.unit.guards.test_guard_secrets import with_crc

OWN = "child-own-credential-0123456789"


def test_lines_across_chunks_are_joined_and_redacted() -> None:
    tail = stderr.Tail((OWN,))
    assert tail.feed(b"first li") == []
    leaked = with_crc("ghp_")
    lines = tail.feed(f"ne\nkey {OWN} and {leaked}\nthird".encode())
    assert lines[0] == "first line"
    assert OWN not in lines[1] and "[redacted: the server's own credential]" in lines[1]
    assert leaked not in lines[1] and "ghp_" in lines[1]
    assert tail.end() == ["third"] and tail.end() == []
    assert list(tail.lines) == ["first line", lines[1], "third"]


def test_bounded_in_lines_and_length() -> None:
    tail = stderr.Tail()
    tail.feed(b"".join(b"line %d\n" % i for i in range(1000)))
    assert len(tail.lines) == stderr.TAIL_LINES and tail.lines[-1] == "line 999"
    [long] = tail.feed(b"y" * 5000 + b"\n")
    assert long.endswith(" [cut]") and len(long) <= stderr.LINE_CHARS + 6


def test_a_line_without_end_is_cut_once_and_its_rest_dropped() -> None:
    tail = stderr.Tail()
    first = tail.feed(b"z" * (stderr.LINE_BYTES + 10))
    assert len(first) == 1 and first[0].endswith("[cut]")
    assert tail.feed(b"z" * 100000) == []  # still the same endless line
    assert tail.feed(b"zzz\nnext\n") == ["next"]


def test_control_characters_do_not_reach_a_terminal() -> None:
    [line] = stderr.Tail().feed(b"\x1b[2Jcleared\x07 \xe2\x80\xaeevil\n")
    assert "\x1b" not in line and "\x07" not in line and "\u202e" not in line
    assert stderr.loud("Traceback (most recent call last):")
    assert not stderr.loud("listening on stdio")
