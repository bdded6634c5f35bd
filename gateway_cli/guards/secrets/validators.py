"""Checks on a prefixed token's match that set its confidence, or drop it (None).

Formats with a checksum (GitHub, npm) or a fixed shape (Anthropic's `AA`
tail, a 43-char key that decodes to 32 bytes, GitLab's per-prefix lengths, a
macaroon's minimum size) are validated, and a failed check lowers the
confidence. A Google API key is acted on only with words around it that say
what it is for: browser and Firebase keys are published on purpose and have
the same shape as a Gemini key. Findings under `ACT_THRESHOLD` are still
returned (the right shape without proof, a bare Google key) so a caller can
log them without blocking on them.

Each function takes the token regex's match (see token_table.py for which
group holds what) and returns the confidence, or None for no finding.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

from gateway_cli.guards.secrets.values import (
    KEY_WORDS,
    b64decode,
    checksum_ok,
    entropy,
    is_placeholder,
    is_sequential,
    key_context,
    mixed,
    varied,
)

Validator = Callable[[re.Match[str]], float | None]


def anthropic(m: re.Match[str]) -> float | None:
    body = m.group(1)
    return 0.97 if len(body) == 95 and body.endswith("AA") else 0.4


def openai(m: re.Match[str]) -> float | None:
    value = m.group(0)
    if value.startswith("sk-ant-"):
        return None
    body = m.group(1)
    if "T3BlbkFJ" in value:
        return 0.95
    if len(body) >= 32 and entropy(body) >= 3.5 and mixed(body):
        return 0.45  # right shape, but no "OpenAI" marker: report, do not act
    return None


def github(m: re.Match[str]) -> float | None:
    return 0.97 if checksum_ok(m.group(1)) else 0.5


def npm(m: re.Match[str]) -> float | None:
    return 0.97 if checksum_ok(m.group(1)) else 0.55


# Token lengths GitLab documents (detect-secrets' ranges where GitLab leaves room:
# newer instances issue longer tokens for the same prefix).
_GITLAB_LENGTHS = {
    "glpat": range(20, 65),
    "gldt": range(20, 51),
    "glrt": range(20, 51),
    "glrtr": range(20, 51),
    "glcbt": range(20, 57),
    "glft": range(20, 51),
    "glsoat": range(20, 51),
    "glffct": range(20, 21),
    "glimt": range(25, 26),
    "glptt": range(40, 41),
    "glagent": range(50, 1025),
    "gloas": range(64, 65),
}


def _base36(n: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out.rjust(width, "0")


def gitlab(m: re.Match[str]) -> float | None:
    prefix, body, routable = m.group(1), m.group(2), m.group(3)
    if not varied(body):
        return None
    if routable is not None:
        # A routable token: base64url body, ".01", the body's length in base36 (two
        # chars, after a dot) in the current format, and CRC32 of all before it in
        # base36 (seven). The CRC proves the format; a wrong one is a near-miss.
        token = m.group(0)
        if prefix not in _GITLAB_LENGTHS or not 27 <= len(body) <= 300:
            return None
        if _base36(zlib.crc32(token[:-7].encode()), 7) != token[-7:]:
            return 0.4
        if len(routable) == 13 and routable[4:6] != _base36(len(body), 2):
            return 0.4
        return 0.97
    allowed = _GITLAB_LENGTHS.get(prefix)
    return 0.9 if allowed is not None and len(body) in allowed else None


def hex_body(m: re.Match[str]) -> float | None:
    """Hex secrets behind a prefix: random hex uses most of its 16 digits."""
    body = m.group(1)
    if is_placeholder(body) or not varied(body, 10) or is_sequential(body):
        return None
    return 0.9


def varied_body(m: re.Match[str]) -> float | None:
    """Fixed-prefix tokens whose body must look random (not `1231231...`)."""
    return 0.9 if varied(m.group(1)) else None


def mixed_body(m: re.Match[str]) -> float | None:
    """Base62 bodies: real ones mix cases and digits; hex look-alikes (asset hashes) do not."""
    return 0.85 if mixed(m.group(1)) else None


def slack(m: re.Match[str]) -> float | None:
    # Workspace and user ids are often written as 1111...; the secret is the last part.
    secret = m.group(2)
    if is_placeholder(secret) or not varied(secret, 6):
        return None
    return 0.9


def deepseek(m: re.Match[str]) -> float | None:
    if entropy(m.group(1)) < 3.0:
        return None
    return 0.9 if key_context(m.string, m.start(), m.end()) else 0.7


_GOOGLE_WORDS = (*KEY_WORDS, "goog", "gemini", "genai", "vertex", "maps", "youtube")


# A web app's public configuration: a Firebase config object, a Maps script tag.
_GOOGLE_PUBLIC = ("firebase", "authdomain", "messagingsenderid", "storagebucket",
                  "measurementid", "maps/api/js", "<script")
_GOOGLE_AI = ("gemini", "genai", "generativelanguage", "vertex", "aiplatform")


def google(m: re.Match[str]) -> float | None:
    # Browser, Maps and Firebase keys are published on purpose (shipped in web pages
    # and apps, restricted by referrer) and have the same shape as a Gemini key: a
    # bare key is reported, and acted on when the text around it says what it is,
    # unless that text is a web app's public configuration (`apiKey` in a Firebase
    # config, `key=` in a Maps script tag) with no word of the AI APIs.
    if not key_context(m.string, m.start(), m.end(), _GOOGLE_WORDS):
        return 0.45
    near = m.string[max(0, m.start() - 300) : m.end() + 300].lower()
    if any(w in near for w in _GOOGLE_PUBLIC) and not any(w in near for w in _GOOGLE_AI):
        return 0.45
    return 0.85


def square_access(m: re.Match[str]) -> float | None:
    return 0.85 if mixed(m.group(0)[4:]) else None


def stripe(m: re.Match[str]) -> float | None:
    return 0.95 if m.group(1) == "live" else 0.6


def pypi(m: re.Match[str]) -> float | None:
    # A macaroon carries an identifier, caveats and a 32-byte signature: never short.
    return 0.97 if len(m.group(0)) >= 120 else None


def gateway_key(m: re.Match[str]) -> float | None:
    secret = m.group(2)
    # 43 base64url chars are 32 bytes only if the last char's low 2 bits are zero.
    return 0.99 if secret[-1] in "AEIMQUYcgkosw048" else 0.6


def azure_storage(m: re.Match[str]) -> float | None:
    raw = b64decode(m.group(1).replace("+", "-").replace("/", "_").rstrip("="))
    return 0.97 if raw is not None and len(raw) == 64 else 0.6


def aws_id(m: re.Match[str]) -> float | None:
    return 0.9
