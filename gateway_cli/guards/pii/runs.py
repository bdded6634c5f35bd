"""Runs of digits and separators: where cards, SSNs, IPv4 addresses and phones are looked for.

Every card, SSN, IPv4 address and phone number lies inside one run of 7 or
more digits and separators (a phone's extension just after it). Finding the
runs is one possessive pass that the engine starts only at a digit, + or (;
each family's pattern then looks only inside runs that have enough digits
for it, so prose costs almost nothing and no long run is re-read from every
position.

The run pattern itself marks the runs that cannot hold anything (a digit
string no SSN or card can be, such as epoch milliseconds, or a bare date
such as `2024-03-12 09`), so they cost Python one test. Inside a run longer
than `LONG_RUN` characters a kind is searched only if the run holds a piece
its findings always contain (two digits in a row for a phone, an SSN's or a
card's digit groups), and then by its second pattern that starts at
separators (`candidates.candidates`).

If the budget runs out inside a run, none of the run counts as examined: the
overflow starts where the run does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gateway_cli.guards.base import Finding
from gateway_cli.guards.pii import lists
from gateway_cli.guards.pii.candidates import NOT_DIGITS, Budget
from gateway_cli.guards.pii.cards import cards
from gateway_cli.guards.pii.ip import ipv4s
from gateway_cli.guards.pii.phone import bare_phone, has_phone_word, phones
from gateway_cli.guards.pii.ssn import ssns

try:  # the compiled span scan (guards/_runs.c), built where a C compiler was found
    from gateway_cli.guards._runs import digits as _spans
except ImportError:  # pragma: no cover - exercised where the extension was not built
    _spans = None  # type: ignore[assignment]

# A run that cannot hold anything is marked by the pattern itself (group 2 is
# set), so skipping it costs Python one test: one digit string that is no SSN
# (9 digits, not from 9: no area is 900 or above), no North American number (10
# or 11 digits that `_BARE` did not take) and no card (12-19 digits,
# not from 0, 7, 8 or 9, nor from 1 unless it is JCB's 15-digit 1800: no
# issuer has those prefixes; epoch milliseconds start with 1), or a date
# (`2024-03-12`, `12.03.2024`, optionally then an hour, as in
# `2024-03-12 09`), each followed by separators only and no extension (`x`,
# `e`, `#`). A phone candidate there would contain the date; an SSN, card or
# IPv4 address needs more digits than such a run has.
_SKIP = (
    r"(?:[0-9]{0,7}+|[0-9]{9,10}+|[0-9]{19,}+"
    r"|(?<=9)[0-9]{8}+|(?<=[0789])[0-9]{11,18}+|(?<=1)(?!800[0-9]{11}(?![0-9]))[0-9]{11,18}+"
    r"|[0-9]{3}[\-.][0-9]{1,2}[\-.][0-9]{1,2}(?: [0-9]{1,2})?"
    r"|[0-9]?[\-.][0-9]{1,2}[\-.](?:19|20)[0-9]{2}(?: [0-9]{1,2})?"
    r")(?![0-9])[ ().\-]*+(?![0-9xXe#])"
)
# A digit string that could be a North American number (group 1: 10 digits, or 11
# from 1, area code and exchange from 2-9), then separators only and no extension: a
# phone only after a phone word (`phone.bare_phone`); past `BARE_LOOKS` of them the
# text is asked once whether it holds a phone word at all, so a dump of such ids costs one
# search, not a budget's worth of checks. Tried first: it fails at its first digits on
# most runs.
_BARE = (r"(?:(?<=[2-9])[0-9]{2}|(?<=1)[2-9][0-9]{2})[2-9][0-9]{6}(?![0-9])[ ().\-]*+"
         r"(?![0-9xXe#])")
RUN = re.compile(r"[+(0-9](?=[0-9 ().\-]{6})(?:(?<=[0-9])(?:(?=(" + _BARE + r"))|(?=("
                 + _SKIP + r"))))?[0-9 ().\-]{6,}+")
# Bare digit strings looked at one by one (the words just before each) before the whole
# text is searched once for a phone word (`phone.has_phone_word`, ~25 ns a character).
BARE_LOOKS = 64
# A run longer than this is searched by each kind only if it holds a piece
# that kind's findings always contain (digits written as `d`): two digits in
# a row for a phone, an SSN's groups for an SSN, a card's groups for a card.
LONG_RUN = 64
_AS_D = str.maketrans("0123456789", "dddddddddd")
_SSN_PIECES = ("ddd-dd-dddd", "ddd dd dddd", "d" * 9)
_CARD_PIECES = (
    "d" * 12,
    "dddd dddd dddd",
    "dddd-dddd-dddd",
    "dddd dddddd dddd",
    "dddd-dddddd-dddd",
)


def digit_runs(text: str) -> Iterator[tuple[int, int, int | None]]:
    """(start, end, mark) of each of RUN's matches: from the compiled scan (guards/_runs.c,
    one loop where `re` paid an attempt at every digit, the marks' lookaheads spelled out
    there), or from RUN itself where the scan is not built."""
    if _spans is None:
        for run in RUN.finditer(text):
            yield run.start(), run.end(), run.lastindex
        return
    flat = _spans(text)
    for k in range(0, len(flat), 3):
        yield flat[k], flat[k + 1], flat[k + 2] or None


def digit_kinds(text: str, include_local_ips: bool, budget: Budget, out: list[Finding]) -> None:
    """Append the cards, SSNs, IPv4 addresses and phones in `text` to `out`.

    When the budget runs out, `budget.limit` is the start of the run it ran
    out in.
    """
    n = len(text)
    bare = 0  # bare digit strings that could be North American numbers, so far
    phone_words: bool | None = None  # whether the text has a phone word; asked once, if at all
    for start, end, marked in digit_runs(text):
        if marked:
            if marked == 2:
                continue  # nothing can be found in it (`_SKIP`)
            bare += 1
            if bare > BARE_LOOKS:
                # Many: a dump of ids, most likely. One search of the whole text for a
                # phone word settles the rest if there is none.
                if phone_words is None:
                    phone_words = has_phone_word(text)
                if not phone_words:
                    continue
            if not bare_phone(text, start, end, budget, out):
                return  # out of budget (`take` set where)
            continue
        if not budget.take(start):
            return
        raw = text[start:end]
        digits = len(raw.translate(NOT_DIGITS))
        # The look-aheads need the character after the run; an extension, more.
        ext = end < n and text[end] in "xXe#"
        window = min(n, end + (12 if ext else 1))
        if not ext and raw.rstrip(" ().-").isdigit():
            # One digit string: every phone shape needs a separator, a + or a
            # bracket, an SSN is then exactly 9 digits and a card 12 to 19.
            if digits == 9:
                done = ssns(text, start, end, window, False, budget, out)
            elif 12 <= digits <= 19:
                done = cards(text, start, end, window, False, budget, out)
            elif digits in (10, 11):
                # `RUN` marks these (group 1 or 2) and they do not reach here; the walk
                # stays whole without the marks, which the tests compare against.
                done = bare_phone(text, start, end, budget, out)
            else:
                continue  # `RUN` marks these already
        elif end - start <= LONG_RUN:
            done = (
                (
                    raw.count(".") < 3
                    or ipv4s(text, start, end, window, False, include_local_ips, budget, out)
                )
                and (digits < 7 or phones(text, start, end, window, False, budget, out))
                and (digits < 9 or ssns(text, start, end, window, False, budget, out))
                and (digits < 12 or cards(text, start, end, window, False, budget, out))
            )
        else:
            shape = raw.translate(_AS_D)
            done = (
                (
                    raw.count(".") < 3
                    or ipv4s(text, start, end, window, True, include_local_ips, budget, out)
                )
                and (
                    digits < 7
                    or "dd" not in shape
                    or phones(text, start, end, window, True, budget, out)
                )
                and (
                    digits < 9
                    or not any(p in shape for p in _SSN_PIECES)
                    or ssns(text, start, end, window, True, budget, out)
                )
                and (
                    digits < 12
                    or not any(p in shape for p in _CARD_PIECES)
                    or cards(text, start, end, window, True, budget, out)
                )
            )
        if done and digits >= 2 * lists.MIN_DIGITS and " " in raw:
            # Values side by side with a space between: each refused above as a piece of
            # a longer number (lists.py).
            done = lists.list_values(text, start, end, budget, out)
        if not done:
            # Out of budget inside this run: none of it counts as examined.
            budget.limit = start
            return
