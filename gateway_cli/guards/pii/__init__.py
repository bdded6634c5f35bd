"""Personal data in prompts: emails, phones, payment cards, IBANs, US SSNs, IP addresses.

A regular expression only proposes a candidate; a finding is reported when the
candidate also passes the check that real values pass and look-alikes fail
(Luhn and issuer ranges for cards, mod-97 and the country's length for IBANs,
the SSA's allocation rules for SSNs, the octet rules of `ipaddress` for IPs).
That is what keeps order numbers, dates, versions and timestamps out of the
audit log.

Linear time and little of it. Every pattern is bounded in length, or starts
at one fixed character (`@`, `:`) or at the first digit of a run, so the
engine skips prose at memchr speed and never re-reads a long run from every
position. Cards, SSNs, IPv4 addresses and phones are looked for only inside
runs of digits and separators long enough to hold one. The run pattern
itself marks the runs that cannot (a digit string no SSN or card can be,
such as epoch milliseconds, or a bare date such as `2024-03-12 09`), so they
cost Python one test. Inside a run longer than 64 characters a kind is
searched only if the run holds a piece its findings always contain (two
digits in a row for a phone, an SSN's or a card's digit groups), and then by
a second pattern that starts at the separator the first one's look-behinds
allow before a candidate, so the engine stops at separators, not at every
digit. The same patterns answer IPv6 and the phone and SSN context words as
far as they can (times of day and `Foo::bar` never reach Python; the word
lists are searched case-sensitively on lowercased ASCII). What is left costs
Python time per run and per candidate (the validators), and that is bounded:
each of the four passes (runs of digits, IBANs, IPv6, e-mail) examines at
most `MAX_CANDIDATES_PER_PASS` runs and candidates, and a text with more is
reported from where the pass stopped to the end as one `pii_overflow`
finding at confidence 1.0, so a redacting or blocking policy covers every
value in it that was not examined.

1 MB of any shape in bench/guards/run.py takes at most about 40 ms (it was
up to 280 ms before the cap and the run marks), a realistic 4 KB prompt about
0.11 ms; bench/guards/README.md has the tables.

Decisions worth knowing (each module's docstring says more):
- An IPv4 address glued to a word character or a dot (`v1.2.3.4`,
  `1.1.1.1.1`) is a version or an OID, not an address, and is skipped.
- Loopback, unspecified and link-local addresses identify no one and are
  skipped unless `include_local_ips=True`.
- A national phone number without a trunk prefix, a `+` or an area code in
  brackets (`668 5702`) is reported only next to a word such as "phone",
  "call" or "fax": without one, such digit groups are as often quantities.
- Nine bare digits are an SSN at low confidence (0.3) unless "SSN" or
  "social security" is near: driver's licences and ids share the shape.
- Where kinds overlap, the validated ones win (a card, an IBAN, an SSN or an
  IP is not also reported as a phone).

Names and postal addresses need models or gazetteers, so they are left to
plug-ins (`PiiPlugin`), none by default.

The modules, one concept each:

- `guard`: the public API (`scan`, `PiiGuard`, `PiiPlugin`): the four
  passes, overlap resolution and the overflow finding;
- `candidates`: what every detector shares: the guard's name, the candidate
  budget, and the walk over one run's candidates;
- `runs`: runs of digits and separators, and which families each run is
  searched for;
- `cards`, `iban`, `ssn`, `ip`, `email`, `phone`: one detector family each,
  its patterns and its validator;
- `context`: the fast case-insensitive search for context words.
"""

from __future__ import annotations

from gateway_cli.guards.pii.candidates import GUARD, MAX_CANDIDATES_PER_PASS
from gateway_cli.guards.pii.guard import OVERFLOW, PiiGuard, PiiPlugin, scan

__all__ = ["GUARD", "MAX_CANDIDATES_PER_PASS", "OVERFLOW", "PiiGuard", "PiiPlugin", "scan"]
