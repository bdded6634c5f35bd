"""The PII guard: each kind found with its exact span, look-alikes refused, linear time."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards.base import Finding
from gateway_cli.guards.pii import PiiGuard, scan


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in scan(text)]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        (
            "Write to jane.doe+news@mail.example.co.uk now",
            "email",
            "jane.doe+news@mail.example.co.uk",
        ),
        ("Call me on +44 20 7946 0958 after six.", "phone", "+44 20 7946 0958"),
        ("Desk: (415) 555-2671 ext 12, ask for Sam.", "phone", "(415) 555-2671 ext 12"),
        ("Her number is 212-555-0147, mobile.", "phone", "212-555-0147"),
        ("Portable : 06 12 34 56 78 le soir.", "phone", "06 12 34 56 78"),
        ("Tel: 030 12345678 (Büro).", "phone", "030 12345678"),
        ("Ring 07700 900123 tomorrow.", "phone", "07700 900123"),
        ("Phone: 98765 43210 (Mumbai office)", "phone", "98765 43210"),
        ("Charge 4111 1111 1111 1111 please.", "credit_card", "4111 1111 1111 1111"),
        ("Amex 3782-822463-10005 expires soon.", "credit_card", "3782-822463-10005"),
        ("card 5555555555554444 on file", "credit_card", "5555555555554444"),
        ("Pay DE89 3704 0044 0532 0130 00 by Friday", "iban", "DE89 3704 0044 0532 0130 00"),
        ("IBAN GB82WEST12345698765432.", "iban", "GB82WEST12345698765432"),
        ("His SSN is 536-22-1234.", "us_ssn", "536-22-1234"),
        ("social security number 536 22 1234", "us_ssn", "536 22 1234"),
        ("Blocked from 203.0.113.45, see logs.", "ip_address", "203.0.113.45"),
        ("peer 2001:db8::8a2e:370:7334 dropped", "ip_address", "2001:db8::8a2e:370:7334"),
        ("mapped ::ffff:198.51.100.7 here", "ip_address", "::ffff:198.51.100.7"),
    ],
)
def test_each_kind_with_its_exact_span(text: str, kind: str, value: str) -> None:
    assert found(text) == [(kind, value)]


def test_several_kinds_in_one_prompt_sorted() -> None:
    text = (
        "Customer bob@example.org (SSN 536-22-1234) paid with 4111-1111-1111-1111 "
        "from 198.51.100.23; call +1 415-555-0132."
    )
    assert found(text) == [
        ("email", "bob@example.org"),
        ("us_ssn", "536-22-1234"),
        ("credit_card", "4111-1111-1111-1111"),
        ("ip_address", "198.51.100.23"),
        ("phone", "+1 415-555-0132"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 declined",  # Luhn fails
        "order 1234567890123456 shipped",  # Luhn fails, no issuer
        "card 4111 11 1111111 1111 odd grouping",  # Luhn passes, grouping is not a card's
        "Pay to DE89 3704 0044 0532 0130 01 by Friday.",  # mod-97 fails
        "IBAN GB82WEST1234569876543",  # one character short for GB
        "SSN 000-12-3456",
        "SSN 666-12-3456",
        "SSN 912-12-3456",
        "SSN 536-00-1234",
        "SSN 536-22-0000",
        "the sample card shows 078-05-1120",
        "advert: SSN 219-09-9999",
        "address 999.1.1.1 is not one",
        "build v1.2.3.4 released",
        "OID 1.3.6.1.4.1 in the MIB",
        "meeting on 2024-03-12 at 10:30:15",
        "deadline 12/03/2024, or 12.03.2024",
        "upgrade from 4.2.1 to 10.15.7.1234",
        "order id 98237492837492837498 ready",
        "times 12:30:45 and 01:02:03:04",
        "std::vector<int> and a::b",
        "loopback 127.0.0.1 and ::1 and 0.0.0.0",
        "not an email: user@localhost or @handle or a@b.c",
        "population 1 234 567 in 2021",
    ],
)
def test_look_alikes_are_not_reported(text: str) -> None:
    assert found(text) == []


def test_bare_nine_digits_are_a_weak_ssn_unless_named() -> None:
    (weak,) = scan("reference 536221234 attached")
    (strong,) = scan("my SSN: 536221234")
    assert weak.kind == strong.kind == "us_ssn"
    assert weak.confidence < 0.5 <= strong.confidence


def test_phone_confidence_follows_the_format() -> None:
    (e164,) = scan("reach me: +33 6 12 34 56 78")
    (local,) = scan("phone: 668 5702")
    assert e164.confidence > local.confidence
    assert scan("we shipped 668 5702 units") == []


def test_local_ips_are_optional() -> None:
    text = "bind 127.0.0.1 or 0:0:0:0:0:0:0:1"
    assert scan(text) == []
    assert [f.kind for f in scan(text, include_local_ips=True)] == ["ip_address", "ip_address"]


def test_validated_kinds_win_over_a_phone_shape() -> None:
    assert found("call about SSN 536-22-1234") == [("us_ssn", "536-22-1234")]


@pytest.mark.parametrize(
    "value",
    [
        "jane.doe@example.com",
        "4111 1111 1111 1111",
        "DE89370400440532013000",
        "536-22-1234",
        "203.0.113.45",
        "+44 20 7946 0958",
    ],
)
def test_previews_never_reveal_more_than_four_characters(value: str) -> None:
    (finding,) = scan(f"value: {value} .")
    assert value not in finding.preview
    shown = finding.preview.split("…")[0]
    assert len(shown) <= 4
    assert value.startswith(shown)


class _NamePlugin:
    def scan(self, text: str) -> list[Finding]:
        i = text.find("Ada Lovelace")
        if i < 0:
            return []
        return [Finding("pii", "person", i, i + 12, 0.6, "Ada …(12 chars)")]


def test_plugins_run_after_the_built_in_kinds() -> None:
    guard = PiiGuard(plugins=[_NamePlugin()])
    text = "Ada Lovelace, ada@example.org"
    assert guard.name == "pii"
    assert [(f.kind, f.start) for f in guard.scan(text)] == [("person", 0), ("email", 14)]
    assert [f.kind for f in PiiGuard().scan(text)] == ["email"]


_PIIISH = st.text(
    alphabet=st.sampled_from(list("0123456789 .-:()+@xabcdefGBDE_\n/#")), max_size=300
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), _PIIISH))
def test_never_raises_spans_inside_sorted_non_overlapping(text: str) -> None:
    findings = scan(text, include_local_ips=True)
    for f in findings:
        assert f.guard == "pii"
        assert 0 <= f.start < f.end <= len(text)
        assert 0.0 <= f.confidence <= 1.0
        assert text[f.start : f.end] not in f.preview or f.end - f.start == 0
    assert findings == sorted(findings, key=lambda f: (f.start, f.end, f.kind))
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start


@pytest.mark.parametrize(
    "unit",
    ["1", "1 ", "12-", "@", "a@", "1.", ":", "ab:", "a.", "GB12", "+(1", "1  ", "GB12 ", "a@b."],
)
def test_linear_time_on_adversarial_input(unit: str) -> None:
    text = unit * (200_000 // len(unit))
    t0 = time.perf_counter()
    scan(text)
    assert time.perf_counter() - t0 < 1.0
