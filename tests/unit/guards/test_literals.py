"""`Literals.present`: bit i set exactly when `needles[i] in text`, in C and in Python.

The C scan (`_literals.c`) reads a str in its own width (one, two or four
bytes per character), looks further only where the first two characters
begin a needle, and stops once every needle is found: each of those is a
place to be wrong, so texts of every width, needles that overlap, share a
first character, are one character or empty, and texts that end inside a
needle are all compared with `in`. Bad needles and calls are refused.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import _literals, literals
from gateway_cli.guards.literals import Literals
from gateway_cli.guards.secrets import engine


def expected(needles: tuple[str, ...], text: str) -> int:
    return sum(1 << i for i, n in enumerate(needles) if n in text)


def test_this_install_has_the_compiled_scan() -> None:
    assert literals._literals is not None, "the C extension _literals was not built"
    assert Literals(["a"]).compiled
    assert all(hay.compiled for hay in engine.LITERALS)


CHARS = st.sampled_from([*"abc-:/ \n", "\u00e9", "\u00ff", "\u0100", "\u4e2d", "\U0001f512",
                         "\x00"])
NEEDLE_CHARS = st.sampled_from([*"abc-:/ \n", "\u00e9", "\u00ff", "\x00"])


@settings(max_examples=600, deadline=None)
@given(st.lists(st.text(NEEDLE_CHARS, max_size=5), max_size=12), st.text(CHARS, max_size=80))
def test_present_is_in_for_every_needle(needles: list[str], text: str) -> None:
    needles_t = tuple(needles)
    want = expected(needles_t, text)
    assert Literals(needles_t).present(text) == want
    assert Literals(needles_t, compiled=False).present(text) == want


@pytest.mark.parametrize("text", ["ab", "abc", "xxab", "a", "", "b", "\u4e2dab", "\U0001f512abc",
                                  "abab", "aab", "\u00e9\u00e9ab"])
def test_overlapping_needles_and_texts_that_end_inside_one(text: str) -> None:
    needles = ("ab", "abc", "b", "", "abcd", "aab", "\u00e9a", "\u00e9\u00e9")
    assert Literals(needles).present(text) == expected(needles, text)


def test_every_width_of_text() -> None:
    needles = ("://", "aws", "-----BEGIN ", "\u00e9t\u00e9", "=")
    for prefix in ("", "\u00e9", "\u4e2d", "\U0001f512"):  # UCS1, UCS1, UCS2, UCS4
        for body in ("s3://bucket aws", "x = y", "\u00e9t\u00e9 -----BEGIN x", "nothing"):
            text = prefix + body
            assert Literals(needles).present(text) == expected(needles, text), text


def test_characters_at_or_above_u0100_are_in_no_needle() -> None:
    # U+0161 and U+0061 differ only above the low byte: never confused.
    assert Literals(("a",)).present("\u0161") == 0
    assert Literals(("ab",)).present("\u0161b") == 0
    assert Literals(("ab",)).present("a\u0162") == 0


def test_sixty_four_needles_and_a_long_text() -> None:
    needles = tuple(f"n{i:02d}x" for i in range(64))
    text = " ".join(needles[::2]) * 1000
    assert Literals(needles).present(text) == expected(needles, text)
    assert Literals(needles).present("n63x" + "z" * 100_000) == 1 << 63


def test_more_needles_than_one_scan_takes() -> None:
    needles = tuple(f"k{i:03d}" for i in range(150))  # three C scans of 64, 64 and 22
    text = "k001 k063 k064 k127 k128 k149 k150"
    want = expected(needles, text)
    assert want == (1 << 1) | (1 << 63) | (1 << 64) | (1 << 127) | (1 << 128) | (1 << 149)
    assert Literals(needles).present(text) == want
    assert Literals(needles, compiled=False).present(text) == want
    assert Literals(()).present(text) == 0


def test_the_c_scan_takes_at_most_sixty_four() -> None:
    with pytest.raises(ValueError):
        _literals.Literals(tuple("x" * (i + 1) for i in range(65)))


@pytest.mark.parametrize("needles, error", [
    (("\u0100",), ValueError),
    (("\u4e2d",), ValueError),
])
def test_bad_needles_are_refused_by_both(needles: tuple[str, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        Literals(needles)
    with pytest.raises(error):
        _literals.Literals(needles)


def test_bad_calls_of_the_compiled_scan_are_refused() -> None:
    with pytest.raises(TypeError):
        _literals.Literals([b"ab"])  # a list, and bytes
    with pytest.raises(TypeError):
        _literals.Literals((b"ab",))
    with pytest.raises(TypeError):
        _literals.Literals(("ab",), extra=1)
    scan = _literals.Literals(("ab",))
    with pytest.raises(TypeError, match="once"):
        scan.__init__(("cd",))
    assert scan.present("xab") == 1
    with pytest.raises(TypeError):
        scan.present(b"ab")
    bare = _literals.Literals.__new__(_literals.Literals)
    with pytest.raises(ValueError, match="not initialised"):
        bare.present("ab")


def test_asking_for_the_compiled_scan_where_it_is_missing_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(literals, "_literals", None)
    with pytest.raises(ValueError, match="not built"):
        Literals(("a",), compiled=True)
    assert not Literals(("a",)).compiled
    assert Literals(("a", "b")).present("b") == 2
