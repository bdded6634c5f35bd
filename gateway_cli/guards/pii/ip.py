"""IP addresses: IPv4 inside runs of digits and dots, IPv6 from its first colon.

A candidate is an address when `ipaddress` would accept it (IPv4's octet
rules are checked by hand, with the same answers). Two decisions:

- An IPv4 address glued to a word character or a dot (`v1.2.3.4`,
  `1.1.1.1.1`) is a version or an OID, not an address, and is skipped.
  So is one that the words just before it call a version (`version
  2.1.197.123`, `Release: 4.2.0.1`, `==1.2.3.4`, `curl/7.1.0.2`, `RFC 4880
  5.2.3.1`, `section 5.2.3.4`) or that a
  pre-release or build suffix follows (`1.2.3.4-beta`, `1.2.3.4+build`):
  a build number reaches no one, and rewriting it breaks the text.
- Loopback, unspecified and link-local addresses identify no one and are
  skipped unless `include_local_ips=True`.

The IPv6 pattern refuses in the engine what Python would refuse after it,
so times of day and `Foo::bar` never reach Python.
"""

from __future__ import annotations

import ipaddress
import re

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, Budget, candidates

_IPV4_REST = r"[0-9]{0,2}(?:\.[0-9]{1,3}){3}(?!\w)(?!\.[0-9])"
IPV4 = re.compile(r"([0-9](?<![\w.][0-9])" + _IPV4_REST + ")")
IPV4_IN = re.compile(r"[ ()\-+]([0-9]" + _IPV4_REST + ")")
# From the first colon: at most 7 more non-empty hex groups (one gap may be
# `::`, possibly at the end), optionally ending in dotted IPv4. The first group
# (up to 4 hex digits before that colon) is added back by hand. Starting at a
# colon lets the engine skip prose at memchr speed, and colons and hex digits
# are disjoint, so there is nothing to backtrack into. The look-arounds refuse
# in the engine what the code after it would refuse anyway, so that times of
# day and `Foo::bar` never reach Python: a colon right after a dot, a colon or
# a word character that is no hex digit, and a match with neither eight groups
# nor a `::` (the look-ahead follows the match's own greedy steps).
IPV6_TAIL = re.compile(
    r":(?<![:.]:)(?<![^\W0-9A-Fa-f]:)"
    r"(?=:|[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){6}"
    r"|[0-9A-Fa-f]{1,4}+(?::[0-9A-Fa-f]{1,4}+){0,6}(?:\.[0-9]{1,3}+){0,3}::)"
    r":?[0-9A-Fa-f]{1,4}(?:::?[0-9A-Fa-f]{1,4}){0,6}(?:\.[0-9]{1,3}){0,3}(?:::)?"
)
# What ends the 40 characters before a dotted quad when that is a version: a version
# word (then a colon or equals sign, "from"/"to", up to three versions listed before),
# a section of a standard (`RFC 5321 4.5.3.1`, `section 5.2.3.4`), a comparison of a
# requirement, or a product token (`name/`); quotes may stand between (`"version", "6.0.0.0"`).
_VERSION_BEFORE = re.compile(
    r"(?:\bv|\bver|\bversions?|\breleases?|\bbuilds?|\bupdated?|\bupgraded?|\bpatch"
    r"|\bfirmware|\bkernel|\bsections?|\bclauses?|\bchapters?|\brfc[ \t]?[0-9]{1,5}|\u00a7"
    r"|==|>=|<=|~=|!=|[a-z]/)[ \t\"',]*[:=]?[ \t\"',]*(?:(?:from|to)[ \t]+)?"
    r"(?:[0-9][0-9.]{0,15}[ \t,]+(?:and|or|to|from|->)?[ \t]*){0,3}$")
_VERSION_AFTER = re.compile(r"(?:-(?:alpha|beta|rc|dev|pre|snapshot|final|release)|\+[0-9a-z])",
                            re.IGNORECASE)
_HEX = frozenset("0123456789abcdefABCDEF")


def is_version(text: str, start: int, end: int) -> bool:
    """Whether the dotted quad at `start:end` reads as a version number, by its neighbours."""
    if _VERSION_AFTER.match(text, end):
        return True
    return _VERSION_BEFORE.search(text[max(0, start - 40):start].lower()) is not None
_SPLIT_V6 = re.compile(r"[:.]")
_V6_AFTER = re.compile(r"[\w:]|\.\w")


def ipv4_is_local(raw: str) -> bool | None:
    """None when `raw` (four groups of 1-3 digits) is not an address, else whether it is local.

    The rules of `ipaddress.IPv4Address` (no leading zeros, octets up to 255)
    and of its `is_loopback`, `is_unspecified` and `is_link_local`.
    """
    a, b, c, d = raw.split(".")
    for octet in (a, b, c, d):
        if len(octet) > 1 and (octet[0] == "0" or (len(octet) == 3 and octet > "255")):
            return None
    return a == "127" or (a == "169" and b == "254") or a == b == c == d == "0"


def ipv4s(
    text: str,
    start: int,
    end: int,
    window: int,
    long: bool,
    include_local: bool,
    budget: Budget,
    out: list[Finding],
) -> bool:
    """Append the IPv4 addresses in the run `[start, end)` to `out`; False: out of budget."""
    for m in candidates(IPV4, IPV4_IN, text, start, end, window, long):
        s = m.start(1)
        if not budget.take(s):
            return False
        raw = m.group(1)
        local = ipv4_is_local(raw)
        if local is not None and (include_local or not local) \
                and not is_version(text, s, m.end(1)):
            out.append(Finding(GUARD, "ip_address", s, m.end(1), 0.85, mask(raw)))
    return True


def _ip_is_local(ip: ipaddress.IPv6Address) -> bool:
    return ip.is_loopback or ip.is_unspecified or ip.is_link_local


def ipv6s(text: str, include_local: bool, budget: Budget, out: list[Finding]) -> None:
    """Append the IPv6 addresses in `text` to `out`, as far as the budget goes."""
    if ":" not in text:
        return
    for m in IPV6_TAIL.finditer(text):
        start, end = m.span()
        if not budget.take(max(0, start - 4)):
            return
        while start > 0 and m.start() - start < 4 and text[start - 1] in _HEX:
            start -= 1
        before = text[start - 1] if start else " "
        if before.isalnum() or before in "_:." or _V6_AFTER.match(text[end : end + 2]):
            continue
        raw = text[start:end]
        if len(raw) < 6 or sum(1 for g in _SPLIT_V6.split(raw) if g) < 2:
            continue  # `a::b` is more often a C++ or Rust path than an address
        try:
            v6 = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        if include_local or not _ip_is_local(v6):
            out.append(Finding(GUARD, "ip_address", start, end, 0.9, mask(raw)))
