"""E-mail addresses: a dot-atom local part, an @, and a DNS host name with a 2+ letter TLD.

The pattern starts at the `@`, so the engine skips prose at memchr speed.
A match is skipped when what stands before its `@` is no dot-atom of 1 to
64 characters (`a..b@`, `.a@`, 65 letters) or when it begins inside the
address before it.

A no-reply address (`noreply@`, `no-reply@`, `donotreply@`,
`mailer-daemon@`) is skipped: it is a machine's, it reaches no person, and
the apps and agents that print one in their prompts (commit trailers,
notification templates) are not leaking anyone's data.
"""

from __future__ import annotations

import re
import string

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.pii.candidates import GUARD, Budget

# The RFC 5322 dot-atom characters of a local part.
LOCAL_CHARS = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-."
# From the @: a DNS host name with a 2+ letter TLD. The local part (at most 64
# characters) is found by hand before it, so the engine only wakes up at an @
# and no run of text is ever rescanned from each position.
_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,63}"
    r"(?![\w\-])(?!\.[A-Za-z0-9])"
)


_NO_REPLY = re.compile(r"(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]?daemon)"
                       r"(?:[-+_.][A-Za-z0-9]{1,32})?", re.IGNORECASE)


def local_part_start(text: str, at: int) -> int:
    """Where the local part before `at` begins, or -1 when it is not a dot-atom."""
    lo = max(0, at - 65)
    length = at - lo - len(text[lo:at].rstrip(LOCAL_CHARS))
    if not 0 < length <= 64:
        return -1
    start = at - length
    local = text[start:at]
    if local[0] == "." or local[-1] == "." or ".." in local:
        return -1
    return start


def emails(text: str, budget: Budget, out: list[Finding]) -> None:
    """Append the e-mail addresses in `text` to `out`, as far as the budget goes."""
    if "@" not in text:
        return
    last_end = 0
    for m in _EMAIL_DOMAIN.finditer(text):
        if not budget.take(max(0, m.start() - 64)):
            return
        start = local_part_start(text, m.start())
        if start < last_end:
            continue
        last_end = m.end()
        if _NO_REPLY.fullmatch(text, start, m.start()):
            continue
        out.append(Finding(GUARD, "email", start, m.end(), 0.95, mask(text[start : m.end()])))
