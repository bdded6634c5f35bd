"""The compiled span scan (guards/_runs.c) gives RUN's matches, and the PII guard the same findings.

`runs.digit_runs` takes its spans and RUN's marks (a bare North American
number, a run nothing can be found in: RUN's lookaheads spelled out in C) from
the compiled scan; RUN.finditer is what it replaced and stays the fallback.
Compared on generated texts of digits, separators, start characters,
extension letters, dates, years, digits of other scripts and characters of
every str width, on floods, and through the whole guard with the scan
switched off.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import _runs
from gateway_cli.guards.pii import runs
from gateway_cli.guards.pii.guard import scan
from gateway_cli.guards.pii.runs import RUN, digit_runs


def plain(text: str) -> list[tuple[int, int, int | None]]:
    return [(m.start(), m.end(), m.lastindex) for m in RUN.finditer(text)]


def test_this_install_has_the_compiled_scan() -> None:
    assert runs._spans is not None, "the C extension _runs was not built"


PIECES = ["0", "1", "2", "4", "7", "8", "9", "12", "19", "20", "415", "555", "0132", "2024", "03",
          "1800", "800", " ", "  ", "(", ")", ".", "-", "+", "x", "X", "e", "#", "a", ":", "\n",
          "/", "\u0661", "\u4e2d", "\U0001f512", "\u00e9", "phone ", "4111 1111 1111 1111",
          "123-45-6789", "10.0.0.1", "2125550199", "12125550199", "2024-03-12", "12.03.2024",
          "1-2-1999", "18001234567890", "9" * 9, "0" * 12]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_spans_and_marks_are_runs(text: str) -> None:
    assert list(digit_runs(text)) == plain(text)


@pytest.mark.parametrize("text", [
    "2024-03-12 09:41", "2024-3-1 9", "2024.03.12 09 x", "12.03.2024 09", "1.3.1999", "-12-2024",
    "2125550199", "2125550199x", "12125550199 #", "0125550199", "2121550199", "18001234567890",
    "18001234567890 ", "1800123456789", "900000000 ", "9000000000 ", "12345678 e",
    "", "1234567", "123456", "+123456", "+1234567", "(((((((", "+((((((", "+ 12345", "1+2345678",
    "9" * 1000, "(" * 1000, "+" * 1000, "1 " * 500_000, "2024-03-12 09:41", "\u4e2d1234567",
    "\U0001f5121234567 \U0001f512", "12345678\u0661", "x1234567x",
])
def test_edges_and_floods(text: str) -> None:
    assert list(digit_runs(text)) == plain(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_the_guard_finds_the_same_without_the_compiled_scan(text: str) -> None:
    with_scan = scan(text)
    kept = runs._spans
    try:
        runs._spans = None
        assert scan(text) == with_scan
    finally:
        runs._spans = kept


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError):
        _runs.digits(b"1234567")
    with pytest.raises(TypeError):
        _runs.digits(1234567)


def test_bad_word_scan_calls_are_refused() -> None:
    with pytest.raises(TypeError):
        _runs.words(b"abc", 1, 1)
    with pytest.raises(ValueError):
        _runs.words("abc", 0, 1)
    with pytest.raises(TypeError):
        _runs.words("abc")
    assert _runs.words("ab abcd", 3, 4) == (True, [3, 7])
