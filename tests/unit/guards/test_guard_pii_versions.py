"""IPv4 against dotted version numbers, and no-reply addresses: what an agent's own prompt
and pasted release notes are full of, and what reaches no person."""

from __future__ import annotations

import pytest

from gateway_cli.guards import pii


def _found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start:f.end]) for f in pii.scan(text)]


@pytest.mark.parametrize("text", [
    "Claude Code version 2.1.197.123 is out",
    "Version: 4.2.0.1",
    "v1.2.3.4",
    "ver 10.0.19041.1",
    "version 10.0.19041.1 of Windows",
    "upgrade from 2.1.197.123 to 2.1.198.1",
    "versions 1.2.3.4, 1.2.3.5 and 1.2.3.6",
    "pip install foo==1.2.3.4",
    "requires pkg>=1.2.3.4",
    "User-Agent: curl/7.68.0.1",
    "ships 10.20.30.40-beta next week",
    "the 3.1.4.1+build7 artifact",
    "Firmware 1.0.12.4 fixes the fan",
    "as RFC 5321 4.5.3.1 says",
    "parse the header as per RFC4880 5.2.3.1. Signature",
    "# See section 5.2.3.4 (Signature Creation Time)",
    "described in sections 5.5.1.2 (pub subkey)",
    'el.setAttribute("version", "6.0.0.0")',
])
def test_a_dotted_version_is_no_address(text: str) -> None:
    assert _found(text) == []


@pytest.mark.parametrize(("text", "address"), [
    ("server at 203.0.113.9 is down", "203.0.113.9"),
    ("ssh root@203.0.113.9", "203.0.113.9"),
    ("connect to 8.8.8.8", "8.8.8.8"),
    ("route to 8.8.4.4 from version 2 of the app", "8.8.4.4"),
    ("version 1.0 was deployed; the client at 198.51.100.7 failed", "198.51.100.7"),
    ("see http://192.0.2.44/status", "192.0.2.44"),
    ("10.20.30.40 - beta testers", "10.20.30.40"),
])
def test_an_address_in_text_is_still_found(text: str, address: str) -> None:
    assert ("ip_address", address) in _found(text)


@pytest.mark.parametrize("address", [
    "noreply@anthropic.com", "no-reply@example.com", "no_reply@example.com",
    "donotreply@bank.example", "do-not-reply@bank.example", "NoReply@Example.com",
    "mailer-daemon@mail.example.org", "noreply+abc123@github.com",
])
def test_a_no_reply_address_reaches_no_one(address: str) -> None:
    assert _found(f"Co-Authored-By: Bot <{address}>") == []


@pytest.mark.parametrize("address", [
    "noreplyjane@example.org", "jane.noreply@example.org", "reply@example.org",
    "no-reply-jane.roe.personal.account@example.org",
])
def test_a_person_whose_address_mentions_no_reply_is_still_found(address: str) -> None:
    assert _found(f"write to {address} today") == [("email", address)]
