"""The PII guard: each kind found with its exact span, look-alikes refused, linear time."""

from __future__ import annotations

import bisect
import itertools
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway_cli.guards import pii, redact
from gateway_cli.guards.base import Finding
from gateway_cli.guards.pii import PiiGuard, runs, scan
from gateway_cli.guards.pii.candidates import Budget, candidates
from gateway_cli.guards.pii.cards import CARD, CARD_IN, luhn
from gateway_cli.guards.pii.context import said_before
from gateway_cli.guards.pii.email import LOCAL_CHARS, local_part_start
from gateway_cli.guards.pii.guard import with_overflow
from gateway_cli.guards.pii.iban import (
    IBAN,
    IBAN_AT_START,
    IBAN_BY_EDGE,
    IBAN_BY_LETTER,
    _iban_spans,
    _spans_at_places,
    iban_valid,
)
from gateway_cli.guards.pii.ip import IPV4, IPV4_IN, IPV6_TAIL, ipv4_is_local, ipv6s
from gateway_cli.guards.pii.phone import PHONE, PHONE_BEFORE, PHONE_BEFORE_LOWER, PHONE_IN
from gateway_cli.guards.pii.ssn import SSN, SSN_CONTEXT, SSN_CONTEXT_LOWER, SSN_IN


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


# --- speed work: the cheaper paths find exactly what the plain ones did -------------------------
#
# Each test below pins one change of the speed work against the simpler code it
# replaced (kept here as the reference), on generated text.

_RUN_CHARS = st.text(alphabet=st.sampled_from(list("0123456789 ().-+")), min_size=1, max_size=160)
_DIGITISH = st.text(
    alphabet=st.sampled_from(list("0123456789    ..--()+xe#:abcfSN@_\n/")), max_size=400
)


def _spans(found: list[Finding]) -> list[tuple[str, int, int, float, str]]:
    return [(f.kind, f.start, f.end, f.confidence, f.preview) for f in found]


@settings(max_examples=300, deadline=None)
@given(_DIGITISH)
def test_runs_marked_empty_by_the_run_pattern_hold_nothing(text: str) -> None:
    """`_RUN` marks digit strings no SSN or card can be and bare dates; unmarked, same findings."""
    plain = re.compile(r"[+(0-9][0-9 ().\-]{6,}+")  # the run pattern before the marks
    expected = scan(text, include_local_ips=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "RUN", plain)
        assert _spans(scan(text, include_local_ips=True)) == _spans(expected)


@pytest.mark.parametrize(
    "run",
    ["2024-03-12", "2024-03-12 09", "12.03.2024", "1710211200000", "9120456780", "12345678",
     "123456789012345678901234"],
)
def test_marked_runs_are_never_examined(run: str) -> None:
    m = runs.RUN.match(f"{run} ")
    assert m is not None and m.lastindex == 2
    # Numbers no SSN or card can be are still skipped whole, not retried inside.
    assert found(f"ts {run} ok") == []
    assert found(f"phone {run} ok") == []


@pytest.mark.parametrize("run", ["9123456780", "4155550132", "14155550132"])
def test_bare_numbers_a_plan_allows_are_marked_for_the_phone_word_check(run: str) -> None:
    m = runs.RUN.match(f"{run} ")
    assert m is not None and m.lastindex == 1
    assert found(f"ts {run} ok") == []
    assert [f.kind for f in scan(f"phone {run} ok")] == ["phone"]


@pytest.mark.parametrize(
    "text",
    ["ts 180012345678901 ok", "call 2024-03-12  555 1234", "id 536221234 ok", "n 4111111111111111"],
)
def test_runs_that_may_hold_a_value_are_not_marked(text: str) -> None:
    found_runs = list(runs.RUN.finditer(text))
    assert found_runs and all(m.lastindex is None for m in found_runs)


@settings(max_examples=400, deadline=None)
@given(_RUN_CHARS, st.sampled_from(["", " ", "x 12", "#4", "a", "e"]))
def test_inside_a_long_run_each_kind_finds_what_its_plain_pattern_finds(
    run: str, tail: str
) -> None:
    text = "a " + run + tail
    m = runs.RUN.search(text)
    if m is None:
        return
    start, end = m.span()
    ext = end < len(text) and text[end] in "xXe#"
    window = min(len(text), end + (12 if ext else 1))
    for at, inner in (
        (PHONE, PHONE_IN),
        (SSN, SSN_IN),
        (CARD, CARD_IN),
        (IPV4, IPV4_IN),
    ):
        plain = [x.span(1) for x in at.finditer(text, start, window)]
        fast = [x.span(1) for x in candidates(at, inner, text, start, end, window, True)]
        assert fast == plain, at.pattern


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(
    ["4111 1111 1111 1111", "536-22-1234", "536 22 1234", "536221234", "(415) 555-2671",
     "+44 20 7946 0958", "203.0.113.45", "98765 43210", "1234", "12", " ", "  ", "-", "(", ")", "."]
), min_size=8, max_size=40))
def test_long_runs_find_what_short_runs_find(parts: list[str]) -> None:
    """The gates and separator-anchored patterns of long runs change nothing."""
    text = "call " + "".join(parts) + " x"
    expected = scan(text)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runs, "LONG_RUN", 1 << 30)  # every run takes the plain path
        assert _spans(scan(text)) == _spans(expected)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("GBDEgb0123456789 \n.,:éWEST")), max_size=300))
def test_the_three_iban_anchors_find_the_same_candidates(text: str) -> None:
    by_digits = [(m.start() - 2, m.end()) for m in IBAN.finditer(text)]
    by_letter = [m.span() for m in IBAN_BY_LETTER.finditer(text)]
    first = IBAN_AT_START.match(text)
    by_edge = [first.span()] if first else []
    by_edge += [m.span(1) for m in IBAN_BY_EDGE.finditer(text, first.end() if first else 0)]
    assert by_letter == by_digits
    assert by_edge == by_digits


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("GBDEgbAZ0123456789 \n.,:-_WEST")), max_size=400))
def test_an_ascii_texts_iban_places_find_what_the_pattern_finds(text: str) -> None:
    """Trying the pattern only where letters meet digits (`aadd`) gives its `finditer`."""
    by_digits = [(m.start() - 2, m.end()) for m in IBAN.finditer(text)]
    at_places = _spans_at_places(text)
    if at_places is None:  # too many places: the plain pass runs
        assert len(re.findall(r"(?<![A-Za-z0-9_])(?=[A-Za-z]{2}[0-9]{2})", text)) > 32
    else:
        assert at_places == by_digits
    assert list(_iban_spans(text)) == by_digits


def test_ibans_in_an_ascii_text_are_found_at_few_places_or_by_the_plain_pass() -> None:
    iban = "DE89 3704 0044 0532 0130 00"
    few = f"sha256 of ab12: {iban}, and GB82WEST12345698765432."
    spans = _spans_at_places(few)
    assert spans == [(m.start() - 2, m.end()) for m in IBAN.finditer(few)]
    assert [few[a:b] for a, b in spans] == [iban, "GB82WEST12345698765432"]
    assert ("iban", iban) in found(few)
    many = "ab12 " * 40 + iban
    assert _spans_at_places(many) is None
    assert ("iban", iban) in found(many)
    # Inside a word (hashes, ids) no country code can begin: those places are not
    # counted or tried, so a hash full of them still takes the places.
    hashes = "sha256 " + "0ab12cd34" * 40 + f" {iban} x_GB82WEST12345698765432"
    spans = _spans_at_places(hashes)
    assert spans == [(m.start() - 2, m.end()) for m in IBAN.finditer(hashes)]
    assert [hashes[a:b] for a, b in spans] == [iban]
    # Glued places without end (each found in Python) take the plain pass too.
    glued = "ab12" * 300 + f" {iban}"
    assert _spans_at_places(glued) is None
    assert list(_iban_spans(glued)) == [(m.start() - 2, m.end()) for m in IBAN.finditer(glued)]


@pytest.mark.parametrize(
    "filler",
    # Found from the country code, the edge before it, the check digits, the country code.
    ["1234567890 ", "GB12GB12", "abcdefgh ", "1.2.3.4"],
)
def test_ibans_are_found_in_long_texts_whatever_the_anchor(filler: str) -> None:
    iban = " DE89 3704 0044 0532 0130 00 "
    text = filler * (70_000 // len(filler)) + iban + filler * 10
    assert ("iban", iban.strip()) in found(text)


_OCTETS = [str(i) for i in range(256)] + ["00", "01", "000", "010", "256", "300", "999", "0255"]


def test_ipv4_rules_are_those_of_ipaddress() -> None:
    import ipaddress

    samples = [f"{a}.{b}.0.1" for a in _OCTETS for b in ("0", "254", "255", "01", "256")]
    samples += [f"1.2.3.{d}" for d in _OCTETS] + ["0.0.0.0", "127.255.255.255", "169.254.0.1"]
    for raw in samples:
        if len(max(raw.split("."), key=len)) > 3:
            continue  # the pattern never proposes four digits
        try:
            ip = ipaddress.IPv4Address(raw)
        except ValueError:
            assert ipv4_is_local(raw) is None, raw
            continue
        local = ip.is_loopback or ip.is_unspecified or ip.is_link_local
        assert ipv4_is_local(raw) is local, raw


@given(st.text(alphabet=st.sampled_from(list("0123456789")), min_size=1, max_size=19))
def test_luhn_is_the_textbook_sum(digits: str) -> None:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    assert luhn(digits) == (total % 10 == 0)


@given(st.text(alphabet=st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")),
               min_size=15, max_size=34).map(lambda s: "DE" + s[2:]))
def test_iban_check_is_mod_97_of_the_letters_as_numbers(compact: str) -> None:
    rearranged = compact[4:] + compact[:4]
    expected = len(compact) == 22 and int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1
    assert iban_valid(compact) == expected


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("ab.+_- @x\né")), max_size=140))
def test_local_part_start_is_the_dot_atom_walk(text: str) -> None:
    atext = set(LOCAL_CHARS)
    at = len(text)
    text += "@example.com"
    start = at
    while start > 0 and at - start < 64 and text[start - 1] in atext:
        start -= 1
    expected = start
    local = text[start:at]
    too_long = start > 0 and text[start - 1] in atext
    if start == at or too_long or local[0] == "." or local[-1] == "." or ".." in local:
        expected = -1
    assert local_part_start(text, at) == expected


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("phonecalSN #-_xé\u017f\u0130K")), max_size=60),
       st.integers(min_value=0, max_value=60))
def test_context_words_are_found_as_the_case_insensitive_list_finds_them(
    text: str, lo: int
) -> None:
    text += "call SSN social security Phone"[: lo % 31]
    lo = min(lo, len(text))
    for rx, lower in ((PHONE_BEFORE, PHONE_BEFORE_LOWER),
                      (SSN_CONTEXT, SSN_CONTEXT_LOWER)):
        expected = rx.search(text, lo, len(text)) is not None
        assert said_before(rx, lower, text, lo, len(text)) == expected


# The IPv6 pass before the speed work: every greedy tail from a colon went to Python.
_V6_PLAIN = re.compile(
    r"::?[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3}(?:::)?"
)


def _reference_ipv6s(text: str) -> list[tuple[int, int]]:
    import ipaddress

    out = []
    for m in _V6_PLAIN.finditer(text):
        start, end = m.span()
        if m.group().count(":") < 7 and "::" not in m.group():
            continue
        while start > 0 and m.start() - start < 4 and text[start - 1] in "0123456789abcdefABCDEF":
            start -= 1
        before = text[start - 1] if start else " "
        if before.isalnum() or before in "_:." or re.match(r"[\w:]|\.\w", text[end : end + 2]):
            continue
        raw = text[start:end]
        if len(raw) < 6 or sum(1 for g in re.split(r"[:.]", raw) if g) < 2:
            continue
        try:
            ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        out.append((start, end))
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(
    ["2001:db8::8a2e:370:7334", "::ffff:198.51.100.7", "fe80::1", "::1", "1:2:3:4:5:6:7:8", "a:b",
     "Foo::bar", "12:30:45", "00:1a:2b:3c:4d:5e", "dead:beef::", "1::2::3", "abcde::1", "1.2::3",
     "::", ":", ".", " ", "x", "_", "é", "ab", "0", "\n"]
), max_size=14))
def test_ipv6_candidates_refused_in_the_engine_were_refused_in_python(parts: list[str]) -> None:
    text = "".join(parts)
    budget = Budget()
    budget.left = pii.MAX_CANDIDATES_PER_PASS
    out: list[Finding] = []
    ipv6s(text, True, budget, out)
    assert [(f.start, f.end) for f in out] == _reference_ipv6s(text)


@pytest.mark.parametrize("text", ["at 12:30:45 and 09:15:00", "Foo::add, Result::Ok, std::vector"])
def test_times_and_paths_never_reach_python(text: str) -> None:
    assert list(IPV6_TAIL.finditer(text)) == []


# --- floods: past the cap the rest of the text is one finding -----------------------------------


@pytest.mark.parametrize(
    ("unit", "value"),
    [
        ("(415) 555-0132, ", "(415) 555-0132"),  # phones, each its own run
        ("SSN 536-22-1234 ", "536-22-1234"),
        ("203.0.113.45, ", "203.0.113.45"),
        ("4111 1111 1111 1111  ", "4111 1111 1111 1111"),  # one long run
        ("jo@example.com ", "jo@example.com"),
        ("DE89 3704 0044 0532 0130 00, ", "DE89 3704 0044 0532 0130 00"),
        ("2001:db8::8a2e:370:7334 ", "2001:db8::8a2e:370:7334"),
    ],
)
def test_a_flood_is_reported_up_to_the_cap_then_as_one_overflow(unit: str, value: str) -> None:
    text = "Hello, my card is 4111-1111-1111-1111.\n" + unit * 9000
    findings = scan(text)
    assert findings[0].kind == "credit_card"  # what comes before the flood is reported as usual
    tail = findings[-1]
    assert (tail.kind, tail.end, tail.confidence) == (pii.OVERFLOW, len(text), 1.0)
    assert [f.kind for f in findings].count(pii.OVERFLOW) == 1
    assert value not in tail.preview
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start
    # Fail safe: every value in the text is inside a finding, so redaction covers all of them.
    starts = [f.start for f in findings]
    i = text.find(value)
    while i >= 0:
        k = bisect.bisect_right(starts, i) - 1
        assert k >= 0 and findings[k].end >= i + len(value), i
        i = text.find(value, i + 1)
    for style in ("placeholder", "mask", "hash"):
        redacted, _ = redact.redact(text, findings, style=style)
        assert value not in redacted
        assert "4111-1111-1111-1111" not in redacted


@pytest.mark.parametrize("unit", ["1234  ", "123-45-6789 ", "ab:", "1 2 3 4, "])
def test_a_flood_of_look_alikes_is_one_overflow_finding(unit: str) -> None:
    text = unit * (200_000 // len(unit))
    (only,) = scan(text)
    assert only.kind == pii.OVERFLOW and only.end == len(text)


def test_the_overflow_starts_at_the_run_it_stopped_in_and_never_overlaps() -> None:
    # One long run: the pass stops inside it, so the whole run is the overflow.
    text = "SSN 536-22-1234, then " + "1234  " * 50_000
    assert [(f.kind, text[f.start : f.end]) for f in scan(text)[:1]] == [("us_ssn", "536-22-1234")]
    assert scan(text)[-1].start == text.index("1234  ")
    # A finding that crosses where the pass stopped moves the overflow to its end.
    crossing = Finding("pii", "email", 5, 20, 0.95, "x")
    inside = Finding("pii", "phone", 25, 30, 0.9, "y")
    out = with_overflow("x" * 40, [crossing, inside], 10)
    assert [(f.kind, f.start, f.end) for f in out] == [("email", 5, 20), (pii.OVERFLOW, 20, 40)]


def test_each_pass_has_its_own_cap() -> None:
    # Below the cap in every pass: 1,500 phones (a run and a candidate each) and 4,000 e-mails.
    text = "call (415) 555-0132,\n" * 1500 + "a@example.com " * 4000
    findings = scan(text)
    assert all(f.kind != pii.OVERFLOW for f in findings)
    assert len(findings) == 5500
    # One e-mail more than the cap overflows the e-mail pass only, near its end.
    text = "call (415) 555-0132,\n" * 1500 + "a@example.com " * (pii.MAX_CANDIDATES_PER_PASS + 1)
    findings = scan(text)
    assert findings[-1].kind == pii.OVERFLOW
    assert findings[-1].start > text.index("a@example.com") + 4000 * 14
    assert sum(f.kind == "phone" for f in findings) == 1500


def test_ordinary_big_texts_stay_below_the_cap() -> None:
    log = "".join(
        f"2024-03-12 09:41:{i % 60:02d} INFO job {i} took 1710211200{i % 1000:03d} ms, ok\n"
        for i in range(20_000)
    )
    assert scan(log) == []


def test_the_gateway_redacts_a_flood_completely() -> None:
    from gateway_cli.config import parse_config
    from gateway_cli.guards.pipeline import Inspector

    text = "Customer list:\n" + "".join(f"+44 20 7946 {i:04d}, " for i in range(6000))
    result = Inspector(parse_config({}).inspection).inspect_text(text)
    assert result["verdict"] == "redact"
    assert "+44 20 7946" not in result["text"]
    assert any(f["kind"] == pii.OVERFLOW for f in result["findings"])


@pytest.mark.parametrize(
    "unit",
    [
        "1234  ",
        "123-45-6789 ",
        "(415) 555-0132 ",
        "123 1234 ",
        "4111 1111 1111 1111 ",
        "(415) 555-0132, ",
        "SSN 536-22-1234 ",
        "203.0.113.45, ",
        "2001:db8::8a2e:370:7334 ",
        "jo@example.com ",
        "DE89 3704 0044 0532 0130 00, ",
        "12:30:45 ",
        "1234567890.abcdef.",
        '{"ts":1710211200000}\n',
        "2024-03-12 09:41:07 ",
        "call 668 5702, ",
        "1 2 3 4, ",
    ],
)
def test_linear_time_on_candidate_floods(unit: str) -> None:
    text = unit * (200_000 // len(unit))
    t0 = time.perf_counter()
    scan(text)
    assert time.perf_counter() - t0 < 1.0
