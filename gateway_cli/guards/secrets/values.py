"""What a credential's value looks like, shared by every detector of the secrets guard.

- Placeholders (`xxxx`, `YOUR_API_KEY`, `${SECRET}`, `<token>`, runs of one
  character, `EXAMPLE`, `fake`) never fire, whatever the format: a
  documentation value is not a leak.
- Values found only by a name must also look random: not an alphabet run
  (`abcdef`), not a repeated chunk (`abcd1234abcd1234`), near the entropy of
  random text of their length.
- A token ends where its alphabet ends: the boundary checks look at the one
  character on each side, in Python, after a regex with no trailing assertion
  has matched (see engine.py for why).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import zlib
from collections import Counter
from itertools import pairwise

Hit = tuple[str, int, int, float]  # kind, start, end, confidence: a finding before masking

TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
TOKEN_CHARS_STR = "".join(sorted(TOKEN_CHARS))
ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
HEX = frozenset("0123456789abcdefABCDEF")
DIGITS = frozenset("0123456789")
LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

_PLACEHOLDER_WORDS = (
    "xxxx",
    "example",
    "your_",
    "your-",
    "yourapi",
    "yourkey",
    "yoursecret",
    "yourtoken",
    "placeholder",
    "changeme",
    "change_me",
    "dummy",
    "fake",
    "sample",
    "redacted",
    "insert",
    "replace",
    "..",
    "\u2026",
    "<",
    ">",
    "${",
    "{{",
    "$(",
    "%(",
)
_REPEAT = re.compile(r"(.)\1{5}")
UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


_SHORT_WORDS = tuple(
    v for w in _PLACEHOLDER_WORDS if len(w) <= 4 for v in (w, w.upper(), w.title())
)
_LONG_WORDS = tuple(w for w in _PLACEHOLDER_WORDS if len(w) > 4)


def is_placeholder(value: str) -> bool:
    """Values people paste in docs and templates: flagging them is pure noise.

    Short words must be written in one case (`fake`, `FAKE`, `Fake`): a random
    mixed-case token contains `FaKe` now and then.
    """
    low = value.lower()
    if any(w in low for w in _LONG_WORDS) or any(w in value for w in _SHORT_WORDS):
        return True
    if _REPEAT.search(value):
        return True
    return len(value) >= 8 and len(set(value)) < 5


def is_repetitive(value: str) -> bool:
    """`abcd1234abcd1234...`: a chunk repeated; random key material repeats no 4-gram much."""
    n = len(value) - 3
    return n >= 12 and len({value[i : i + 4].lower() for i in range(n)}) < 0.7 * n


def entropy(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_sequential(value: str, run: int = 6) -> bool:
    """`abcdef`, `123456`, `ZYXWVU`: alphabets and counting, never random key material."""
    step, count = 0, 1
    for a, b in pairwise(value):
        d = ord(b) - ord(a)
        if d in (1, -1) and d == step:
            count += 1
            if count >= run:
                return True
        else:
            step, count = (d, 2) if d in (1, -1) else (0, 1)
    return False


def is_counting(value: str) -> bool:
    """`abc123def456ghi789`: counting in pieces. In random base62 about one neighbour in
    60 is the next character; here two in five or more are."""
    if len(value) < 12:
        return False
    steps = sum(ord(b) - ord(a) == 1 for a, b in pairwise(value))
    return steps * 5 >= len(value) * 2


def mixed(s: str) -> bool:
    """Digits and both cases: what random base62/base64 of any length has."""
    return not DIGITS.isdisjoint(s) and s.lower() != s and s.upper() != s


def varied(body: str, n: int = 8) -> bool:
    """At least `n` distinct characters: a random body of 20+ chars always has."""
    return len(set(body)) >= n


# The base64 of an SSH public key starts with its type's length and name
# (`ssh-rsa`, `ssh-dss`, `ssh-ed25519`, `ecdsa-...`, `sk-...`): published on purpose.
_SSH_PUBLIC = ("AAAAB3NzaC1", "AAAAC3NzaC1", "AAAAE2VjZHNh", "AAAAGnNrLW", "AAAAGnNrLX",
               "AAAAInNrLW")


def is_public_key(value: str) -> bool:
    """An SSH public key's body (what `authorized_keys` holds): random, and no secret."""
    return value.startswith(_SSH_PUBLIC)


def looks_random(value: str) -> bool:
    """Long, both cases and digits, near the entropy of random base62/base64 of its length."""
    if not mixed(value) or is_placeholder(value) or is_sequential(value) or is_counting(value):
        return False
    if is_public_key(value):
        return False
    if is_repetitive(value):
        return False
    return entropy(value) >= min(4.5, math.log2(len(value)) - 0.9)


# Words near a value that say it is used as a credential.
KEY_WORDS = ("key", "token", "secret", "auth", "cred", "passw", "bearer")


def key_context(text: str, start: int, end: int, words: tuple[str, ...] = KEY_WORDS) -> bool:
    near = text[max(0, start - 64) : start].lower() + " " + text[end : end + 40].lower()
    return any(w in near for w in words)


def left_ok(text: str, start: int, chars: frozenset[str] = TOKEN_CHARS) -> bool:
    return start == 0 or text[start - 1] not in chars


def right_ok(text: str, end: int, chars: frozenset[str] = TOKEN_CHARS) -> bool:
    return end >= len(text) or text[end] not in chars


def _base62(n: int, width: int = 6) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def checksum_ok(body: str) -> bool:
    """GitHub/npm tokens end in base62(CRC32(first 30 chars)): a typo or a fake fails."""
    return len(body) == 36 and _base62(zlib.crc32(body[:30].encode())) == body[30:]


_B64_STD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def encoded_text(value: str) -> str | None:
    """The text a base64 value encodes (Kubernetes Secret data, an encoded example),
    or None. Random key material almost never decodes to printable ASCII (about one
    12-byte value in 150,000), so a value that does is encoded text, and it is the
    text that is a credential or not."""
    if len(value) < 8 or len(value) % 4 or not _B64_STD.issuperset(value):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.isascii():
        return None
    text = raw.decode("ascii")
    return text if text.isprintable() and len(text) >= 4 else None


def b64decode(seg: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        return None
