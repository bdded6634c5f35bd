"""Short-lived JWTs (HS256) that the gateway issues itself: `gateway run` and `gateway tokens`.

Only HS256 with a key id from the gateway's own keyset is accepted: no
`alg: none`, no algorithm chosen by the token, no key fetched from a URL, no
header parameter we do not write (`crit`, `jku`, `jwk`, `x5u` ... are refused
rather than ignored). That is the whole of JWT this gateway needs, about a
hundred lines with the standard library, so no JWT library joins the
dependency tree.

Rules, in the order `check` applies them (the first one broken is the reason):

1. shape: three dot-separated parts, at most MAX_TOKEN characters;
2. encoding: each part unpadded base64url in its one canonical spelling (the
   standard decoder accepts padding, skipped characters and other trailing
   bits, so one token would otherwise have many spellings);
3. header: a JSON object with no duplicate keys, exactly `alg` = "HS256",
   `kid` (a string) and optionally `typ` = "JWT";
4. key: `kid` names a key in the verifying set (the current key and those in
   their rotation's grace period); the signature is compared in constant time;
5. payload: a JSON object with no duplicate keys and no NaN/Infinity;
6. time: `exp` a finite number in the future; `nbf` and `iat`, when present,
   finite numbers not later than now + LEEWAY (clocks of two hosts differ a
   little; a token "issued" minutes from now was made by a wrong clock or a
   forger);
7. audience (and issuer, when the caller names one) exactly as expected.

Signature before payload: nothing in an unauthenticated payload is parsed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Collection, Mapping
from typing import Any

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
ALGORITHM = "HS256"
MAX_TOKEN = 4096
LEEWAY = 5.0  # seconds a token's nbf/iat may lie in the future (clock skew)
_HEADER_KEYS = frozenset({"alg", "kid", "typ"})


class TokenRejected(ValueError):
    """Why a token was refused: for logs and tests, never for the caller's eyes in detail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, refusing any other spelling of the same bytes."""
    if not _B64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data


def _number(value: Any) -> bool:
    """A finite JSON number (not a boolean, not NaN or Infinity)."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def issue(kid: str, key: bytes, claims: Mapping[str, Any]) -> str:
    header = _b64(json.dumps({"alg": ALGORITHM, "typ": "JWT", "kid": kid},
                             separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(key, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all distinct: `{"aud":"x","aud":"y"}` means two things
    to two parsers, so it means nothing here."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"duplicate key {name!r}")
        out[name] = value
    return out


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        raw = _unb64(part)
    except ValueError:
        raise TokenRejected(f"{what} is not canonical base64url") from None
    try:
        value = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=_unique)
    except (ValueError, UnicodeDecodeError):
        raise TokenRejected(f"{what} is not strict JSON (or repeats a key)") from None
    if not isinstance(value, dict):
        raise TokenRejected(f"{what} is not a JSON object")
    return value


def header_of(token: str) -> dict[str, Any]:
    """The checked header of a token (rules 1 to 3), before any key is looked up."""
    if len(token) > MAX_TOKEN:
        raise TokenRejected("not a compact JWT")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("not a compact JWT")
    header = _json_object(parts[0], "header")
    if header.get("alg") != ALGORITHM:
        raise TokenRejected(f"algorithm other than {ALGORITHM}")
    if set(header) - _HEADER_KEYS:
        raise TokenRejected("header parameter the gateway does not write")
    if "typ" in header and header["typ"] != "JWT":
        raise TokenRejected("typ other than JWT")
    if not isinstance(header.get("kid"), str):
        raise TokenRejected("no key id")
    return header


def check(token: str, keys: Mapping[str, bytes], *, audiences: Collection[str] = ("gateway",),
          issuer: str | None = None, now: float | None = None,
          leeway: float = LEEWAY) -> dict[str, Any]:
    """The claims of a valid token signed by one of `keys`; else TokenRejected with why."""
    header = header_of(token)
    key = keys.get(header["kid"])
    if key is None:
        raise TokenRejected("unknown key id (rotated out, or never ours)")
    head, payload, signature = token.split(".")
    try:
        presented = _unb64(signature)
    except ValueError:
        raise TokenRejected("signature is not canonical base64url") from None
    expected = hmac.new(key, f"{head}.{payload}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, presented):
        raise TokenRejected("bad signature")
    claims = _json_object(payload, "payload")
    moment = time.time() if now is None else now
    exp = claims.get("exp", math.nan)
    if not _number(exp):
        raise TokenRejected("no usable exp")
    if moment >= exp:
        raise TokenRejected("expired")
    for name in ("nbf", "iat"):
        if name in claims:
            if not _number(claims[name]):
                raise TokenRejected(f"{name} is not a number")
            if claims[name] > moment + leeway:
                raise TokenRejected(f"not yet valid ({name} in the future)")
    aud = claims.get("aud")
    if not isinstance(aud, str) or aud not in audiences:
        raise TokenRejected("wrong audience")
    if issuer is not None and claims.get("iss") != issuer:
        raise TokenRejected("wrong issuer")
    return claims


def verify(token: str, keys: Mapping[str, bytes], *, audience: str = "gateway",
           now: float | None = None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token signed by one of `keys`; else None."""
    try:
        return check(token, keys, audiences=(audience,), now=now, leeway=0.0)
    except TokenRejected:
        return None
