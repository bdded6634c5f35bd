"""Values found by a name, not a shape: `password = ...`, `api_key: ...`, `NAME=value` lines.

The name says little, so the value must earn the finding: it must look like a
credential rather than code, a reference or a stub. Values found only by a
name (`*_key`, `auth`, a bare `NAME=value` line) must also look random: not an
alphabet run (`abcdef`), not a repeated chunk (`abcd1234abcd1234`).

Each keyword is its own regex that starts with a literal and includes the
assignment and the value, so text that merely mentions a password never
reaches Python code; a keyword inside an already-read value is not read again,
and repeated values are judged once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import chain

from gateway_cli.guards.literals import Literals
from gateway_cli.guards.secrets.passwords import is_trivial
from gateway_cli.guards.secrets.values import (
    DIGITS,
    HEX,
    LETTERS,
    UUID,
    Hit,
    encoded_text,
    entropy,
    is_counting,
    is_placeholder,
    is_public_key,
    is_repetitive,
    is_sequential,
    looks_random,
    mixed,
)

# line is checked in Python.
_ENV_LINE = (
    r"[ \t]{0,8}(?:export[ \t]{1,4})?([A-Za-z_][A-Za-z0-9_]{0,63})="
    r"([\"']?)([A-Za-z0-9+/_.-]{32,200}={0,2})"
)
_ENV_FIRST = re.compile(_ENV_LINE)
_ENV_NEXT = re.compile("\n" + _ENV_LINE)
# The same shape as one of the long words (the gate: most texts have none).
_ENV_WORD = r"[A-Za-z_][A-Za-z0-9_]{0,63}=[\"']?[A-Za-z0-9+/_.-]{32}"
_ENV_WORD_FIRST = re.compile(_ENV_WORD)
_ENV_WORD_NEXT = re.compile("\n" + _ENV_WORD)
# Names of values that are long and random but not secret.
_ENV_NOT_SECRET = (
    "hash", "sha", "checksum", "digest", "integrity", "public", "pubkey", "_id", "uuid",
    "url", "uri", "version", "commit", "etag", "path", "host", "name", "nonce", "salt",
)  # fmt: skip


def env_gate(long: str) -> bool:
    return _ENV_WORD_FIRST.match(long) is not None or _ENV_WORD_NEXT.search(long) is not None


def env_assign(text: str, lower: str) -> Iterator[Hit]:
    first = _ENV_FIRST.match(text)
    for m in chain(() if first is None else (first,), _ENV_NEXT.finditer(text)):
        quote = m.group(2)
        vs, ve = m.span(3)
        end = ve
        if quote:
            if not text.startswith(quote, end):
                continue
            end += 1
        while end < len(text) and text[end] in " \t\r":
            end += 1
        if end < len(text) and text[end] != "\n":
            continue  # more on the line: code or prose, not an assignment
        name = lower[m.start(1) : m.end(1)]
        if any(w in name for w in _ENV_NOT_SECRET):
            continue
        if looks_random(m.group(3)):
            yield "high_entropy_assignment", vs, ve, 0.6


# --------------------------------------------------------------------------- keywords

# One regex per keyword, each starting with a literal so `re` skips ahead to it,
# and each including the assignment and the value: text that merely mentions a
# password never reaches Python code.
# The shortest value each keyword can accept (see _judge_value) is in the regex:
# `token: token: ...` then fails in `re`, not in Python, match after match.
_KW_ASSIGN = (
    r"[\"']?[ \t]{0,3}(?:=>|:=|==|[:=]|[ \t](?:is|was)[ \t])[ \t]{0,3}"
    r"(?:!!binary[ \t]{1,3})?([\"'`]?)([^\s\"'`,;)(\]\[{}<>]{%d,300})"
)
_KW_SUFFIX = r"([a-z0-9_.-]{0,12})"
_MIN_PASSWORD, _MIN_SECRET = 6, 16
# A value of this many characters or more has no whitespace in it (`\s` is out of
# its class), so it lies inside one word of the text at least as long: a text
# with no such word cannot hold a match of the keywords that need one, and
# their passes are skipped (`generic`). Prose rarely has a word of 16.
LONG_VALUE = _MIN_SECRET
# (literal, needs "key", shortest value, regex). Each regex starts with its literal,
# so no match starts before the literal's first occurrence: the regex runs only
# when `find` (a faster pass than `re`'s scan for a literal prefix, and one that
# stops at the first) finds it, and from there. The "key" keywords (`api key`,
# `access key`, ...) need "key" too: one check for it spares four passes.
_KEYWORDS = tuple(
    (literal, needs_key, shortest, re.compile(
        head
        + ("" if head.endswith("()") else _KW_SUFFIX)
        + _KW_ASSIGN % shortest
    ))
    for literal, needs_key, head in (
        ("pass", False, r"(pass(?:word|wd|phrase))"),
        ("pwd", False, r"(pwd)"),
        ("secret", False, r"(secret)"),
        ("token", False, r"(token)"),
        # Broad words (`ibm_iam_key`, `user_auth`, `creds`) have their values judged
        # strictly (see _judge_value); a longer keyword starting earlier wins.
        ("cred", False, r"(cred(?:entials?|s))"),
        # Not followed by a letter: `authorization`, `author`, `keyboard` are other words.
        ("auth", False, r"(auth(?:[ _-]?key)?)(?![a-z])"),
        ("api", True, r"(api[ _-]?key)"),
        ("access", True, r"(access[ _-]?key)"),
        ("private", True, r"(private[ _-]?key)"),
        # Bare `key` takes no suffix (`keyboard`, `key_id`): the assignment follows it.
        ("key", True, r"(key)()"),
    )
    for shortest in (_MIN_PASSWORD if head.startswith(("(pass", "(pwd")) else _MIN_SECRET,)
)
# Every keyword's literal (and "key", the first) looked for in one pass where the C scan
# is built (guards/literals.py): on prose most are absent, and each `find` read the text.
_LITERALS = Literals(("key", *dict.fromkeys(literal for literal, *_ in _KEYWORDS)))
_BITS = tuple(_LITERALS.mask([literal]) for literal, *_ in _KEYWORDS)
_OK_SUFFIXES = frozenset({"", "s", "key", "token", "value", "str", "string"})
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd")
_STRICT_WORDS = ("key", "auth", "creds")
# Anti-forgery tokens are per-session nonces, not credentials; public keys and
# tokens are published on purpose.
_NOT_SECRET_BEFORE = ("public", "csrf", "xsrf")


def generic(text: str, lower: str, long_word: bool = True) -> Iterator[Hit]:
    """Values assigned to a credential's name. `long_word`: whether the text has a
    word of `LONG_VALUE` characters or more (False skips the keywords that need one)."""
    return judged(text, lower, keyword_matches(lower, long_word))


def keyword_matches(lower: str, long_word: bool) -> list[re.Match[str]]:
    """Every keyword regex's matches, by start (stable: a tie keeps the table's order).

    A regex runs only where a match is possible (see `_KEYWORDS`, `LONG_VALUE`).
    """
    # -1 (every bit set) where the C scan is not built: each literal is then `find`'s to rule out.
    present = _LITERALS.present(lower) if _LITERALS.compiled else -1
    has_key = long_word and (bool(present & 1) if present >= 0 else "key" in lower)
    runs = []
    for bit, (literal, needs_key, shortest, pattern) in zip(_BITS, _KEYWORDS, strict=True):
        if (needs_key and not has_key) or (shortest >= LONG_VALUE and not long_word):
            continue
        if not present & bit:
            continue
        first = lower.find(literal)
        if first >= 0:
            runs.append(pattern.finditer(lower, first))
    if not runs:
        return []
    return sorted((m for run in runs for m in run), key=lambda m: m.start())


def judged(text: str, lower: str, matches: list[re.Match[str]]) -> Iterator[Hit]:
    """The keyword matches whose values are credentials."""
    consumed = 0  # a keyword inside an already-read value is not read again
    seen: dict[tuple[str, str, str, bool, bool], tuple[str, float] | None] = {}
    for m in matches:
        if m.start() < consumed:
            continue
        word, suffix, quote = m.group(1), m.group(2), m.group(3)
        tail = suffix.strip("_.-")
        if tail not in _OK_SUFFIXES:
            continue
        before = lower[max(0, m.start() - 24) : m.start()]
        if any(w in before for w in _NOT_SECRET_BEFORE):
            continue
        if word in _STRICT_WORDS and tail in ("key", "token"):
            word = tail  # `auth_token`, `auth_key`: as specific as the longer keywords
        vs, ve = m.span(4)
        consumed = ve
        prose = lower[m.end(2) : vs].strip(" \t\"'`").endswith(("is", "was"))
        if text.startswith("(", ve):
            continue  # a function call: code that fetches the secret, not the secret
        closed = text.startswith(quote, ve)
        key = (text[vs:ve], word, quote, closed, prose)
        if key in seen:  # repeated values (templates, crafted input) are judged once
            hit = seen[key]
        else:
            hit = seen[key] = _judge_value(*key)
        if hit is not None:
            yield hit[0], vs, ve, hit[1]


def _judge_value(
    value: str, word: str, quote: str, closed: bool, prose: bool
) -> tuple[str, float] | None:
    """Whether a value assigned to a key-like name is a credential rather than code or a stub."""
    if quote and not closed:
        return None  # a quoted value with spaces is prose, not a credential
    if value[0] in "$%&@*" or is_placeholder(value) or _looks_like_reference(value):
        return None
    decoded = encoded_text(value)
    if decoded is not None and (is_placeholder(decoded) or is_trivial(decoded)):
        # Base64 of a stub (`password: cGFzc3dvcmQ=` in a Kubernetes Secret is
        # "password"): the text decides. Other encoded text is judged as it stands.
        return None
    if word in _PASSWORD_WORDS and not prose:
        if len(value) < _MIN_PASSWORD or value.lower() in ("null", "none", "true", "false"):
            return None
        if is_trivial(value):
            return None  # `password`, `P@ssw0rd`, `admin123`, a stored hash: no credential
        # An unquoted bare word is more likely a variable than the password itself.
        word_only = not quote and DIGITS.isdisjoint(value) and value.isidentifier()
        return "password_assignment", 0.4 if word_only else 0.8
    if len(value) < _MIN_SECRET or UUID.fullmatch(value) or is_sequential(value):
        return None
    if is_counting(value):
        return None  # `abc123def456...`: typed by a person, not generated
    if is_public_key(value):
        return None  # `ssh_key = "AAAAC3NzaC1lZDI1NTE5..."`: published on purpose
    if is_repetitive(value):
        return None
    if DIGITS.isdisjoint(value) or LETTERS.isdisjoint(value):
        return None
    ent = entropy(value)
    # A broad name says little: the value must look random.
    if word in _STRICT_WORDS and (len(value) < 20 or not mixed(value) or ent < 4.0):
        return None
    if HEX.issuperset(value):
        if ent < 3.0:
            return None
    elif not ((mixed(value) and ent >= 3.5) or (len(value) >= 24 and ent >= 4.0)):
        return None
    return ("high_entropy_secret", 0.6) if prose else ("secret_assignment", 0.7)


def judge_named(value: str, word: str, quote: str, closed: bool) -> tuple[str, float] | None:
    """A value named by a sibling field (pairs.py), judged as if assigned to `word`."""
    if len(value) < (_MIN_PASSWORD if word in _PASSWORD_WORDS else _MIN_SECRET):
        return None  # the cheapest check first: a flood of short values costs little
    return _judge_value(value, word, quote, closed, False)


def _looks_like_reference(value: str) -> bool:
    """`X25519.secret_length`, `os.environ.get`, `Key128Bit`: code, not a credential."""
    parts = value.split(".")
    return len(parts) >= 2 and all(p.isidentifier() for p in parts)
