"""Secrets guard: finds credentials in text before it leaves for a provider or a log.

Why it is shaped this way:

- Speed. Every prompt goes through every guard, so most text must cost about
  one pass. Every prefixed token is at least 20 characters, so the words of
  20+ characters are joined into a short string and the ~80 distinct token
  prefixes are looked for there (`in`, a C loop; a missing separator such as
  `_` rules out a whole group at once; formats share a needle where they can,
  since each needle is one pass over the long words); a token's regex only
  runs over the text when its prefix is there. The contextual detectors are
  gated by a few literal needles the same way. Regexes start with a literal
  where the format allows, so `re` skips ahead to it; alternations (which
  would cost a step per character) are split into one literal-led regex each.
- Linear time. Token bodies use greedy bounded repetition with no trailing
  assertion, so an attempt that consumed a run succeeds and `finditer`
  resumes after it; boundaries and exact lengths are checked afterwards in
  Python. Every repetition is bounded or over a class its neighbours cannot
  match. Context searches (the AWS secret key, Azure keys) look only at merged
  windows around context words; values already read are not read again;
  back-to-back PEM headers are one match.
- Precision. Formats with a checksum (GitHub, npm) or a fixed shape
  (Anthropic's `AA` tail, a JWT header that decodes to JSON with `alg`, a
  Discord id that decodes to digits, a 43-char key that decodes to 32 bytes,
  GitLab's per-prefix lengths) are validated, and a failed check lowers the
  confidence. Placeholders (`xxxx`, `YOUR_API_KEY`, `${SECRET}`, `<token>`,
  runs of one character, `EXAMPLE`, `fake`) never fire, whatever the format:
  a documentation value is not a leak. Values found only by a name (`*_key`,
  `auth`, a bare `NAME=value` line) must also look random: not an alphabet
  run (`abcdef`), not a repeated chunk (`abcd1234abcd1234`). A Google API key
  is acted on only with words around it that say what it is for: browser and
  Firebase keys are published on purpose and have the same shape as a Gemini
  key. Findings under `ACT_THRESHOLD` are still returned (the right shape
  without proof, a service-account marker without its key, a bare Google key)
  so a caller can log them without blocking on them.
- Safety. A finding carries `mask(value)`, never the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain, pairwise

from gateway_cli.guards.base import Finding, mask
from gateway_cli.guards.normalise import on_original

GUARD = "secrets"
# Confidence at or above which a finding is meant to be acted on (redact/block).
ACT_THRESHOLD = 0.5

_Hit = tuple[str, int, int, float]  # kind, start, end, confidence
_Detector = Callable[[str, str], Iterator[_Hit]]

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_TOKEN_CHARS_STR = "".join(sorted(_TOKEN_CHARS))
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

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
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


_SHORT_WORDS = tuple(
    v for w in _PLACEHOLDER_WORDS if len(w) <= 4 for v in (w, w.upper(), w.title())
)
_LONG_WORDS = tuple(w for w in _PLACEHOLDER_WORDS if len(w) > 4)


def _is_placeholder(value: str) -> bool:
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


def _is_repetitive(value: str) -> bool:
    """`abcd1234abcd1234...`: a chunk repeated; random key material repeats no 4-gram much."""
    n = len(value) - 3
    return n >= 12 and len({value[i : i + 4].lower() for i in range(n)}) < 0.7 * n


def _entropy(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _is_sequential(value: str, run: int = 6) -> bool:
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


def _left_ok(text: str, start: int, chars: frozenset[str] = _TOKEN_CHARS) -> bool:
    return start == 0 or text[start - 1] not in chars


def _right_ok(text: str, end: int, chars: frozenset[str] = _TOKEN_CHARS) -> bool:
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


def _b64decode(seg: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError):
        return None


# --------------------------------------------------------------------------- prefixed tokens

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    needle: str | tuple[str, ...]  # one must occur (case-sensitive) for the regex to run
    pattern: re.Pattern[str]
    confidence: float
    body_chars: frozenset[str] = _TOKEN_CHARS  # chars that must not follow the match
    validate: Callable[[re.Match[str]], float | None] | None = None
    span_group: int = 0  # the group reported (and redacted): 0, or the value after a name
    check_group: int | None = 0  # the group checked for placeholders (None: validate does it)
    gate: str = ""  # a separator every match contains, when the needle has none

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.needle,) if isinstance(self.needle, str) else self.needle


def _anthropic(m: re.Match[str]) -> float | None:
    body = m.group(1)
    return 0.97 if len(body) == 95 and body.endswith("AA") else 0.4


def _openai(m: re.Match[str]) -> float | None:
    value = m.group(0)
    if value.startswith("sk-ant-"):
        return None
    body = m.group(1)
    if "T3BlbkFJ" in value:
        return 0.95
    if len(body) >= 32 and _entropy(body) >= 3.5 and _mixed(body):
        return 0.45  # right shape, but no "OpenAI" marker: report, do not act
    return None


def _mixed(s: str) -> bool:
    return not _DIGITS.isdisjoint(s) and s.lower() != s and s.upper() != s


def _github(m: re.Match[str]) -> float | None:
    return 0.97 if checksum_ok(m.group(1)) else 0.5


def _npm(m: re.Match[str]) -> float | None:
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


def _varied(body: str, n: int = 8) -> bool:
    """At least `n` distinct characters: a random body of 20+ chars always has."""
    return len(set(body)) >= n


def _gitlab(m: re.Match[str]) -> float | None:
    prefix, body, routable = m.group(1), m.group(2), m.group(3)
    if not _varied(body):
        return None
    if routable is not None:  # glpat-/glrt- with the ".01.xxxxxxx" routing suffix
        return 0.95 if prefix in ("glpat", "glrt") and 27 <= len(body) <= 300 else None
    allowed = _GITLAB_LENGTHS.get(prefix)
    return 0.9 if allowed is not None and len(body) in allowed else None


def _varied_body(m: re.Match[str]) -> float | None:
    """Fixed-prefix tokens whose body must look random (not `1231231...`)."""
    return 0.9 if _varied(m.group(1)) else None


def _mixed_body(m: re.Match[str]) -> float | None:
    """Base62 bodies: real ones mix cases and digits; hex look-alikes (asset hashes) do not."""
    return 0.85 if _mixed(m.group(1)) else None


def _slack(m: re.Match[str]) -> float | None:
    # Workspace and user ids are often written as 1111...; the secret is the last part.
    secret = m.group(2)
    if _is_placeholder(secret) or not _varied(secret, 6):
        return None
    return 0.9


def _deepseek(m: re.Match[str]) -> float | None:
    if _entropy(m.group(1)) < 3.0:
        return None
    return 0.9 if _key_context(m.string, m.start(), m.end()) else 0.7


# Words near a value that say it is used as a credential.
_KEY_WORDS = ("key", "token", "secret", "auth", "cred", "passw", "bearer")
_GOOGLE_WORDS = (*_KEY_WORDS, "goog", "gemini", "genai", "vertex", "maps", "youtube")


def _key_context(text: str, start: int, end: int, words: tuple[str, ...] = _KEY_WORDS) -> bool:
    near = text[max(0, start - 64) : start].lower() + " " + text[end : end + 40].lower()
    return any(w in near for w in words)


def _google(m: re.Match[str]) -> float | None:
    # Browser, Maps and Firebase keys are published on purpose (shipped in web pages
    # and apps, restricted by referrer) and have the same shape as a Gemini key: a
    # bare key is reported, and acted on when the text around it says what it is.
    if _key_context(m.string, m.start(), m.end(), _GOOGLE_WORDS):
        return 0.85
    return 0.45


def _sq_access(m: re.Match[str]) -> float | None:
    return 0.85 if _mixed(m.group(0)[4:]) else None



def _stripe(m: re.Match[str]) -> float | None:
    return 0.95 if m.group(1) == "live" else 0.6


def _pypi(m: re.Match[str]) -> float | None:
    # A macaroon carries an identifier, caveats and a 32-byte signature: never short.
    return 0.97 if len(m.group(0)) >= 120 else None


def _gwk(m: re.Match[str]) -> float | None:
    secret = m.group(2)
    # 43 base64url chars are 32 bytes only if the last char's low 2 bits are zero.
    return 0.99 if secret[-1] in "AEIMQUYcgkosw048" else 0.6


def _azure_storage(m: re.Match[str]) -> float | None:
    raw = _b64decode(m.group(1).replace("+", "-").replace("/", "_").rstrip("="))
    return 0.97 if raw is not None and len(raw) == 64 else 0.6


def _aws_id(m: re.Match[str]) -> float | None:
    return 0.9


def _c(p: str) -> re.Pattern[str]:
    return re.compile(p)


_TOKENS: tuple[_Token, ...] = (
    _Token("anthropic_api_key", "sk-", _c(r"sk-ant-(?:api03|admin01)-([A-Za-z0-9_-]{80,120})"),
           0.97, validate=_anthropic),
    _Token("anthropic_oauth_token", "sk-", _c(r"sk-ant-o[ar]t01-[A-Za-z0-9_-]{40,400}"), 0.95),
    _Token("openrouter_api_key", "sk-", _c(r"sk-or-v1-[a-f0-9]{64}"), 0.95),
    _Token("openai_api_key", "sk-",
           _c(r"sk-(?:proj-|svcacct-|admin-|None-)?([A-Za-z0-9_-]{20,250})"), 0.95,
           validate=_openai),
    # DeepSeek's shape (DashScope's too): `sk-` and 32 lowercase hex digits.
    _Token("deepseek_api_key", "sk-", _c(r"sk-([a-f0-9]{32})"), 0.9, validate=_deepseek),
    _Token("aws_access_key_id", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
           _c(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}"), 0.9, _ALNUM, _aws_id),
    _Token("google_api_key", "AIza", _c(r"AIza[0-9A-Za-z_-]{35}"), 0.85, validate=_google),
    _Token("google_oauth_client_secret", "GOCSPX-", _c(r"GOCSPX-[A-Za-z0-9_-]{28}"), 0.95),
    _Token("github_token", "gh",
           _c(r"gh[pousr]_([A-Za-z0-9]{36})"), 0.97, validate=_github),
    _Token("github_fine_grained_pat", "github_pat_",
           _c(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"), 0.97),
    _Token("gitlab_token", "gl",
           _c(r"(gl[a-z]{2,7})-([A-Za-z0-9_-]{20,1024})(\.[0-9a-z]{2}\.?[0-9a-z]{7})?"), 0.9,
           validate=_gitlab),
    _Token("gitlab_runner_registration_token", "GR1348941",
           _c(r"GR1348941([A-Za-z0-9_-]{20})"), 0.9, validate=_varied_body),
    _Token("gitlab_session_cookie", "_gitlab_session=",
           _c(r"_gitlab_session=([0-9a-z]{32})"), 0.85, span_group=1),
    _Token("slack_token", "xox",
           _c(r"xox[abposre]-(?:[0-9]-)?((?:[0-9]{6,13}-){1,3})([A-Za-z0-9]{10,64})"), 0.9,
           validate=_slack, check_group=None),
    _Token("slack_config_token", "xox",
           _c(r"xoxe(?:\.xox[bp])?-[0-9]-[A-Za-z0-9]{146,166}"), 0.9),
    _Token("slack_app_token", "xapp-",
           _c(r"xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,16}-[a-f0-9]{64}"), 0.95),
    _Token("slack_webhook", "hooks.slack.com",
           _c(r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,160}"),
           0.95, frozenset()),
    _Token("discord_webhook", "discord",
           _c(r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/"
              r"[A-Za-z0-9_-]{60,80}"), 0.95, gate="."),
    _Token("teams_webhook", "webhook.office.com",
           _c(r"https://[a-z0-9-]{1,60}\.webhook\.office\.com/webhookb2/[A-Za-z0-9@/_-]{60,300}"),
           0.9, frozenset()),
    _Token("stripe_secret_key", "k_",
           _c(r"[sr]k_(live|test)_[A-Za-z0-9]{20,247}"), 0.95, validate=_stripe),
    _Token("twilio_api_key", "SK", _c(r"SK[0-9a-fA-F]{32}"), 0.8, _ALNUM),
    _Token("twilio_account_sid", "AC", _c(r"AC[0-9a-f]{32}"), 0.4, _ALNUM),
    _Token("sendgrid_api_key", "SG.", _c(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), 0.97),
    _Token("brevo_api_key", "sib-", _c(r"x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}"), 0.95),
    _Token("huggingface_token", "hf_", _c(r"hf_[A-Za-z]{34}"), 0.9),
    _Token("huggingface_org_token", "api_org_", _c(r"api_org_[A-Za-z]{34}"), 0.9),
    _Token("npm_token", "npm_", _c(r"npm_([A-Za-z0-9]{36})"), 0.97, validate=_npm),
    _Token("pypi_upload_token", "pypi-",
           _c(r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}"), 0.97,
           validate=_pypi),
    _Token("rubygems_api_key", "rubygems_", _c(r"rubygems_[a-f0-9]{48}"), 0.95),
    _Token("nuget_api_key", "oy2", _c(r"oy2([a-z0-9]{43})"), 0.9, _ALNUM, _varied_body),
    _Token("gateway_client_key", "gwk_", _c(r"gwk_([A-Za-z0-9]{1,32})_([A-Za-z0-9_-]{43})"),
           0.99, validate=_gwk),
    _Token("azure_storage_account_key", "AccountKey=",
           _c(r"AccountKey=([A-Za-z0-9+/]{86}==)"), 0.97, frozenset(), _azure_storage),
    _Token("hashicorp_vault_token", "hv", _c(r"hv[sb]\.[A-Za-z0-9_-]{90,200}"), 0.9),
    _Token("square_secret", "sq0", _c(r"sq0(?:csp|atp)-[A-Za-z0-9_-]{22,43}"), 0.9),
    _Token("square_access_token", "EAA", _c(r"EAAA[A-Za-z0-9_+=-]{60}"), 0.85, _ALNUM,
           _sq_access),
    _Token("sourcegraph_token", "sgp_", _c(r"sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}"), 0.9),
    _Token("onepassword_service_token", "ops_eyJ", _c(r"ops_eyJ[A-Za-z0-9+/=_-]{100,4000}"), 0.9,
           frozenset()),
    _Token("onepassword_secret_key", "A3-",
           _c(r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}"
              r"-[A-Z0-9]{5}"), 0.9),
    _Token("facebook_access_token", "EAA", _c(r"EAA[A-Za-z0-9]{90,400}"), 0.7, _ALNUM),
    _Token("notion_token", "ntn_", _c(r"ntn_[0-9]{11}[A-Za-z0-9]{35}"), 0.9),
    _Token("atlassian_api_token", "ATATT3", _c(r"ATATT3[A-Za-z0-9_=-]{186}"), 0.95),
    _Token("airtable_token", "pat", _c(r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"), 0.9, gate="."),
    # Other LLM providers a gateway's users hold keys for.
    _Token("groq_api_key", "gsk_", _c(r"gsk_[A-Za-z0-9]{52}"), 0.95),
    _Token("perplexity_api_key", "pplx-", _c(r"pplx-[A-Za-z0-9]{48}"), 0.95),
    _Token("xai_api_key", "xai-", _c(r"xai-[A-Za-z0-9]{80}"), 0.95),
    _Token("replicate_api_token", "r8_", _c(r"r8_[A-Za-z0-9]{37}"), 0.9),
    _Token("nvidia_api_key", "nvapi-", _c(r"nvapi-[A-Za-z0-9_-]{64}"), 0.95),
    _Token("tavily_api_key", "tvly-", _c(r"tvly-(?:dev-|prod-)?([A-Za-z0-9]{32})"), 0.9, _ALNUM,
           _varied_body),
    _Token("pinecone_api_key", "pcsk_", _c(r"pcsk_[A-Za-z0-9]{4,8}_[A-Za-z0-9]{40,90}"), 0.9),
    _Token("langsmith_api_key", "lsv2_", _c(r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"), 0.95),
    # Other services with a distinctive, documented prefix.
    _Token("digitalocean_token", "_v1_", _c(r"do[por]_v1_[a-f0-9]{64}"), 0.95),
    _Token("shopify_token", "shp", _c(r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"), 0.95),
    _Token("databricks_token", "dapi", _c(r"dapi[a-f0-9]{32}(?:-[0-9])?"), 0.85),
    _Token("postman_api_key", "PMAK-", _c(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"), 0.95),
    _Token("linear_api_key", "lin_api_", _c(r"lin_api_[A-Za-z0-9]{40}"), 0.95),
    _Token("doppler_token", "dp.", _c(r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"), 0.95),
    _Token("pulumi_access_token", "pul-", _c(r"pul-[a-f0-9]{40}"), 0.9),
    _Token("planetscale_token", "pscale_", _c(r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64}"),
           0.9),
    _Token("newrelic_api_key", ("NRAK-", "NRII-"),
           _c(r"NR(?:AK-[A-Z0-9]{27}|II-[A-Za-z0-9_-]{32})"), 0.9),
    _Token("age_secret_key", "AGE-SECRET-KEY-1",
           _c(r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"), 0.97),
    _Token("grafana_token", "gl",
           _c(r"gl(?:c_[A-Za-z0-9+/]{32,400}={0,2}|sa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8})"), 0.9,
           frozenset()),
    _Token("flyio_token", "fo1_", _c(r"fo1_[A-Za-z0-9_-]{43}"), 0.9),
    _Token("prefect_api_key", "pnu_", _c(r"pnu_[A-Za-z0-9]{36}"), 0.9),
    _Token("readme_api_key", "rdme_", _c(r"rdme_[a-z0-9]{70}"), 0.9),
    _Token("intra42_client_secret", "s-s4t2", _c(r"s-s4t2(?:ud|af)-[a-f0-9]{64}"), 0.9),
    _Token("aws_bedrock_api_key", "ABSKQmVkcm9ja0FQSUtleS",
           _c(r"ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{80,300}={0,2}"), 0.95, frozenset()),
    # A presigned request, base64: "bedrock.amazonaws.com/?Action=CallWithBearerToken&...".
    _Token("aws_bedrock_api_key", "bedrock-api-key-",
           _c(r"bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%]{40,4000}"), 0.95,
           frozenset()),
    _Token("openshift_token", "sha256~", _c(r"sha256~[A-Za-z0-9_-]{43}"), 0.9),
    _Token("artifactory_token", "AKCp", _c(r"AKCp[A-Za-z0-9]{69}"), 0.9),
    # Reference tokens are base64 of "reftkn:01:<expiry>:<random>".
    _Token("artifactory_token", "cmVmdGtuOj", _c(r"cmVmdGtuOj[A-Za-z0-9]{54}"), 0.9),
    _Token("dynatrace_token", "dt0c01.", _c(r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"), 0.95),
    _Token("easypost_api_key", "EZ", _c(r"EZ[AT]K[A-Za-z0-9]{54}"), 0.9),
    _Token("heroku_api_key", "HRKU-", _c(r"HRKU-AA[A-Za-z0-9_-]{58}"), 0.95),
    _Token("sentry_token", "sntry",
           _c(r"sntry(?:s_eyJ[A-Za-z0-9+/=_-]{80,2000}|u_[a-f0-9]{64})"), 0.95, frozenset()),
    _Token("mailgun_api_key", "key-", _c(r"key-[a-f0-9]{32}"), 0.7),
    _Token("adobe_client_secret", "p8e-", _c(r"p8e-([A-Za-z0-9]{32})"), 0.85, validate=_mixed_body),
    _Token("alibaba_access_key_id", "LTAI", _c(r"LTAI([A-Za-z0-9]{20})"), 0.85, _ALNUM,
           _mixed_body),
    _Token("contentful_token", "CFPAT-", _c(r"CFPAT-[A-Za-z0-9_-]{43}"), 0.9),
    _Token("dropbox_token", "sl.", _c(r"sl\.(?:u\.)?([A-Za-z0-9_-]{130,1500})"), 0.85,
           validate=_mixed_body),
    _Token("infracost_api_key", "ico-", _c(r"ico-([A-Za-z0-9]{32})"), 0.85, validate=_mixed_body),
    _Token("mapbox_secret_token", "sk.eyJ",
           _c(r"sk\.eyJ[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{20,100}"), 0.9),
    _Token("sidekiq_secret", "CONTRIBSYS__COM",
           _c(r"BUNDLE_(?:ENTERPRISE|GEMS)__CONTRIBSYS__COM[ \t]{0,5}=[ \t]{0,5}[\"']?"
              r"([a-f0-9]{8}:[a-f0-9]{8})"), 0.9, span_group=1, check_group=1),
)


def _gate(needle: str) -> str:
    return next((c for c in needle if c in _GATE_CHARS), "")


_GATE_CHARS = "_-.="
# Each distinct needle with the separator it contains and the tokens it arms.
# Every needle that passes the character check costs a pass over the long
# words, so formats share one where they can.
_ARMS: dict[tuple[str, str], set[int]] = {}
for _i, _tok in enumerate(_TOKENS):
    for _n in _tok.needles:
        _ARMS.setdefault((_n, _tok.gate or _gate(_n)), set()).add(_i)
# With each needle, the characters it and its separator need: a needle with one
# the long words lack is ruled out by a set comparison, without a pass.
_NEEDLES = tuple((n, g, frozenset(n + g), frozenset(i)) for (n, g), i in _ARMS.items())
# Up to this length the long words' set of characters costs less than the
# passes it spares; past it, only the separators are looked for first.
_MAX_CHAR_SET = 1 << 16


def _tokens(text: str, long: str) -> Iterator[_Hit]:
    armed: set[int] = set()
    if len(long) <= _MAX_CHAR_SET:
        chars = frozenset(long)
        for n, _, needs, idx in _NEEDLES:
            if needs <= chars and n in long:
                armed |= idx
    else:
        has = {c: c in long for c in _GATE_CHARS}
        has[""] = True
        for n, g, _, idx in _NEEDLES:
            if has[g] and n in long:
                armed |= idx
    for i in sorted(armed):
        yield from _capped(_token_hits(_TOKENS[i], text), len(text))


def _token_hits(tok: _Token, text: str) -> Iterator[_Hit]:
    for m in tok.pattern.finditer(text):
        start, end = m.span()
        if not _left_ok(text, start) or not _right_ok(text, end, tok.body_chars):
            continue
        if tok.check_group is not None and _is_placeholder(m.group(tok.check_group)):
            continue
        conf: float | None = tok.confidence
        if tok.validate is not None:
            conf = tok.validate(m)
        if conf is not None:
            yield tok.kind, *m.span(tok.span_group), conf


# --------------------------------------------------------------------------- shaped tokens

_TELEGRAM = re.compile(r":AA[A-Za-z0-9_-]{33}")
_DIGITS_BEFORE = re.compile(r"[0-9]{8,10}")


def _telegram(text: str, lower: str) -> Iterator[_Hit]:
    for m in _TELEGRAM.finditer(text):
        start = m.start()
        lo = max(0, start - 10)
        d = start
        while d > lo and text[d - 1].isdigit():
            d -= 1
        # `/bot<token>/` is how the Bot API puts it in URLs.
        left = _left_ok(text, d) or text.endswith("/bot", 0, d)
        ok = start - d >= 8 and left and _right_ok(text, m.end())
        if ok and not _is_placeholder(m.group(0)):
            yield "telegram_bot_token", d, m.end(), 0.85


# The 32 hex digits are checked by a look-behind, so `-us1-us1-...` yields no
# candidate to look at in Python (a `-usNN` match never overlaps another).
_MAILCHIMP = re.compile(r"(?<=[0-9a-f]{32})-us[0-9]{1,2}")
_HEX_LOWER = frozenset("0123456789abcdef")


def _mailchimp(text: str, lower: str) -> Iterator[_Hit]:
    """32 hex then `-usNN`: found from the literal tail, so plain hex costs nothing."""
    for m in _MAILCHIMP.finditer(text):
        s = m.start() - 32
        if s < 0 or not _right_ok(text, m.end(), _ALNUM) or not _left_ok(text, s, _ALNUM):
            continue
        key = text[s : m.start()]
        if _HEX_LOWER.issuperset(key) and not _is_placeholder(key):
            yield "mailchimp_api_key", s, m.end(), 0.85


_AZURE_AD = re.compile(r"Q~[A-Za-z0-9_~.-]{31,34}")
_AZURE_AD_CHARS = frozenset(_ALNUM | {"_", "~", "."})


def _azure_ad(text: str, lower: str) -> Iterator[_Hit]:
    """Entra ID client secrets: 3 chars, a digit, `Q~`, then 31-34 chars; found from `Q~`."""
    for m in _AZURE_AD.finditer(text):
        s = m.start() - 4
        if s < 0 or not text[s + 3].isdigit() or not _AZURE_AD_CHARS.issuperset(text[s : s + 3]):
            continue
        if not _left_ok(text, s, _AZURE_AD_CHARS | {"-"}):
            continue
        if not _right_ok(text, m.end(), _AZURE_AD_CHARS | {"-"}):
            continue
        if not _is_placeholder(text[s : m.end()]):
            yield "azure_ad_client_secret", s, m.end(), 0.9


_DISCORD = re.compile(r"\.([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]{27,38})")


def _discord(text: str, lower: str) -> Iterator[_Hit]:
    for m in _DISCORD.finditer(text):
        dot = m.start()
        before = text[max(0, dot - 28) : dot]
        first = before[len(before.rstrip(_TOKEN_CHARS_STR)) :]  # the run ending at the dot
        s = dot - len(first)
        if not (23 <= len(first) <= 27) or first[0] not in "MNO" or not _left_ok(text, s):
            continue
        if not _right_ok(text, m.end()):
            continue
        # The first segment is the bot's numeric user id, base64-encoded: proof.
        raw = _b64decode(first)
        if raw is not None and raw.isdigit() and len(raw) >= 17:
            yield "discord_bot_token", s, m.end(), 0.9
        elif 24 <= len(first) <= 26 and len(m.group(2)) in (27, 38):
            # The documented shape ([MNO] + 23-25, 6, 27 or 38) without that proof.
            value = text[s : m.end()]
            if _mixed(value) and not _is_placeholder(value):
                yield "discord_bot_token", s, m.end(), 0.6


# The dots are optional so that an attempt never fails after consuming a run
# (a run of "eyJeyJ..." with no dot would otherwise be rescanned from each
# "eyJ"); the three-segment shape is checked afterwards.
_JWT = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,4000}(?:\.[A-Za-z0-9_-]{0,8000}(?:\.[A-Za-z0-9_-]{0,1000})?)?"
)


def _json_obj(seg: str) -> dict[str, object] | None:
    raw = _b64decode(seg)
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def _jwt(text: str, lower: str) -> Iterator[_Hit]:
    for m in _JWT.finditer(text):
        start, end = m.span()
        if not _left_ok(text, start) or not _right_ok(text, end):
            continue
        parts = m.group(0).split(".")
        if len(parts) not in (2, 3) or not parts[1].startswith("eyJ"):
            continue
        h = _json_obj(parts[0])
        if h is None or "alg" not in h or _json_obj(parts[1]) is None:
            continue
        # Unsigned, or with the signature cut off, a token still carries its claims
        # (and some servers accept `alg: none`).
        conf = 0.9 if len(parts) == 3 and len(parts[2]) >= 16 else 0.6
        yield "jwt", start, end, conf


# Back-to-back headers are one match (each repetition starts with a literal
# the separator cannot contain, so the loop stays linear): a flood of headers
# costs one Python step, not one per header.
_PEM_BEGIN = re.compile(
    r"(?:-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
    r"[ \t\r\n]{0,4})+"
)
_PEM_END = re.compile(r"-----END [A-Z ]{0,20}PRIVATE KEY(?: BLOCK)?-----")
# No "-" in the body class: the scan stops at the next "-----" marker, so
# back-to-back headers cost their own length only.
_PEM_BODY = re.compile(r"[\sA-Za-z0-9+/=]{0,20000}")
_MAX_PEM = 20000
_NOT_B64 = re.compile(r"[^A-Za-z0-9+/=]+")


def _private_key(text: str, lower: str) -> Iterator[_Hit]:
    ends = [m.end() for m in _PEM_END.finditer(text)] if "-----END " in text else []
    done = 0  # headers inside a block already read are skipped over: linear time
    stub: tuple[int, int] | None = None  # run of headers with no key material, merged
    m = _PEM_BEGIN.search(text)
    while m is not None:
        start = m.start()
        hdr_end = start + len(m.group(0).rstrip())
        i = bisect_right(ends, hdr_end)
        closed = i < len(ends) and ends[i] - hdr_end <= _MAX_PEM
        if closed:
            end = ends[i]
            material = len(_NOT_B64.sub("", text[hdr_end:end]))
            done = end  # headers inside a BEGIN..END block belong to it
        else:
            body_m = _PEM_BODY.match(text, hdr_end)
            body = body_m.group(0) if body_m else ""
            material = len("".join(body.split()))
            end = hdr_end + len(body.rstrip())  # a truncated paste: header and key material
        if material >= 64:
            if stub is not None:
                yield "private_key", stub[0], stub[1], 0.4
                stub = None
            yield "private_key", start, end, 0.99 if closed else 0.9
            done = end
        elif stub is not None and start - stub[1] <= 4 and not text[stub[1] : start].strip():
            stub = (stub[0], max(hdr_end, end))
        else:
            if stub is not None:
                yield "private_key", stub[0], stub[1], 0.4
            stub = (start, max(hdr_end, end))
        m = _PEM_BEGIN.search(text, max(done, m.end()))
    if stub is not None:
        yield "private_key", stub[0], stub[1], 0.4


_GCP_TYPE = re.compile(r'"type"\s{0,5}:\s{0,5}"service_account"')
_GCP_KEY = re.compile(r'"private_key"\s{0,5}:\s{0,5}"-----BEGIN')
_GCP_KEY_ID = re.compile(r'"private_key_id"\s{0,5}:\s{0,5}"[0-9a-f]{40}"')


def _near(marks: list[int], start: int, end: int, within: int = 4000) -> bool:
    i = bisect_right(marks, start)
    return (i < len(marks) and marks[i] - end <= within) or (
        i > 0 and start - marks[i - 1] <= within
    )


def _gcp(text: str, lower: str) -> Iterator[_Hit]:
    """Marks the document; the key inside it is its own `private_key` finding to redact.

    With the key: 0.97. With a key id but the key cut off (a partial paste of a key
    file): 0.6. The marker alone (documentation, a template): reported, 0.4.
    """
    has_key = '"private_key' in text
    keys = [k.start() for k in _GCP_KEY.finditer(text)] if has_key else []
    ids = [k.start() for k in _GCP_KEY_ID.finditer(text)] if has_key else []
    for m in _GCP_TYPE.finditer(text):
        if _near(keys, m.start(), m.end()):
            conf = 0.97
        elif _near(ids, m.start(), m.end()):
            conf = 0.6
        else:
            conf = 0.4
        yield "gcp_service_account", m.start(), m.end(), conf


_URL_CRED = re.compile(
    r"://([^\s:/@'\"<>{}]{1,128}):([^\s:/@'\"<>{}]{1,256})@[A-Za-z0-9._-]{1,253}"
)
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_DB_SCHEMES = frozenset(
    {"postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss"}
    | {"amqp", "amqps", "mssql", "sqlserver"}
)


def _url_creds(text: str, lower: str) -> Iterator[_Hit]:
    for m in _URL_CRED.finditer(text):
        pos = m.start()
        s = pos
        while s > 0 and pos - s < 20 and text[s - 1] in _SCHEME_CHARS:
            s -= 1
        if s == pos or not text[s].isalpha():
            continue
        password = m.group(2)
        if _is_placeholder(password) or password.lower() in ("password", "pass", "pwd", "secret"):
            continue
        kind = "database_url" if text[s:pos].lower() in _DB_SCHEMES else "url_credentials"
        yield kind, s, m.end(), 0.9 if kind == "database_url" else 0.8


_CURL_USER = re.compile(r"(?:-u|--user)\s{1,5}['\"]?([^\s:'\"$]{1,64}):['\"]?([^\s'\"]{4,128})")


def _curl(text: str, lower: str) -> Iterator[_Hit]:
    for m in _CURL_USER.finditer(text):
        pw = m.group(2)
        if pw[0] in "${(<" or _is_placeholder(pw):
            continue
        yield "basic_auth_credentials", m.start(1), m.end(2), 0.8


# Matched on the lower-cased copy (same offsets); the value is read from the text.
_BEARER = re.compile(r"authorization:[ \t]{0,5}bearer[ \t]{1,5}([a-z0-9._~+/=-]{20,2000})")


_BEARER_CHARS = _TOKEN_CHARS | {".", "~", "+", "/", "="}


def _bearer(text: str, lower: str) -> Iterator[_Hit]:
    for m in _BEARER.finditer(lower):
        start, end = m.span(1)
        value = text[start:end]
        if len(set(value)) < 8 or not _right_ok(text, end, _BEARER_CHARS):
            continue  # the set check is a cheap stand-in for entropy on junk
        if _entropy(value) >= 3.0 and not _is_placeholder(value):
            yield "bearer_token", start, end, 0.8


_NPMRC = re.compile(r"/:_authToken=\s{0,3}")
_NPMRC_VALUE = re.compile(r"[^\s'\"]{8,512}")


def _npmrc(text: str, lower: str) -> Iterator[_Hit]:
    for m in _NPMRC.finditer(text):
        v = _NPMRC_VALUE.match(text, m.end())
        if v is not None and not _is_placeholder(v.group(0)):
            yield "npmrc_auth_token", v.start(), v.end(), 0.9


_JFROG = re.compile(r"x-jfrog-art-api[\"']?[ \t]{0,5}[:=][ \t]{0,5}[\"']?([a-z0-9]{12,128})")


def _jfrog(text: str, lower: str) -> Iterator[_Hit]:
    """The Artifactory API key header: whatever it carries is the key."""
    for m in _JFROG.finditer(lower):
        start, end = m.span(1)
        value = text[start:end]
        if _right_ok(text, end, _ALNUM) and _varied(value) and not _is_placeholder(value):
            yield "artifactory_token", start, end, 0.85


_PUTTY = re.compile(r"PuTTY-User-Key-File-[23]:")
_PUTTY_MAC = re.compile(r"Private-MAC:[ \t]{0,4}[0-9a-fA-F]{40,64}")
_PUTTY_LINES = re.compile(r"Private-Lines:")


def _putty(text: str, lower: str) -> Iterator[_Hit]:
    """A PuTTY .ppk key: the header through its `Private-MAC` line.

    The MAC and `Private-Lines` positions are found once and looked up, so a
    run of headers costs one pass, not one search per header.
    """
    macs = [m.end() for m in _PUTTY_MAC.finditer(text)] if "Private-MAC:" in text else []
    keys = [m.start() for m in _PUTTY_LINES.finditer(text)] if macs else []
    done = 0
    for m in _PUTTY.finditer(text):
        if m.start() < done:
            continue
        i = bisect_right(macs, m.end())
        j = bisect_right(keys, m.end())
        if i < len(macs) and macs[i] - m.end() <= _MAX_PEM and j < len(keys) and keys[j] < macs[i]:
            done = macs[i]
            yield "private_key", m.start(), macs[i], 0.97
        else:
            yield "private_key", m.start(), m.end(), 0.4  # a header with no key


# Terraform Cloud / Enterprise: 14 characters, `.atlasv1.`, 60-70 more. Found from
# the literal, then the 14 before it are checked: a class-led regex would try
# every position of a long alphanumeric run.
_ATLAS = re.compile(r"\.atlasv1\.[A-Za-z0-9_=-]{60,70}")


def _terraform(text: str, lower: str) -> Iterator[_Hit]:
    for m in _ATLAS.finditer(text):
        s = m.start() - 14
        if s < 0 or not _ALNUM.issuperset(text[s : m.start()]) or not _left_ok(text, s):
            continue
        if _right_ok(text, m.end()) and not _is_placeholder(text[s : m.end()]):
            yield "terraform_cloud_token", s, m.end(), 0.9


# `NAME=value` alone on a line (.env files, shell exports): a long random value
# there is a credential more often than not, whatever the name. Found from the
# line break, so `re` skips ahead and a run of `=` costs nothing; the end of the
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


def _env_gate(long: str) -> bool:
    return _ENV_WORD_FIRST.match(long) is not None or _ENV_WORD_NEXT.search(long) is not None


def _env_assign(text: str, lower: str) -> Iterator[_Hit]:
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
        if _looks_random(m.group(3)):
            yield "high_entropy_assignment", vs, ve, 0.6


def _looks_random(value: str) -> bool:
    """Long, both cases and digits, near the entropy of random base62/base64 of its length."""
    if not _mixed(value) or _is_placeholder(value) or _is_sequential(value):
        return False
    if _is_repetitive(value):
        return False
    return _entropy(value) >= min(4.5, math.log2(len(value)) - 0.9)


# --------------------------------------------------------------------------- context windows

# Literal patterns searched one by one: an alternation would disable the
# literal skip-ahead and cost a step per character.
_AWS_CONTEXT = tuple(re.compile(w) for w in ("aws", "amazon", "secretaccess", "secret_access"))
_AWS_KEY_ID = tuple(re.compile(w + r"[A-Z2-7]{16}") for w in ("AKIA", "ASIA"))
# Look-arounds keep a longer base64 run from producing a match per window.
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AZURE_CONTEXT = tuple(re.compile(w) for w in ("azure", "cognitive", "ocp-apim"))
_HEX32 = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32}(?![A-Za-z0-9])")
_WINDOW = 200


def _windows(text: str, anchors: list[int]) -> list[tuple[int, int]]:
    """Merged windows around anchors: each character is searched at most once."""
    if len(anchors) * 2 * _WINDOW >= len(text):
        return [(0, len(text))] if anchors else []  # dense anchors: one pass over all
    out: list[tuple[int, int]] = []
    for a in sorted(anchors):
        lo, hi = max(0, a - _WINDOW), min(len(text), a + _WINDOW)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+")


def _aws_secret(text: str, lower: str) -> Iterator[_Hit]:
    anchors = [m.start() for p in _AWS_CONTEXT for m in p.finditer(lower)]
    anchors += [m.start() for p in _AWS_KEY_ID for m in p.finditer(text)]
    for lo, hi in _windows(text, anchors):
        for m in _AWS_SECRET.finditer(text, lo, hi):
            start, end = m.span()
            if end - start != 40 or not _left_ok(text, start, _B64_CHARS):
                continue
            if not _right_ok(text, end, _B64_CHARS):
                continue
            value = m.group(0)
            if _is_placeholder(value) or not _mixed(value) or _entropy(value) < 4.0:
                continue
            yield "aws_secret_access_key", start, end, 0.85


def _azure_key(text: str, lower: str) -> Iterator[_Hit]:
    anchors = [m.start() for p in _AZURE_CONTEXT for m in p.finditer(lower)]
    for lo, hi in _windows(text, anchors):
        for m in _HEX32.finditer(text, lo, hi):
            start, end = m.span()
            if end - start != 32 or not _left_ok(text, start, _ALNUM):
                continue
            if not _right_ok(text, end, _ALNUM) or _is_placeholder(m.group(0)):
                continue
            if _entropy(m.group(0)) < 3.0:
                continue
            yield "azure_api_key", start, end, 0.8


# --------------------------------------------------------------------------- generic

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
_KEYWORDS = tuple(
    (gate, re.compile(
        head
        + ("" if head.endswith("()") else _KW_SUFFIX)
        + _KW_ASSIGN % (_MIN_PASSWORD if head.startswith(("(pass", "(pwd")) else _MIN_SECRET)
    ))
    for gate, head in (
        ("", r"(pass(?:word|wd|phrase))"),
        ("", r"(pwd)"),
        ("", r"(secret)"),
        ("", r"(token)"),
        # Broad words (`ibm_iam_key`, `user_auth`, `creds`) have their values judged
        # strictly (see _judge_value); a longer keyword starting earlier wins.
        ("", r"(cred(?:entials?|s))"),
        # Not followed by a letter: `authorization`, `author`, `keyboard` are other words.
        ("", r"(auth(?:[ _-]?key)?)(?![a-z])"),
        ("key", r"(api[ _-]?key)"),  # one check for "key" spares four scans
        ("key", r"(access[ _-]?key)"),
        ("key", r"(private[ _-]?key)"),
        # Bare `key` takes no suffix (`keyboard`, `key_id`): the assignment follows it.
        ("key", r"(key)()"),
    )
)
_OK_SUFFIXES = frozenset({"", "s", "key", "token", "value", "str", "string"})
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd")
_STRICT_WORDS = ("key", "auth", "creds")
# Anti-forgery tokens are per-session nonces, not credentials; public keys and
# tokens are published on purpose.
_NOT_SECRET_BEFORE = ("public", "csrf", "xsrf")


def _generic(text: str, lower: str) -> Iterator[_Hit]:
    gates = {"": True, "key": "key" in lower}
    matches = sorted(
        (m for gate, pattern in _KEYWORDS if gates[gate] for m in pattern.finditer(lower)),
        key=lambda m: m.start(),
    )
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
    if value[0] in "$%&@*" or _is_placeholder(value) or _looks_like_reference(value):
        return None
    if word in _PASSWORD_WORDS and not prose:
        if len(value) < _MIN_PASSWORD or value.lower() in ("null", "none", "true", "false"):
            return None
        # An unquoted bare word is more likely a variable than the password itself.
        word_only = not quote and _DIGITS.isdisjoint(value) and value.isidentifier()
        return "password_assignment", 0.4 if word_only else 0.8
    if len(value) < _MIN_SECRET or _UUID.fullmatch(value) or _is_sequential(value):
        return None
    if _is_repetitive(value):
        return None
    if _DIGITS.isdisjoint(value) or _LETTERS.isdisjoint(value):
        return None
    ent = _entropy(value)
    # A broad name says little: the value must look random.
    if word in _STRICT_WORDS and (len(value) < 20 or not _mixed(value) or ent < 4.0):
        return None
    if _HEX.issuperset(value):
        if ent < 3.0:
            return None
    elif not ((_mixed(value) and ent >= 3.5) or (len(value) >= 24 and ent >= 4.0)):
        return None
    return ("high_entropy_secret", 0.6) if prose else ("secret_assignment", 0.7)


def _looks_like_reference(value: str) -> bool:
    """`X25519.secret_length`, `os.environ.get`, `Key128Bit`: code, not a credential."""
    parts = value.split(".")
    return len(parts) >= 2 and all(p.isidentifier() for p in parts)


# --------------------------------------------------------------------------- driver

# Where a detector's needles are looked for: "long" is the words of 20+
# characters joined (every prefixed token is at least that long, so checking
# dozens of needles there is nearly free), "text" the text, "lower" its
# lower-cased copy; "env" is "long" plus a NAME=value word among the long words,
# "long-rx" is "long" plus a match of the detector's own regex among them.
_DETECTORS: tuple[tuple[str, tuple[str, ...], _Detector], ...] = (
    ("long", (":AA",), _telegram),
    ("long", ("-us",), _mailchimp),
    # A Discord token is one word of 35+ characters, so in the long words whole:
    # the regex itself, over those, is a closer gate than their dots.
    ("long-rx", (".",), _discord),
    ("long", ("Q~",), _azure_ad),
    ("long", ("eyJ",), _jwt),
    ("text", ("-----BEGIN ",), _private_key),
    ("text", ("service_account",), _gcp),
    ("text", ("://",), _url_creds),
    ("text", ("-u",), _curl),  # also the start of "--user"
    ("lower", ("bearer",), _bearer),
    ("long", ("_authToken",), _npmrc),
    ("lower", ("x-jfrog-art-api",), _jfrog),
    ("long", ("PuTTY-User-Key-File-",), _putty),
    ("long", (".atlasv1.",), _terraform),
    ("lower", ("aws", "amazon"), _aws_secret),
    ("long", ("AKIA", "ASIA"), _aws_secret),  # a key id is context for its secret
    ("lower", ("azure", "ocp-apim"), _azure_key),
    ("lower", ("", ), _generic),
    # After the keywords (a named credential is the more specific finding): every
    # NAME=value with a long value is one long word.
    ("env", ("=",), _env_assign),
)
# The "long-rx" detectors' own regexes, each found whole within one long word.
_LONG_GATES: dict[_Detector, re.Pattern[str]] = {_discord: _DISCORD}
_MIN_TOKEN = 20
# An ASCII text's bytes with each whitespace character (as `str.split` has it) a
# space and every other character an "a": a run of 20 "a"s is in a long word.
_WORD_MARKS = bytes(0x20 if chr(b).isspace() else 0x61 for b in range(128)) + b"a" * 128
_LONG_RUN = b"a" * _MIN_TOKEN


def _long_words(text: str) -> str:
    """The distinct words (split at whitespace) of 20+ characters, joined by newlines.

    Only ever searched for needles and word shapes that hold no newline, so
    neither their order nor repeats matter. An ASCII text is not split: its
    long words are found with `find` on its marks (`_WORD_MARKS`).
    """
    if not text.isascii():
        return "\n".join(dict.fromkeys(w for w in text.split() if len(w) >= _MIN_TOKEN))
    marks = text.encode("ascii").translate(_WORD_MARKS)
    found: list[str] = []
    start = marks.find(_LONG_RUN)
    while start >= 0:
        end = marks.find(b" ", start + _MIN_TOKEN)  # the run goes on to the next space
        if end < 0:
            found.append(text[start:])
            break
        found.append(text[start:end])
        start = marks.find(_LONG_RUN, end)
    return "\n".join(dict.fromkeys(found))


OVERFLOW = "secrets_overflow"
# Past this many hits from one detector the text is a flood of secret-shaped
# strings (a dump, or crafted to burn CPU): stop there and report the rest of
# the text as one finding, so a redacting caller still covers all of it.
MAX_HITS_PER_DETECTOR = 1000


def _capped(hits: Iterator[_Hit], n: int) -> Iterator[_Hit]:
    for count, hit in enumerate(hits):
        if count == MAX_HITS_PER_DETECTOR:
            yield OVERFLOW, hit[1], n, 1.0
            return
        yield hit


def scan(text: str) -> list[Finding]:
    """All credentials in `text`, matched on its folded view (zero-width characters and
    full-width forms cannot hide one; see normalise.py), spans in `text` itself."""
    return on_original(_scan, text)


def _scan(text: str) -> list[Finding]:
    """All credentials in `text`, most specific first, with overlapping matches merged.

    If a detector finds more than `MAX_HITS_PER_DETECTOR`, the text from its
    first unreported hit to the end is one `secrets_overflow` finding.
    """
    lower = text.lower()
    if len(lower) != len(text):  # a few code points change length when lowered
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    long = _long_words(text)
    hits: list[_Hit] = list(_tokens(text, long)) if long else []
    ran: set[_Detector] = set()
    for where, needles, detector in _DETECTORS:
        if detector in ran:
            continue
        hay = long if where in ("long", "env", "long-rx") else lower if where == "lower" else text
        if any(map(hay.__contains__, needles)) and (where != "env" or _env_gate(long)) and (
                where != "long-rx" or _LONG_GATES[detector].search(long) is not None):
            ran.add(detector)
            hits.extend(_capped(detector(text, lower), len(text)))
    overflow = min((h[1] for h in hits if h[0] == OVERFLOW), default=None)
    if overflow is None:
        return _resolve(hits, text)
    hits = [h for h in hits if h[0] != OVERFLOW]
    # Cut where no kept hit crosses: at `overflow`, or else at the last hit
    # start that nothing before it reaches past.
    reach, safe = 0, 0
    for s, e in sorted((h[1], h[2]) for h in hits if h[1] < overflow):
        if s >= reach:
            safe = s
        reach = max(reach, e)
    if reach > overflow:
        overflow = safe
    kept = [h for h in hits if h[2] <= overflow]
    tail = Finding(GUARD, OVERFLOW, overflow, len(text), 1.0, mask(text[overflow:]))
    return [*_resolve(kept, text), tail]


def _resolve(hits: list[_Hit], text: str) -> list[Finding]:
    """Keep one finding per region: the first detector (most specific) wins.

    The kept spans never overlap, so they are kept sorted and each new hit is
    checked against its two neighbours only: many findings stay cheap.
    """
    starts: list[int] = []
    ends: list[int] = []
    chosen: list[_Hit] = []
    for hit in hits:
        _, s, e, _ = hit
        if e <= s:
            continue
        i = bisect_right(starts, s)
        if i > 0 and ends[i - 1] > s:
            continue
        if i < len(starts) and starts[i] < e:
            continue
        starts.insert(i, s)
        ends.insert(i, e)
        chosen.insert(i, hit)
    return [Finding(GUARD, kind, s, e, conf, mask(text[s:e])) for kind, s, e, conf in chosen]


class SecretsGuard:
    """The secrets guard as an object, for callers that hold a list of guards."""

    name = "secrets"

    def scan(self, text: str) -> list[Finding]:
        return scan(text)
