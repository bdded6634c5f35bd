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
import time
from collections.abc import Mapping
from typing import Any


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(kid: str, key: bytes, claims: Mapping[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid},
                             separators=(",", ":")).encode())
    payload = _b64(json.dumps(dict(claims), separators=(",", ":"), sort_keys=True).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(key, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def verify(token: str, keys: Mapping[str, bytes], *, audience: str = "gateway",
           now: float | None = None) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token signed by one of `keys`; else None."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 4096:
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            return None
        key = keys.get(str(header.get("kid")))
        if key is None:
            return None
        expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict):
        return None
    moment = time.time() if now is None else now
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or moment >= exp:
        return None
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and moment < nbf:
        return None
    if claims.get("aud") != audience:
        return None
    return claims
