"""Short-lived JWTs (HS256) that the gateway issues to itself, e.g. for `gateway run`.

Only HS256 with a key id from the gateway's own keyset is accepted: no
`alg: none`, no algorithm chosen by the token, no key fetched from a URL.
That is the whole of JWT this gateway needs, about forty lines with the
standard library, so no JWT library joins the dependency tree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Decode unpadded base64url, refusing any other spelling of the same bytes.

    The standard decoder skips characters outside the alphabet and accepts
    padding and non-zero trailing bits, so one signature has many spellings;
    a token is accepted only in the one spelling `issue` writes.
    """
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
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid},
                             separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(key, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def verify(token: str, keys: Mapping[str, bytes], *, audience: str = "gateway",
           now: float | None = None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token signed by one of `keys`; else None."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        return None
    try:
        header = json.loads(_unb64(parts[0]), parse_constant=_no_constant)
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        key = keys.get(str(header.get("kid")))
        if key is None:
            return None
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    moment = time.time() if now is None else now
    exp = claims.get("exp", math.nan)
    if not _number(exp) or moment >= exp:
        return None
    if "nbf" in claims and (not _number(claims["nbf"]) or moment < claims["nbf"]):
        return None
    if "iat" in claims and not _number(claims["iat"]):
        return None
    if claims.get("aud") != audience:
        return None
    return claims
