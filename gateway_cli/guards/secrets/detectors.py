"""Detectors for credentials a prefix alone cannot find: each gated by a literal the engine
looks for first (see engine.py), then checked in Python.

- Shaped tokens found from a literal in their middle or tail (Telegram's
  `:AA`, Mailchimp's `-usNN`, Entra ID's `Q~`, Discord's dots, Terraform's
  `.atlasv1.`), then the characters before it are checked: a class-led regex
  would try every position of a long alphanumeric run.
- Structured values: a JWT whose header decodes to JSON with `alg`, a Discord
  id that decodes to digits, PEM and PuTTY private keys, a GCP service-account
  file, credentials in URLs, `curl -u`, `auth=(user, password)` pairs,
  `Authorization` headers of every scheme (Basic decoded to a real
  `user:password`, Bearer, Token, a bare token), Azure DevOps PATs (by their
  signatures, or by context for the legacy format), `.npmrc` and Artifactory
  headers.
- Context windows: the AWS secret key and Azure keys have no shape of their
  own, so they are looked for only in merged windows around context words;
  values already read are not read again.
- Linear time: back-to-back PEM headers are one match; every repetition is
  bounded or over a class its neighbours cannot match.

Each detector takes the text and its lower-cased copy (same offsets) and
yields (kind, start, end, confidence).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import string
from bisect import bisect_right
from collections.abc import Iterator

from gateway_cli.guards.secrets.passwords import is_trivial
from gateway_cli.guards.secrets.values import (
    ALNUM,
    DIGITS,
    TOKEN_CHARS,
    TOKEN_CHARS_STR,
    Hit,
    b64decode,
    entropy,
    is_counting,
    is_placeholder,
    is_repetitive,
    is_sequential,
    left_ok,
    mixed,
    right_ok,
    varied,
)

_TELEGRAM = re.compile(r":AA[A-Za-z0-9_-]{33}")


def telegram(text: str, lower: str) -> Iterator[Hit]:
    for m in _TELEGRAM.finditer(text):
        start = m.start()
        lo = max(0, start - 10)
        d = start
        while d > lo and text[d - 1].isdigit():
            d -= 1
        # `/bot<token>/` is how the Bot API puts it in URLs.
        left = left_ok(text, d) or text.endswith("/bot", 0, d)
        ok = start - d >= 8 and left and right_ok(text, m.end())
        if ok and not is_placeholder(m.group(0)):
            yield "telegram_bot_token", d, m.end(), 0.85


# The 32 hex digits are checked by a look-behind, so `-us1-us1-...` yields no
# candidate to look at in Python (a `-usNN` match never overlaps another).
_MAILCHIMP = re.compile(r"(?<=[0-9a-f]{32})-us[0-9]{1,2}")
_HEX_LOWER = frozenset("0123456789abcdef")


def mailchimp(text: str, lower: str) -> Iterator[Hit]:
    """32 hex then `-usNN`: found from the literal tail, so plain hex costs nothing."""
    for m in _MAILCHIMP.finditer(text):
        s = m.start() - 32
        if s < 0 or not right_ok(text, m.end(), ALNUM) or not left_ok(text, s, ALNUM):
            continue
        key = text[s : m.start()]
        if _HEX_LOWER.issuperset(key) and not is_placeholder(key):
            yield "mailchimp_api_key", s, m.end(), 0.85


_AZURE_AD = re.compile(r"Q~[A-Za-z0-9_~.-]{31,34}")
_AZURE_AD_CHARS = frozenset(ALNUM | {"_", "~", "."})


def azure_ad(text: str, lower: str) -> Iterator[Hit]:
    """Entra ID client secrets: 3 chars, a digit, `Q~`, then 31-34 chars; found from `Q~`."""
    for m in _AZURE_AD.finditer(text):
        s = m.start() - 4
        if s < 0 or not text[s + 3].isdigit() or not _AZURE_AD_CHARS.issuperset(text[s : s + 3]):
            continue
        if not left_ok(text, s, _AZURE_AD_CHARS | {"-"}):
            continue
        if not right_ok(text, m.end(), _AZURE_AD_CHARS | {"-"}):
            continue
        if not is_placeholder(text[s : m.end()]):
            yield "azure_ad_client_secret", s, m.end(), 0.9


DISCORD = re.compile(r"\.([A-Za-z0-9_-]{6})\.([A-Za-z0-9_-]{27,38})")


def discord(text: str, lower: str) -> Iterator[Hit]:
    for m in DISCORD.finditer(text):
        dot = m.start()
        before = text[max(0, dot - 28) : dot]
        first = before[len(before.rstrip(TOKEN_CHARS_STR)) :]  # the run ending at the dot
        s = dot - len(first)
        if not (23 <= len(first) <= 27) or first[0] not in "MNO" or not left_ok(text, s):
            continue
        if not right_ok(text, m.end()):
            continue
        # The first segment is the bot's numeric user id, base64-encoded: proof.
        raw = b64decode(first)
        if raw is not None and raw.isdigit() and len(raw) >= 17:
            if not is_placeholder(m.group(1)) and not is_placeholder(m.group(2)):
                yield "discord_bot_token", s, m.end(), 0.9
        elif 24 <= len(first) <= 26 and len(m.group(2)) in (27, 38):
            # The documented shape ([MNO] + 23-25, 6, 27 or 38) without that proof.
            value = text[s : m.end()]
            if mixed(value) and not is_placeholder(value):
                yield "discord_bot_token", s, m.end(), 0.6


# The dots are optional so that an attempt never fails after consuming a run
# (a run of "eyJeyJ..." with no dot would otherwise be rescanned from each
# "eyJ"); the three-segment shape is checked afterwards.
_JWT = re.compile(
    r"eyJ[A-Za-z0-9_-]{4,4000}(?:\.[A-Za-z0-9_-]{0,8000}(?:\.[A-Za-z0-9_-]{0,1000})?)?"
)


def _json_obj(seg: str) -> dict[str, object] | None:
    raw = b64decode(seg)
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def jwt(text: str, lower: str) -> Iterator[Hit]:
    for m in _JWT.finditer(text):
        start, end = m.span()
        if not left_ok(text, start) or not right_ok(text, end):
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


def private_key(text: str, lower: str) -> Iterator[Hit]:
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


def gcp(text: str, lower: str) -> Iterator[Hit]:
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


def url_creds(text: str, lower: str) -> Iterator[Hit]:
    for m in _URL_CRED.finditer(text):
        pos = m.start()
        s = pos
        while s > 0 and pos - s < 20 and text[s - 1] in _SCHEME_CHARS:
            s -= 1
        if s == pos or not text[s].isalpha():
            continue
        password = m.group(2)
        if is_placeholder(password) or password.lower() in ("password", "pass", "pwd", "secret"):
            continue
        kind = "database_url" if text[s:pos].lower() in _DB_SCHEMES else "url_credentials"
        yield kind, s, m.end(), 0.9 if kind == "database_url" else 0.8


# A user and password given to an HTTP client as a pair: `auth=("user", "pass")`
# (requests, httpx) and `HTTPBasicAuth("user", "pass")`, `BasicAuth(...)`
# (aiohttp). Two literal-led regexes; the password is the finding.
_PAIR = r"[ \t]{0,3}(['\"])([^'\"\s]{1,64})\1[ \t]{0,3},[ \t]{0,3}(['\"])([^'\"\s]{4,128})\3"
_AUTH_PAIRS = (
    re.compile(r"auth[ \t]{0,3}=[ \t]{0,3}\(" + _PAIR),
    re.compile(r"BasicAuth\(" + _PAIR),
)


def auth(text: str, lower: str) -> Iterator[Hit]:
    """Authorization headers, then user/password pairs: one gate (`auth`) for both,
    since most texts have neither and each literal costs a pass over the text."""
    if "authorization" in lower:
        yield from authorization(text, lower)
    if "auth=" in lower or "auth =" in lower or "Auth(" in text:
        yield from auth_pair(text, lower)


def auth_pair(text: str, lower: str) -> Iterator[Hit]:
    for pattern in _AUTH_PAIRS:
        for m in pattern.finditer(text):
            user, password = m.group(2), m.group(4)
            if len(password) < 6 or is_placeholder(password) or is_trivial(password):
                continue
            if password == user or password[0] in "${(<%":
                continue
            yield "basic_auth_credentials", m.start(4), m.end(4), 0.8


_CURL_USER = re.compile(r"(?:-u|--user)\s{1,5}['\"]?([^\s:'\"$]{1,64}):['\"]?([^\s'\"]{4,128})")


def curl(text: str, lower: str) -> Iterator[Hit]:
    for m in _CURL_USER.finditer(text):
        pw = m.group(2)
        if pw[0] in "${(<" or is_placeholder(pw):
            continue
        yield "basic_auth_credentials", m.start(1), m.end(2), 0.8


# Authorization headers of every scheme, matched on the lower-cased copy (same
# offsets; the value is read from the text): `Authorization: <scheme> <value>` as a
# header, a curl `-H` line, a JSON or dict entry (`"Authorization": "..."`), a
# query/config pair (`authorization=...`) or a call's two arguments
# (`.header("Authorization", "Bearer ...")`); `Proxy-Authorization` contains the name.
# The scheme is optional (a bare token after the name is a credential too).
_AUTH_HEADER = re.compile(
    r"authorization[\"']?[ \t]{0,5}[:=,][ \t]{0,5}[\"']?"
    # A value is never the next header's name: a flood of names is refused by
    # `re` itself, with no match object for each.
    r"(?:([a-z][a-z0-9-]{1,19})[ \t]{1,5})?(?![a-z-]{0,20}authorization)"
    r"([a-z0-9._~+/=:-]{8,2000})"
)
_AUTH_CHARS = TOKEN_CHARS | {".", "~", "+", "/", "=", ":"}
# Schemes whose value is the credential itself. `Basic` is decoded instead; a
# scheme not listed (`Digest`, `Negotiate`, `AWS4-HMAC-SHA256`) is a signature or
# a handshake, not a reusable secret, and is left alone.
_TOKEN_SCHEMES = {
    "bearer": "bearer_token",
    "token": "authorization_token",
    "api-token": "authorization_token",
    "apikey": "authorization_token",
    "api-key": "authorization_token",
    "key": "authorization_token",
    "bot": "authorization_token",
    "sso-key": "authorization_token",
    "pat": "authorization_token",
    "splunk": "authorization_token",
    "ssws": "authorization_token",
    "geniekey": "authorization_token",
    "klaviyo-api-key": "authorization_token",
}


def token_like(value: str) -> bool:
    """An opaque credential rather than a word, a name or a stub: long, varied, random."""
    if len(value) < 16 or len(set(value)) < 8 or is_placeholder(value):
        return False
    if DIGITS.isdisjoint(value) and (value.lower() == value or value.upper() == value):
        return False  # `ACCESS_TOKEN`, `authentication-required`: words, not keys
    if is_sequential(value) or is_counting(value) or is_repetitive(value):
        return False
    return not looks_like_name(value) and entropy(value) >= 3.0


def looks_like_name(value: str) -> bool:
    """`self.api_token`, `Config.ACCESS_TOKEN`, `getToken`: code that names a token."""
    parts = value.split(".")
    named = all(p.isidentifier() and not (len(p) >= 16 and mixed(p)) for p in parts)
    return (len(parts) >= 2 and named) or (value.isidentifier() and DIGITS.isdisjoint(value))


_B64_PADDED = frozenset(string.ascii_letters + string.digits + "+/=")


def basic_credentials(value: str) -> float | None:
    """`Basic <base64 of user:password>`: acted on when the password is a real one."""
    if len(value) % 4 == 1 or not _B64_PADDED.issuperset(value):
        return None  # not standard base64: no decoding (and no exception) to try
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = raw.partition(":")
    if not sep or not raw.isprintable() or len(password) < 4:
        return None  # `dXNlcjo=` is "user:" (no password); text, not a credential pair
    if is_placeholder(password) or is_trivial(password) or password == user:
        return None
    return 0.85 if len(password) >= 8 else 0.6


def authorization(text: str, lower: str) -> Iterator[Hit]:
    for m in _AUTH_HEADER.finditer(lower):
        yield from auth_value(text, m)


# An Authorization header's value alone (`Bearer x`, `Basic x`, a bare token), as
# in a HAR file's or a Postman export's `{"name": "Authorization", "value": "..."}`.
AUTH_VALUE = re.compile(r"(?:([a-z][a-z0-9-]{1,19})[ \t]{1,5})?([a-z0-9._~+/=:-]{8,2000})")


def auth_value(text: str, m: re.Match[str]) -> Iterator[Hit]:
    """Judge a match whose group 1 is the scheme (lower-cased, or None), 2 the value."""
    start, end = m.span(2)
    if not right_ok(text, end, _AUTH_CHARS) or text.startswith(("(", "["), end):
        return  # a call or an index: code that computes the value
    scheme = m.group(1) or ""
    value = text[start:end]
    if scheme == "basic":
        conf = basic_credentials(value)
        if conf is not None:
            yield "basic_auth_credentials", start, end, conf
    elif scheme in _TOKEN_SCHEMES or not scheme:
        if token_like(value):
            kind = _TOKEN_SCHEMES.get(scheme, "authorization_token")
            yield kind, start, end, 0.8 if scheme else 0.75
    else:
        # No scheme we know: the first word may be a bare token followed by text
        # (a scheme name such as `AWS4-HMAC-SHA256` has dashes and one case).
        s, e = m.span(1)
        if "-" not in text[s:e] and mixed(text[s:e]) and token_like(text[s:e]):
            yield "authorization_token", s, e, 0.75


_NPMRC = re.compile(r"/:_authToken=\s{0,3}")
_NPMRC_VALUE = re.compile(r"[^\s'\"]{8,512}")


def npmrc(text: str, lower: str) -> Iterator[Hit]:
    for m in _NPMRC.finditer(text):
        v = _NPMRC_VALUE.match(text, m.end())
        if v is not None and not is_placeholder(v.group(0)):
            yield "npmrc_auth_token", v.start(), v.end(), 0.9


_JFROG = re.compile(r"x-jfrog-art-api[\"']?[ \t]{0,5}[:=][ \t]{0,5}[\"']?([a-z0-9]{12,128})")


def jfrog(text: str, lower: str) -> Iterator[Hit]:
    """The Artifactory API key header: whatever it carries is the key."""
    for m in _JFROG.finditer(lower):
        start, end = m.span(1)
        value = text[start:end]
        if right_ok(text, end, ALNUM) and varied(value) and not is_placeholder(value):
            yield "artifactory_token", start, end, 0.85


_PUTTY = re.compile(r"PuTTY-User-Key-File-[23]:")
_PUTTY_MAC = re.compile(r"Private-MAC:[ \t]{0,4}[0-9a-fA-F]{40,64}")
_PUTTY_LINES = re.compile(r"Private-Lines:")


def putty(text: str, lower: str) -> Iterator[Hit]:
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


def terraform(text: str, lower: str) -> Iterator[Hit]:
    for m in _ATLAS.finditer(text):
        s = m.start() - 14
        if s < 0 or not ALNUM.issuperset(text[s : m.start()]) or not left_ok(text, s):
            continue
        if right_ok(text, m.end()) and not is_placeholder(text[s : m.end()]):
            yield "terraform_cloud_token", s, m.end(), 0.9


# Azure DevOps personal access tokens. The current format is 84 base62 characters
# with Microsoft's common-annotated-key signature `JQQJ` at offset 52 and the
# provider signature `AZDO` at 76: found from `AZDO` (the regex's literal start,
# so `re` skips to it), with the 76 characters before it (`JQQJ` among them, and
# no letter or digit before those) checked by a look-behind inside the regex: a
# flood of either signature costs no Python per match.
_ADO_SIGNATURE = re.compile(
    r"AZDO(?<=(?<![A-Za-z0-9])[A-Za-z0-9]{52}JQQJ[A-Za-z0-9]{20}AZDO)[A-Za-z0-9]{4}"
)


def azure_devops(text: str, lower: str) -> Iterator[Hit]:
    for m in _ADO_SIGNATURE.finditer(text):
        s = m.start() - 76
        value = text[s : m.end()]
        if not right_ok(text, m.end(), ALNUM):
            continue
        if mixed(value[:52]) and not is_placeholder(value):
            yield "azure_devops_pat", s, m.end(), 0.95


# The legacy format: 52 characters of lowercase base32, no marker of its own, so
# acted on only with words near it that name Azure DevOps or a PAT. The words
# are found as literals (a short one must stand alone: `pat`, not `path`), and
# runs are looked for only in merged windows around them.
_ADO_LEGACY = re.compile(r"(?<![A-Za-z0-9])[a-z2-7]{52}(?![A-Za-z0-9])")
_ADO_WORDS = tuple(
    re.compile(w) for w in ("azure", "devops", "visualstudio", "vsts", "personal access token",
                            "system_accesstoken", "pat", "ado", "az")
)
# The gate over the long words: each byte a class mark (base32 `a`, other letters
# and digits `b`, anything else a space), so a run of exactly 52 base32
# characters is one `find` at C speed, with no regex pass.
_ADO_MARKS = bytes(
    0x61 if chr(b) in "abcdefghijklmnopqrstuvwxyz234567"
    else 0x62 if chr(b).isascii() and chr(b).isalnum() else 0x20
    for b in range(256)
)
_ADO_RUN = b" " + b"a" * 52 + b" "


def ado_legacy_gate(long: str) -> bool:
    """Whether the long words hold a run of exactly 52 lowercase base32 characters."""
    if not any(d in long for d in "234567"):
        return False  # a legacy PAT has a digit (checked by the detector): no marks needed
    marks = long.encode("ascii", "replace").translate(_ADO_MARKS)
    return _ADO_RUN in b" " + marks + b" "


def azure_devops_legacy(text: str, lower: str) -> Iterator[Hit]:
    anchors = []
    for p in _ADO_WORDS:
        short = len(p.pattern) <= 3
        for w in p.finditer(lower):
            s, e = w.span()
            if short and ((s and lower[s - 1].isalpha()) or lower[e : e + 1].isalpha()):
                continue  # `path`, `shadow`, `hazard`: not the word
            anchors.append(s)
    for lo, hi in _windows(text, anchors):
        for m in _ADO_LEGACY.finditer(text, lo, hi):
            start, end = m.span()
            value = m.group(0)
            if DIGITS.isdisjoint(value) or len(set(value)) < 16 or is_placeholder(value):
                continue
            if is_sequential(value) or is_repetitive(value):
                continue
            yield "azure_devops_pat", start, end, 0.85


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


def aws_secret(text: str, lower: str) -> Iterator[Hit]:
    anchors = [m.start() for p in _AWS_CONTEXT for m in p.finditer(lower)]
    anchors += [m.start() for p in _AWS_KEY_ID for m in p.finditer(text)]
    for lo, hi in _windows(text, anchors):
        for m in _AWS_SECRET.finditer(text, lo, hi):
            start, end = m.span()
            if end - start != 40 or not left_ok(text, start, _B64_CHARS):
                continue
            if not right_ok(text, end, _B64_CHARS):
                continue
            value = m.group(0)
            if is_placeholder(value) or not mixed(value) or entropy(value) < 4.0:
                continue
            yield "aws_secret_access_key", start, end, 0.85


def azure_key(text: str, lower: str) -> Iterator[Hit]:
    anchors = [m.start() for p in _AZURE_CONTEXT for m in p.finditer(lower)]
    for lo, hi in _windows(text, anchors):
        for m in _HEX32.finditer(text, lo, hi):
            start, end = m.span()
            if end - start != 32 or not left_ok(text, start, ALNUM):
                continue
            if not right_ok(text, end, ALNUM) or is_placeholder(m.group(0)):
                continue
            if entropy(m.group(0)) < 3.0:
                continue
            yield "azure_api_key", start, end, 0.8

