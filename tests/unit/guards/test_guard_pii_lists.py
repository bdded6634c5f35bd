"""PII guard: values listed with only a space between them are each found (lists.py).

Before, the candidate patterns refused a value that ran on into more digits,
so `415-555-0132 415-555-0133` or two card numbers side by side were
reported as nothing at all, and a flood of them neither found nor covered.
"""

from __future__ import annotations

import pytest

from gateway_cli.config import parse_config
from gateway_cli.guards.pii import scan
from gateway_cli.guards.pii.candidates import MAX_CANDIDATES_PER_PASS
from gateway_cli.guards.pipeline import Inspector


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in scan(text)]


@pytest.mark.parametrize(("text", "values"), [
    ("phones 415-555-0132 415-555-0133",
     [("phone", "415-555-0132"), ("phone", "415-555-0133")]),
    ("phones 415.555.0132 415.555.0133 415.555.0134",
     [("phone", "415.555.0132"), ("phone", "415.555.0133"), ("phone", "415.555.0134")]),
    ("(415) 555-0132 (415) 555-0133",
     [("phone", "(415) 555-0132"), ("phone", "(415) 555-0133")]),
    ("+1 415 555 0132 +1 415 555 0133",
     [("phone", "+1 415 555 0132"), ("phone", "+1 415 555 0133")]),
    ("tel +44 20 7946 0958 +44 20 7946 0959",
     [("phone", "+44 20 7946 0958"), ("phone", "+44 20 7946 0959")]),
    ("cards 4111111111111111 5500000000000004",
     [("credit_card", "4111111111111111"), ("credit_card", "5500000000000004")]),
    ("cards 4111-1111-1111-1111 5500-0000-0000-0004.",
     [("credit_card", "4111-1111-1111-1111"), ("credit_card", "5500-0000-0000-0004")]),
    ("4111 1111 1111 1111 5500 0000 0000 0004",
     [("credit_card", "4111 1111 1111 1111"), ("credit_card", "5500 0000 0000 0004")]),
    ("mixed 219-09-9998 415-555-0132 4111111111111111.",
     [("us_ssn", "219-09-9998"), ("phone", "415-555-0132"),
      ("credit_card", "4111111111111111")]),
])
def test_each_value_of_a_list_is_found(text: str, values: list[tuple[str, str]]) -> None:
    assert _found(text) == values


def test_a_long_list_is_found_value_by_value() -> None:
    numbers = [f"415-555-01{i:02d}" for i in range(40)]
    assert _found(" ".join(numbers)) == [("phone", n) for n in numbers]


@pytest.mark.parametrize("text", [
    "order 1234 5678 9012 3456 7890 1234 5678",  # grouped digits, no value in them
    "acct 4111 1111 1111 1111 1234",  # a card's digits run on: a longer number
    "ids 12 415-555-0132",  # a piece that is no value: not a list
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14",
    "totals 123 1234 123 1234 123 1234",
])
def test_a_run_that_is_not_wholly_values_is_not_a_list(text: str) -> None:
    assert _found(text) == []


def test_a_flood_of_listed_values_is_covered_by_the_overflow() -> None:
    text = "(415) 555-0132 " * (2 * MAX_CANDIDATES_PER_PASS)
    found = scan(text)
    # The whole flood is one run: out of budget inside it, none of it counts as examined.
    assert [(f.kind, f.start, f.end) for f in found] == [("pii_overflow", 0, len(text))]


def test_a_list_of_cards_is_redacted_by_the_default_policy() -> None:
    inspector = Inspector(parse_config({}).inspection)
    text = "pay with 4111111111111111 5500000000000004 today"
    result = inspector.inspect_text(text)
    assert result["verdict"] in ("redact", "block")
    assert "4111111111111111" not in result["text"]
    assert "5500000000000004" not in result["text"]
    assert [f["kind"] for f in result["findings"]] == ["credit_card", "credit_card"]


@pytest.mark.parametrize(("text", "value"), [
    ("phone +1 (415) 555-0132", "+1 (415) 555-0132"),
    ("+1(415)555-0132 ok", "+1(415)555-0132"),
])
def test_a_north_american_number_with_a_plus_and_brackets_is_a_phone(text: str,
                                                                     value: str) -> None:
    assert _found(text) == [("phone", value)]
    assert _found(text.replace("+1", "+2")) == []  # no such plan: not E.164-shaped either


@pytest.mark.parametrize(("text", "value"), [
    ("phone: 4155550132", "4155550132"),
    ("call me at 4155550132.", "4155550132"),
    ("my cell is 14155550132", "14155550132"),
    ("Text 2125550199 when you land", "2125550199"),
])
def test_a_bare_north_american_number_after_a_phone_word_is_a_phone(text: str,
                                                                    value: str) -> None:
    assert _found(text) == [("phone", value)]


@pytest.mark.parametrize("text", [
    "order number 4155550132",  # no phone word: an id as often as a phone
    "ts 1741570283",  # epoch seconds
    "phone 1741570283",  # no area code starts with 1
    "phone 4151550132",  # nor an exchange
    "phone 24155550132",  # 11 digits not from 1
    "call id4155550132",  # glued to a word
    "call 4155550132abc",
])
def test_a_bare_number_is_not_a_phone_without_the_word_and_the_plan(text: str) -> None:
    assert _found(text) == []


def test_a_dump_of_bare_numbers_without_a_phone_word_is_not_flagged() -> None:
    text = "2125550199\n" * (3 * MAX_CANDIDATES_PER_PASS)
    assert scan(text) == []


def test_bare_numbers_after_phone_words_take_the_budget() -> None:
    text = "phone 4155550132\n" * (2 * MAX_CANDIDATES_PER_PASS)
    found = scan(text)
    assert [f.kind for f in found[:-1]] == ["phone"] * (len(found) - 1)
    assert found[-1].kind == "pii_overflow" and found[-1].end == len(text)
    assert len(found) - 1 == MAX_CANDIDATES_PER_PASS  # each bare number took one
