"""Password values that are no credential: defaults, examples and stored hashes.

A password found by its name (`password = "..."`, `Basic <user:password>`) is
the weakest evidence the guard acts on, and code and docs are full of
passwords that protect nothing: the word itself (`password`, `P@ssw0rd`,
`secret`), defaults (`admin`, `root`, `changeit`), the field's own name
(`db_password`, `test_password_123`), one count (`123456`) or a stored hash
(`pbkdf2_sha256$...`, which is what a server keeps instead of the password).
Judged by category, never by a list of single values: a value is trivial when,
with digits and punctuation dropped (or read as leetspeak), its letters are
made only of the words below.
"""

from __future__ import annotations

from gateway_cli.guards.secrets.values import is_sequential

# Words that passwords in examples, fixtures and defaults are built from.
_WORDS = frozenset(
    {
        "password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "admin",
        "administrator", "root", "test", "testing", "user", "username", "guest", "demo",
        "changeit", "letmein", "qwerty", "default", "welcome", "login", "my", "your", "our",
        "super", "new", "old", "strong", "dev", "local", "db", "mysql", "postgres",
        "redis", "app", "foo", "bar", "baz", "qux", "abc", "example", "sample", "dummy", "temp",
        "tmp", "open", "sesame", "hello", "world", "master",
    }
)  # fmt: skip
_LONGEST = max(map(len, _WORDS))
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s"})
# What a server stores instead of a password (Django, passlib, crypt formats).
_HASH_PREFIXES = ("pbkdf2_", "pbkdf2-", "argon2", "bcrypt", "scrypt", "sha1$", "sha256$",
                  "md5$", "$1$", "$2a$", "$2b$", "$2y$", "$5$", "$6$", "$argon2", "{ssha}",
                  "{sha}")


def _made_of_words(letters: str) -> bool:
    """Whether `letters` splits into words of `_WORDS` (a small dynamic programme)."""
    if not letters:
        return True
    ok = [True] + [False] * len(letters)
    for end in range(1, len(letters) + 1):
        for start in range(max(0, end - _LONGEST), end):
            if ok[start] and letters[start:end] in _WORDS:
                ok[end] = True
                break
    return ok[-1]


def is_trivial(password: str) -> bool:
    """A default, an example or the field's own name, not a password anyone relies on."""
    low = password.lower()
    if low.startswith(_HASH_PREFIXES):
        return True
    alnum = "".join(c for c in low if c.isalnum())
    if len(set(low)) <= 2 or (len(alnum) >= 4 and is_sequential(alnum, len(alnum))):
        return True  # `aaaaaa`, `123456`, `abcdef`: the whole value is one run
    plain = "".join(c for c in low if c.isalpha())
    leet = "".join(c for c in low.translate(_LEET) if c.isalpha())
    return _made_of_words(plain) or _made_of_words(leet)
