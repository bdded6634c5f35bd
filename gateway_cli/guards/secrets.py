"""Secrets guard: finds credentials in text before it leaves for a provider or a log.

Why it is shaped this way:

- Speed. Every prompt goes through every guard, so most text must cost about
  one pass. Every prefixed token is at least 20 characters, so the words of
  20+ characters are joined into a short string and the ~60 token prefixes
  are looked for there (`in`, a C loop; a missing separator such as `_` rules
  out a whole group at once); a token's regex only runs over the text when its
  prefix is there. The contextual detectors are gated by a few literal needles
  the same way. Regexes start with a literal where the format allows, so `re`
  skips ahead to it; alternations (which would cost a step per character) are
  split into one literal-led regex each.
- Linear time. Token bodies use greedy bounded repetition with no trailing
  assertion, so an attempt that consumed a run succeeds and `finditer`
  resumes after it; boundaries and exact lengths are checked afterwards in
  Python. Every repetition is bounded or over a class its neighbours cannot
  match. Context searches (the AWS secret key, Azure keys) look only at merged
  windows around context words; values already read are not read again;
  back-to-back PEM headers are one match.
- Precision. Formats with a checksum (GitHub, npm) or a fixed shape
  (Anthropic's `AA` tail, a JWT header that decodes to JSON with `alg`, a
  Discord id that decodes to digits, a 43-char key that decodes to 32 bytes)
  are validated, and a failed check lowers the confidence. Placeholders
  (`xxxx`, `YOUR_API_KEY`, `${SECRET}`, `<token>`, runs of one character,
  `EXAMPLE`) never fire. Findings under `ACT_THRESHOLD` are still returned
  (the right shape without proof, a service-account marker without its key)
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
from itertools import compress

from gateway_cli.guards.base import Finding, mask

GUARD = "secrets"
# Confidence at or above which a finding is meant to be acted on (redact/block).
ACT_THRESHOLD = 0.5

_Hit = tuple[str, int, int, float]  # kind, start, end, confidence
_Detector = Callable[[str, str], Iterator[_Hit]]

_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
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


def _is_placeholder(value: str) -> bool:
    """Values people paste in docs and templates: flagging them is pure noise."""
    low = value.lower()
    if any(w in low for w in _PLACEHOLDER_WORDS):
        return True
    if _REPEAT.search(value):
        return True
    return len(value) >= 8 and len(set(value)) < 5


def _entropy(value: str) -> float:
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


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


_GITLAB_LENGTHS = {
    "glpat": range(20, 65),
    "gldt": range(20, 21),
    "glrt": range(20, 21),
    "glcbt": range(20, 21),
    "glft": range(20, 21),
    "glsoat": range(20, 21),
    "glffct": range(20, 21),
    "glimt": range(25, 26),
    "glptt": range(40, 41),
    "glagent": range(50, 51),
    "gloas": range(64, 65),
}


def _gitlab(m: re.Match[str]) -> float | None:
    allowed = _GITLAB_LENGTHS.get(m.group(1))
    return 0.9 if allowed is not None and len(m.group(2)) in allowed else None


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
    _Token("anthropic_api_key", "sk-ant-", _c(r"sk-ant-(?:api03|admin01)-([A-Za-z0-9_-]{80,120})"),
           0.97, validate=_anthropic),
    _Token("openrouter_api_key", "sk-or-v1-", _c(r"sk-or-v1-[a-f0-9]{64}"), 0.95),
    _Token("openai_api_key", "sk-",
           _c(r"sk-(?:proj-|svcacct-|admin-|None-)?([A-Za-z0-9_-]{20,250})"), 0.95,
           validate=_openai),
    _Token("aws_access_key_id", ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
           _c(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}"), 0.9, _ALNUM, _aws_id),
    _Token("google_api_key", "AIza", _c(r"AIza[0-9A-Za-z_-]{35}"), 0.85),
    _Token("google_oauth_client_secret", "GOCSPX-", _c(r"GOCSPX-[A-Za-z0-9_-]{28}"), 0.95),
    _Token("github_token", "gh",
           _c(r"gh[pousr]_([A-Za-z0-9]{36})"), 0.97, validate=_github),
    _Token("github_fine_grained_pat", "github_pat_",
           _c(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"), 0.97),
    _Token("gitlab_token", "gl",
           _c(r"(gl[a-z]{2,6})-([A-Za-z0-9_-]{20,64})"), 0.9, validate=_gitlab),
    _Token("gitlab_runner_registration_token", "GR1348941",
           _c(r"GR1348941[A-Za-z0-9_-]{20}"), 0.9),
    _Token("slack_token", "xox",
           _c(r"xox[abposr]-(?:[0-9]{6,13}-){1,3}[A-Za-z0-9]{10,64}"), 0.9),
    _Token("slack_app_token", "xapp-",
           _c(r"xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,16}-[a-f0-9]{64}"), 0.95),
    _Token("slack_webhook", "hooks.slack.com",
           _c(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,160}"),
           0.95, frozenset()),
    _Token("stripe_secret_key", "k_",
           _c(r"[sr]k_(live|test)_[A-Za-z0-9]{20,247}"), 0.95, validate=_stripe),
    _Token("twilio_api_key", "SK", _c(r"SK[0-9a-fA-F]{32}"), 0.8, _ALNUM),
    _Token("twilio_account_sid", "AC", _c(r"AC[0-9a-f]{32}"), 0.4, _ALNUM),
    _Token("sendgrid_api_key", "SG.", _c(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"), 0.97),
    _Token("huggingface_token", "hf_", _c(r"hf_[A-Za-z]{34}"), 0.9),
    _Token("huggingface_org_token", "api_org_", _c(r"api_org_[A-Za-z]{34}"), 0.9),
    _Token("npm_token", "npm_", _c(r"npm_([A-Za-z0-9]{36})"), 0.97, validate=_npm),
    _Token("pypi_upload_token", "pypi-",
           _c(r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}"), 0.97,
           validate=_pypi),
    _Token("gateway_client_key", "gwk_", _c(r"gwk_([A-Za-z0-9]{1,32})_([A-Za-z0-9_-]{43})"),
           0.99, validate=_gwk),
    _Token("azure_storage_account_key", "AccountKey=",
           _c(r"AccountKey=([A-Za-z0-9+/]{86}==)"), 0.97, frozenset(), _azure_storage),
    _Token("hashicorp_vault_token", "hv", _c(r"hv[sb]\.[A-Za-z0-9_-]{90,200}"), 0.9),
    _Token("square_secret", "sq0", _c(r"sq0(?:csp|atp)-[A-Za-z0-9_-]{22,43}"), 0.9),
    _Token("sourcegraph_token", "sgp_", _c(r"sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}"), 0.9),
    _Token("onepassword_service_token", "ops_eyJ", _c(r"ops_eyJ[A-Za-z0-9+/=_-]{100,4000}"), 0.9,
           frozenset()),
    _Token("facebook_access_token", "EAA", _c(r"EAA[A-Za-z0-9]{90,400}"), 0.7, _ALNUM),
    _Token("notion_token", "ntn_", _c(r"ntn_[0-9]{11}[A-Za-z0-9]{35}"), 0.9),
    # Other LLM providers a gateway's users hold keys for.
    _Token("groq_api_key", "gsk_", _c(r"gsk_[A-Za-z0-9]{52}"), 0.95),
    _Token("perplexity_api_key", "pplx-", _c(r"pplx-[A-Za-z0-9]{48}"), 0.95),
    _Token("xai_api_key", "xai-", _c(r"xai-[A-Za-z0-9]{80}"), 0.95),
    _Token("replicate_api_token", "r8_", _c(r"r8_[A-Za-z0-9]{37}"), 0.9),
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
    _Token("newrelic_api_key", "NRAK-", _c(r"NRAK-[A-Z0-9]{27}"), 0.9),
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
    _Token("openshift_token", "sha256~", _c(r"sha256~[A-Za-z0-9_-]{43}"), 0.9),
    _Token("artifactory_token", "AKCp", _c(r"AKCp[A-Za-z0-9]{69}"), 0.9),
    _Token("dynatrace_token", "dt0c01.", _c(r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"), 0.95),
    _Token("easypost_api_key", "EZ", _c(r"EZ[AT]K[A-Za-z0-9]{54}"), 0.9),
    _Token("heroku_api_key", "HRKU-", _c(r"HRKU-AA[A-Za-z0-9_-]{58}"), 0.95),
    _Token("sentry_token", "sntry",
           _c(r"sntry(?:s_eyJ[A-Za-z0-9+/=_-]{80,2000}|u_[a-f0-9]{64})"), 0.95, frozenset()),
    _Token("mailgun_api_key", "key-", _c(r"key-[a-f0-9]{32}"), 0.7),
)


def _gate(needle: str) -> str:
    return next((c for c in needle if c in _GATE_CHARS), "")


_GATE_CHARS = "_-.="
# Each needle with the separator it contains: one memchr per separator rules
# out whole groups of needles at once.
_NEEDLES = tuple((n, _gate(n), i) for i, tok in enumerate(_TOKENS) for n in tok.needles)


def _tokens(text: str, long: str) -> Iterator[_Hit]:
    has = {c: c in long for c in _GATE_CHARS}
    has[""] = True
    for i in sorted({i for n, g, i in _NEEDLES if has[g] and n in long}):
        yield from _capped(_token_hits(_TOKENS[i], text), len(text))


def _token_hits(tok: _Token, text: str) -> Iterator[_Hit]:
    for m in tok.pattern.finditer(text):
        start, end = m.span()
        if not _left_ok(text, start) or not _right_ok(text, end, tok.body_chars):
            continue
        if _is_placeholder(m.group(0)):
            continue
        conf: float | None = tok.confidence
        if tok.validate is not None:
            conf = tok.validate(m)
        if conf is not None:
            yield tok.kind, start, end, conf


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
        s = dot
        while s > dot - 28 and s > 0 and text[s - 1] in _TOKEN_CHARS:
            s -= 1
        first = text[s:dot]
        if not (23 <= len(first) <= 27) or first[0] not in "MNO" or not _left_ok(text, s):
            continue
        if not _right_ok(text, m.end()):
            continue
        # The first segment is the bot's numeric user id, base64-encoded.
        raw = _b64decode(first)
        if raw is None or not raw.isdigit() or len(raw) < 17:
            continue
        yield "discord_bot_token", s, m.end(), 0.9


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
        if len(parts) != 3 or not parts[1].startswith("eyJ"):
            continue
        header, payload, sig = parts
        h = _json_obj(header)
        if h is None or "alg" not in h or _json_obj(payload) is None:
            continue
        conf = 0.9 if len(sig) >= 16 else 0.6  # unsigned tokens still carry claims
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


def _gcp(text: str, lower: str) -> Iterator[_Hit]:
    """Marks the document; the key inside it is its own `private_key` finding to redact."""
    keys = [k.start() for k in _GCP_KEY.finditer(text)] if '"private_key"' in text else []
    for m in _GCP_TYPE.finditer(text):
        i = bisect_right(keys, m.start())
        near = (i < len(keys) and keys[i] - m.end() <= 4000) or (
            i > 0 and m.start() - keys[i - 1] <= 4000
        )
        yield "gcp_service_account", m.start(), m.end(), 0.97 if near else 0.4


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
_KW_TAIL = (
    r"([a-z0-9_.-]{0,12})[\"']?[ \t]{0,3}(?:=>|:=|==|[:=]|[ \t](?:is|was)[ \t])[ \t]{0,3}"
    r"(?:!!binary[ \t]{1,3})?([\"'`]?)([^\s\"'`,;)(\]\[{}<>]{6,300})"
)
_KEYWORDS = tuple(
    (gate, re.compile(head + _KW_TAIL))
    for gate, head in (
        ("", r"(pass(?:word|wd|phrase))"),
        ("", r"(pwd)"),
        ("", r"(secret)"),
        ("", r"(token)"),
        ("", r"(credentials?)"),
        ("key", r"(api[ _-]?key)"),  # one check for "key" spares four scans
        ("key", r"(access[ _-]?key)"),
        ("key", r"(auth[ _-]?key)"),
        ("key", r"(private[ _-]?key)"),
    )
)
_OK_SUFFIXES = frozenset({"", "s", "key", "token", "value", "str", "string"})
_PASSWORD_WORDS = ("password", "passwd", "passphrase", "pwd")


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
        if suffix.strip("_.-") not in _OK_SUFFIXES:
            continue
        if "public" in lower[max(0, m.start() - 24) : m.start()]:
            continue  # public keys and tokens are published on purpose
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
        if len(value) < 6 or value.lower() in ("null", "none", "true", "false"):
            return None
        # An unquoted bare word is more likely a variable than the password itself.
        word_only = not quote and _DIGITS.isdisjoint(value) and value.isidentifier()
        return "password_assignment", 0.4 if word_only else 0.8
    if len(value) < 16 or _UUID.fullmatch(value):
        return None
    if _DIGITS.isdisjoint(value) or _LETTERS.isdisjoint(value):
        return None
    ent = _entropy(value)
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
# lower-cased copy.
_DETECTORS: tuple[tuple[str, tuple[str, ...], _Detector], ...] = (
    ("long", (":AA",), _telegram),
    ("long", ("-us",), _mailchimp),
    ("long", (".",), _discord),
    ("long", ("Q~",), _azure_ad),
    ("long", ("eyJ",), _jwt),
    ("text", ("-----BEGIN ",), _private_key),
    ("text", ("service_account",), _gcp),
    ("text", ("://",), _url_creds),
    ("text", ("-u",), _curl),  # also the start of "--user"
    ("lower", ("bearer",), _bearer),
    ("long", ("_authToken",), _npmrc),
    ("lower", ("aws", "amazon"), _aws_secret),
    ("long", ("AKIA", "ASIA"), _aws_secret),  # a key id is context for its secret
    ("lower", ("azure", "ocp-apim"), _azure_key),
    ("lower", ("", ), _generic),
)
_MIN_TOKEN = 20


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
    """All credentials in `text`, most specific first, with overlapping matches merged.

    If a detector finds more than `MAX_HITS_PER_DETECTOR`, the text from its
    first unreported hit to the end is one `secrets_overflow` finding.
    """
    lower = text.lower()
    if len(lower) != len(text):  # a few code points change length when lowered
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    words = text.split()
    long = "\n".join(compress(words, map(_MIN_TOKEN.__le__, map(len, words))))
    hits: list[_Hit] = list(_tokens(text, long)) if long else []
    ran: set[_Detector] = set()
    for where, needles, detector in _DETECTORS:
        if detector in ran:
            continue
        hay = long if where == "long" else lower if where == "lower" else text
        if any(n in hay for n in needles):
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
