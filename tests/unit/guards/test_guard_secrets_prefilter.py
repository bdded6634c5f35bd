"""Secrets guard: the scan's prefilters never drop a finding (issue 22).

Three shortcuts skip work where a finding is impossible (engine.py, plan.py):

- the needles of the detector table are looked for all at once per haystack
  (`Literals`: one pass in C, or each needle only when its rarest character
  is in the text, which every text holding the needle has);
- the steps on the long words are dropped for a text that has none;
- the keyword regexes whose value needs 16+ characters run only when the text
  has a word that long (a value has no whitespace in it);
- each keyword regex runs only when its literal prefix is in the text (and the
  four that need "key" only when "key" is), from the literal's first occurrence.

Each is checked mechanically from the tables, and the scan is compared, hit
for hit and in order, with the plain loop it replaced (`plain_hits`, the code
before the prefilters) on generated texts, the labelled eval texts and the
bench shapes. Two perturbations show the comparison fails when a prefilter is
wrong.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import re
from pathlib import Path
from re import _constants, _parser  # type: ignore[attr-defined]  # no stubs for these
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.literals import Literals
from gateway_cli.guards.secrets import assignments, engine, plan
from gateway_cli.guards.secrets.assignments import env_gate
from gateway_cli.guards.secrets.values import Hit
from tests.unit.guards import findings_record as record
from tests.unit.guards.findings_record import EVAL, EVAL_FILES, NO_EVAL


def plain_long_words(text: str) -> str:
    return "\n".join(dict.fromkeys(w for w in text.split() if len(w) >= 20))


def plain_hits(text: str, lower: str) -> list[Hit]:
    """The scan loop before the prefilters: every needle searched, every keyword run."""
    long = plain_long_words(text)
    hits = list(engine.tokens(text, long)) if long else []
    ran: set[object] = set()
    for where, needles, detector in engine.DETECTORS:
        if detector in ran:
            continue
        hay = long if where in ("long", "env", "long-rx") else lower if where == "lower" else text
        if any(n in hay for n in needles) and (where != "env" or env_gate(long)) and (
                where != "long-rx" or engine.LONG_GATES[detector](long)):
            ran.add(detector)
            found = (assignments.judged(text, lower, plain_keyword_matches(lower))
                     if detector is assignments.generic else detector(text, lower))
            hits.extend(engine.capped(found, len(text)))
    return hits


def plain_keyword_matches(lower: str) -> list[re.Match[str]]:
    """Every keyword regex over the whole text (as `assignments.generic` ran them)."""
    return sorted((m for *_, pattern in assignments._KEYWORDS for m in pattern.finditer(lower)),
                  key=lambda m: m.start())


def same_as_plain(text: str) -> bool:
    lower = engine.lowered(text)
    return engine.all_hits(text, lower) == plain_hits(text, lower)


# --------------------------------------------------------------------------- the tables


def test_every_step_asks_for_exactly_its_needles() -> None:
    for (where, needles, detector), step in zip(engine.DETECTORS, engine.PLAN, strict=True):
        assert step[3] is detector
        hay = engine.LITERALS[step[0]]
        asked = {hay.needles[i] for i in range(len(hay.needles)) if step[1] >> i & 1}
        assert asked == set(needles), (where, detector)


def test_every_needle_is_behind_a_character_of_its_own() -> None:
    for hay in engine.LITERALS:
        assert [n for _, n in hay.gates] == list(hay.needles)
        for char, needle in hay.gates:
            # `needle in hay` implies `char in hay`: the pre-gate drops nothing.
            assert (char in needle and len(char) == 1) or (needle == char == ""), needle


def test_the_plan_keeps_the_table_order_and_drops_only_long_word_steps() -> None:
    assert tuple(s for s in engine.PLAN if s[0] != plan.LONG) == engine.PLAN_NO_LONG
    for (where, _, _), step in zip(engine.DETECTORS, engine.PLAN, strict=True):
        assert (step[0] == plan.LONG) == (where in ("long", "env", "long-rx"))


def test_no_long_word_step_can_run_on_a_text_without_long_words() -> None:
    empty = ""  # the long words of a text that has none
    for where, mask, gate, detector in engine.PLAN:
        if where != plan.LONG:
            continue
        for hay in (engine.LITERALS[plan.LONG], _python(engine.LITERALS[plan.LONG])):
            fires = bool(hay.present(empty) & mask) and (gate is None or gate(empty))
            assert not fires, detector


def _value_group(pattern: str) -> tuple[int, list[tuple[object, object]]]:
    """The keyword regex's value group (4): its shortest repeat and its class."""
    todo = list(_parser.parse(pattern))
    while todo:
        op, av = todo.pop()
        if op is _constants.SUBPATTERN:
            if av[0] == 4:
                [(rep, (lo, _hi, [(cls, items)]))] = list(av[3])
                assert rep is _constants.MAX_REPEAT and cls is _constants.IN
                return lo, items
            todo.extend(av[3])
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            todo.extend(av[2])
        elif op is _constants.BRANCH:
            for branch in av[1]:
                todo.extend(branch)
    raise AssertionError(f"no value group in {pattern}")


def _group(pattern: str, number: int) -> list[tuple[object, object]]:
    todo = list(_parser.parse(pattern))
    while todo:
        op, av = todo.pop()
        if op is _constants.SUBPATTERN:
            if av[0] == number:
                return list(av[3])
            todo.extend(av[3])
    raise AssertionError(f"no group {number} in {pattern}")


def _nodes(items: object) -> list[tuple[object, object]]:
    """Every node of a parsed regex, nested ones included."""
    out = []
    todo = list(items)  # type: ignore[call-overload]
    while todo:
        op, av = todo.pop()
        out.append((op, av))
        if op is _constants.SUBPATTERN:
            todo.extend(av[3])
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            todo.extend(av[2])
        elif op is _constants.BRANCH:
            for branch in av[1]:
                todo.extend(branch)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            todo.extend(av[1])
    return out


def test_keyword_regexes_start_with_their_literal_and_need_key_where_said() -> None:
    generator = _generator()
    for literal, needs_key, _, pattern in assignments._KEYWORDS:
        # No match starts before the literal's first occurrence ...
        assert generator.literal_prefix(pattern.pattern) == literal, pattern.pattern
        # ... and searching from there reads nothing before it: no anchor, no look-behind.
        for op, av in _nodes(_parser.parse(pattern.pattern)):
            assert op is not _constants.AT, pattern.pattern
            assert not (op in (_constants.ASSERT, _constants.ASSERT_NOT) and av[0] < 0)
        ends = [av for op, av in _group(pattern.pattern, 1)[-3:] if op is _constants.LITERAL]
        assert needs_key == ("".join(map(chr, ends)) == "key"), pattern.pattern
    assert sum(k for _, k, _, _ in assignments._KEYWORDS) == 4


def _generator() -> Any:
    script = Path(__file__).resolve().parents[3] / "scripts" / "generate-secret-tables"
    loader = importlib.machinery.SourceFileLoader("generate_secret_tables", str(script))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_keyword_values_are_words_of_their_shortest_length() -> None:
    skipped = 0
    for _, _, shortest, pattern in assignments._KEYWORDS:
        lo, items = _value_group(pattern.pattern)
        assert lo == shortest, pattern.pattern
        # A negated class that holds `\s`: no whitespace (as `str.split` has it) in a
        # value, so a value of `shortest` characters lies in a word at least as long.
        assert items[0] == (_constants.NEGATE, None)
        assert (_constants.CATEGORY, _constants.CATEGORY_SPACE) in items
        assert not pattern.flags & _constants.SRE_FLAG_ASCII
        skipped += shortest >= assignments.LONG_VALUE
    assert skipped == 8  # secret, token, cred, auth, api key, access key, private key, key
    assert engine._VALUE_RUN == b"a" * assignments.LONG_VALUE


_WS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003\u3000"


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*_WS, "a", "é", "\u0130", "x" * 15, "y" * 16, "z" * 20, "="]),
                max_size=40).map("".join))
def test_the_long_word_flag_is_a_word_of_sixteen(text: str) -> None:
    lower = engine.lowered(text)
    long, long_word = engine.words(text, lower)
    assert long_word == any(len(w) >= assignments.LONG_VALUE for w in lower.split())
    assert set(long.split("\n")) - {""} == set(plain_long_words(text).split("\n")) - {""}


def test_words_are_split_where_the_keyword_values_end() -> None:
    # The word-length gate splits `text` as `str.split` does; the keyword values
    # (on `lower`) end at `re`'s `\s`. The same code points, before and after lowering.
    space = re.compile(r"\s")
    for code in range(0x110000):
        c = chr(code)
        assert (space.fullmatch(c) is not None) == c.isspace() == engine.lowered(c).isspace(), code


# --------------------------------------------------------------------------- differential

_VALUES = ["aB3dE5gH7jK9mN1", "aB3dE5gH7jK9mN1p", "aB3dE5gH7jK9mN1pQ", "Xk9#mPq2vL",
           "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8mT3kL1x", "aZ7" * 7, "S3cr3tPassw0rd"]
_PIECES = [
    *_WS, *_VALUES, "password", "PASSWORD", "pwd", "secret", "token", "creds", "auth",
    "auth_key", "key", "api_key", "API-KEY", "private key", "access_key", "_token", "=", ": ",
    " is ", "=>", '"', "'", "(", "é", "\u0130", "\u2019", "ß", "-----BEGIN RSA PRIVATE KEY-----",
    '"type": "service_account"', "postgres://", "admin:", "@db.internal", "curl -u ",
    "--user ", "x-jfrog-art-api: ", "aws", "amazon", "AKIA", "IOSFODNN7EXAMPLE", "azure",
    "ocp-apim-subscription-key: ", "0123456789abcdef0123456789abcdef", '"name": "token",\n',
    '"value": ', "Authorization: Bearer ", "export API_TOKEN=", "ghp_", "sk-", "eyJ",
    # Whole constructs, so each detector meets what it finds next to any piece above.
    " postgres://admin:S3cr3tPassw0rd@db.internal ", " azure key 9f86d081884c7d659a2feaa0c55ad015 ",
    '{"name": "api_token", "value": "aB3dE5gH7jK9mN1pQ"}', "\nAKIAIOSFODNN7EXAMPL3 ",
    "export API_TOKEN=aB3dE5gH7jK9mN1pQrS7tU9vW1xY3zA5bC\n",
]


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join))
def test_the_scan_hits_what_the_plain_loop_hits(text: str) -> None:
    assert same_as_plain(text)


def test_the_bench_shapes_hit_what_the_plain_loop_hits() -> None:
    run = record._bench_run()
    texts = {**run.prompts(), **run.adversarial()}
    assert [name for name, text in texts.items() if not same_as_plain(text)] == []


@pytest.mark.skipif(not EVAL.is_dir(), reason=NO_EVAL)
def test_the_eval_texts_hit_what_the_plain_loop_hits() -> None:
    differ = []
    for name in EVAL_FILES:
        lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["text"] for line in lines if line.strip()]
        for number, text in enumerate(texts, 1):
            differ += [(name, number) for form in record.forms(text) if not same_as_plain(form)]
        if not same_as_plain("\n".join(texts)):
            differ.append((name, 0))
    assert differ == []


# --------------------------------------------------------------------------- the checks can fail


def test_a_pre_gate_character_outside_its_needle_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "db: postgres://admin:S3cr3tPassw0rd@db.internal"
    assert same_as_plain(text) and plain_hits(text, engine.lowered(text))
    hay = _python(engine.LITERALS[plan.TEXT])
    hay.gates = tuple(("#" if n == "://" else c, n) for c, n in hay.gates)
    monkeypatch.setattr(engine, "LITERALS", (*engine.LITERALS[:plan.TEXT], hay))
    assert not same_as_plain(text)


def test_a_step_asking_for_the_wrong_needle_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "db: postgres://admin:S3cr3tPassw0rd@db.internal"
    assert same_as_plain(text) and plain_hits(text, engine.lowered(text))
    hay = engine.LITERALS[plan.TEXT]
    url, begin = hay.mask(["://"]), hay.mask(["-----BEGIN "])

    def wrong(step: plan.Step) -> plan.Step:
        where, mask, gate, detector = step
        return where, (begin if where == plan.TEXT and mask == url else mask), gate, detector

    monkeypatch.setattr(engine, "PLAN", tuple(map(wrong, engine.PLAN)))
    monkeypatch.setattr(engine, "PLAN_NO_LONG", tuple(map(wrong, engine.PLAN_NO_LONG)))
    assert not same_as_plain(text)


def test_the_python_scan_hits_what_the_plain_loop_hits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where the C scan is not built, `Literals` falls back to `in` behind each pre-gate.
    monkeypatch.setattr(engine, "LITERALS", tuple(map(_python, engine.LITERALS)))
    texts = ["db: postgres://admin:S3cr3tPassw0rd@db.internal", "aws_secret_access_key = x",
             "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
             "curl -u admin:hunter2hunter2 https://x", "plain prose with nothing in it"]
    assert [t for t in texts if not same_as_plain(t)] == []


def test_keyword_literals_looked_for_at_once_match_the_finds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The keyword regexes run when their literal is there: found in one pass (C) or by
    # `find` each (where the scan is not built); both hit what the plain loop hits.
    texts = ["password = 'Xk9#mQ2$vL8pW4nR'", "api_key: 8f3a9c2e7b1d4f6a0c5e9b2d", "token=abc",
             "the key to access a private api", "AUTH_TOKEN=ghx9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4",
             "creds: Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5", "no keywords in this sentence at all"]
    assert assignments._LITERALS.compiled
    assert [t for t in texts if not same_as_plain(t)] == []
    monkeypatch.setattr(assignments, "_LITERALS", _python(assignments._LITERALS))
    assert [t for t in texts if not same_as_plain(t)] == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["pass", "password", "pwd", "secret", "token", "cred", "creds",
                                 "auth", "api", "api_key", "access key", "private_key", "key",
                                 " = ", ": ", "'", '"', "Xk9mQ2vL8pW4nR7t", "8f3a9c2e7b1d4f6a",
                                 " ", "\n", "_", "-", "public "]), max_size=20).map("".join))
def test_generated_keyword_texts_hit_what_the_plain_loop_hits(text: str) -> None:
    assert same_as_plain(text)


def _python(hay: Literals) -> Literals:
    return Literals(hay.needles, compiled=False)


def test_a_long_word_gate_one_too_long_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "token = aB3dE5gH7jK9mN1p"  # a 16-character value, the shortest a token takes
    assert same_as_plain(text) and plain_hits(text, engine.lowered(text))
    scan = engine._word_runs
    assert scan is not None
    # The compiled word scan asked for one character more...
    monkeypatch.setattr(engine, "_word_runs", lambda t, some, keep: scan(t, some + 1, keep))
    assert not same_as_plain(text)
    # ...and the Python fallback's run of marks one character longer.
    monkeypatch.setattr(engine, "_word_runs", None)
    assert same_as_plain(text)
    monkeypatch.setattr(engine, "_VALUE_RUN", b"a" * (assignments.LONG_VALUE + 1))
    assert not same_as_plain(text)


def test_a_keyword_literal_the_regex_does_not_start_with_is_caught(
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = "token = aB3dE5gH7jK9mN1p"
    wrong = tuple(("tokens" if literal == "token" else literal, *rest)
                  for literal, *rest in assignments._KEYWORDS)
    monkeypatch.setattr(assignments, "_KEYWORDS", wrong)
    assert not same_as_plain(text)
