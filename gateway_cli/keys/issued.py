"""Gateway-issued scoped tokens (`gateway tokens issue`): their claims and their registry.

A scoped token is a short-lived HS256 JWT (keys/jwt.py) signed with the
"tokens" key of the gateway's signing keyset, the key `gateway run` tokens
use. What keeps the two apart is the audience: a run token says
aud = "gateway" and a scoped token aud = AUDIENCE, each verifier dispatches on
it, and a run token never yields MCP scopes (server/auth.py), so neither kind
can be passed off as the other.

Claims (all required, each of exactly the type written here):

    iss     ISSUER
    aud     AUDIENCE
    sub     the token's name (for logs, limits and `tokens list`)
    jti     its id: what `tokens revoke` names and the audit log records
    iat/nbf when it was issued; exp: iat + ttl (at most MAX_TTL)
    scopes  MCP scope strings (gateway_cli/mcp/scopes.py), each one valid
    models  optional list of public model names; absent: no model at all.
            Scopes are for tools; a token reaches a model only when issued for it.

The token text is printed once and never stored; the registry
(`<home>/issued-tokens.json`) keeps what `tokens list` shows and what
`tokens revoke` needs (jti, name, scopes, models, times, kid). Revoking puts
the jti on the list `gateway run` revocations use (keys/revoked.py), which a
running gateway reloads on the same control-socket notice as client keys.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway_cli.errors import GatewayError
from gateway_cli.keys import jsonstate, jwt, revoked
from gateway_cli.keys.principal import Principal
from gateway_cli.keys.signing import KeyEntry
from gateway_cli.mcp.scopes import MAX_SCOPES, ScopeError, check_list, parse_scope

AUDIENCE = "gateway:token"
ISSUER = "gateway"
DEFAULT_TTL = 600
MAX_TTL = 86400
MIN_TTL = 10
MAX_MODELS = 64
KEEP_ENDED = 7 * 86400  # registry entries stay listed this long after they ended


class TokenError(GatewayError):
    """A `gateway tokens` command cannot do what was asked."""


@dataclass(frozen=True)
class Issued:
    """One issued token as the registry keeps it: never the token itself."""

    jti: str
    name: str
    kid: str
    scopes: tuple[str, ...]
    models: tuple[str, ...] | None
    issued: float
    expires: float
    revoked: float | None = None

    def state(self, now: float) -> str:
        if now >= self.expires:
            return "expired" if self.revoked is None or self.revoked >= self.expires \
                else "revoked"
        if self.revoked is not None:
            # A future stamp: the signing key it was made with is retiring (rotate-keys
            # --signing --grace), and the token stops working then.
            return "revoked" if now >= self.revoked else "grace"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {"jti": self.jti, "name": self.name, "kid": self.kid,
                "scopes": list(self.scopes),
                "models": list(self.models) if self.models is not None else None,
                "issued": self.issued, "expires": self.expires, "revoked": self.revoked}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Issued:
        models = raw.get("models")
        return cls(jti=str(raw["jti"]), name=str(raw["name"]), kid=str(raw["kid"]),
                   scopes=tuple(str(s) for s in raw["scopes"]),
                   models=tuple(str(m) for m in models) if models is not None else None,
                   issued=float(raw["issued"]), expires=float(raw["expires"]),
                   revoked=None if raw.get("revoked") is None else float(raw["revoked"]))


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, each checked with the grammar the MCP relay enforces; TokenError names
    the first malformed one, so nothing is stored or signed with it."""
    try:
        return check_list(scopes)
    except ScopeError as err:
        raise TokenError(f"--scope: {err}") from None


def check_name(name: str) -> None:
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise TokenError(f"token name {name!r} must be 1-64 letters, digits, '-', '_' or '.'")


def check_models(models: Iterable[str] | None) -> tuple[str, ...] | None:
    """Public model names as given (None: no model). They end up in `tokens list` on a
    terminal, so no whitespace or control characters, and a bounded length."""
    if models is None:
        return None
    out = tuple(dict.fromkeys(models))
    if len(out) > MAX_MODELS:
        raise TokenError(f"at most {MAX_MODELS} models")
    for name in out:
        if not name or len(name) > 256 or not name.isprintable() or any(
                ch.isspace() for ch in name):
            raise TokenError("--models: a model name must be 1-256 printable characters "
                             "without spaces")
    return out


def check_ttl(ttl: int) -> None:
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise TokenError(f"--ttl must be {MIN_TTL} to {MAX_TTL} seconds (a scoped token is "
                         "short-lived; issue a new one when it ends)")


def claims_for(name: str, scopes: tuple[str, ...], models: tuple[str, ...] | None,
               ttl: int, now: float, jti: str) -> dict[str, Any]:
    issued_at = int(now)
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": name, "jti": jti,
                              "iat": issued_at, "nbf": issued_at, "exp": issued_at + ttl,
                              "scopes": list(scopes)}
    if models is not None:
        claims["models"] = list(models)
    return claims


def _strings(value: Any, limit: int) -> bool:
    return isinstance(value, list) and len(value) <= limit \
        and all(isinstance(v, str) and v for v in value)


@functools.lru_cache(maxsize=4096)
def _valid_scope(text: str) -> bool:
    """Whether a signed scope string parses; remembered, as the same few scopes come with
    every request of an agent (only signed, and so issued, strings reach this)."""
    try:
        parse_scope(text)
    except ScopeError:
        return False
    return True


def principal_of(claims: dict[str, Any]) -> Principal:
    """The Principal a verified scoped token stands for; TokenRejected if any claim is not
    exactly of the shape `claims_for` writes (a string where a list belongs must not
    mean "everything", a malformed scope must not grant anything)."""
    if claims.get("iss") != ISSUER or claims.get("aud") != AUDIENCE:
        raise jwt.TokenRejected("not a scoped token")
    jti, name = claims.get("jti"), claims.get("sub")
    if not isinstance(jti, str) or not jti or not isinstance(name, str) or not name:
        raise jwt.TokenRejected("no jti or sub")
    if not _strings(claims.get("scopes"), MAX_SCOPES):
        raise jwt.TokenRejected("scopes is not a list of strings")
    if not all(_valid_scope(text) for text in claims["scopes"]):
        raise jwt.TokenRejected("malformed scope")
    models = claims.get("models")
    if models is not None and not _strings(models, MAX_MODELS):
        raise jwt.TokenRejected("models is not a list of strings")
    return Principal(id=f"tok:{jti}", name=name, kind="token",
                     models=tuple(models) if models is not None else (),
                     scopes=tuple(claims["scopes"]))


def _path(home: Path) -> Path:
    return home / "issued-tokens.json"


def _empty() -> dict[str, Any]:
    return {"version": 1, "tokens": []}


def _records(data: dict[str, Any]) -> list[Issued]:
    try:
        return [Issued.from_json(r) for r in data["tokens"]]
    except (KeyError, TypeError, ValueError):
        raise jsonstate.StateError("issued-tokens.json has a malformed record; restore it "
                                   "from a backup or remove it") from None


def issue(home: Path, key: KeyEntry, *, name: str, scopes: Iterable[str],
          models: Iterable[str] | None, ttl: int = DEFAULT_TTL,
          now: float | None = None) -> tuple[Issued, str]:
    """A new scoped token, recorded (without its text) before it is returned."""
    check_name(name)
    checked = check_scopes(scopes)
    check_ttl(ttl)
    wanted = check_models(models)
    moment = time.time() if now is None else now
    jti = secrets.token_hex(12)
    claims = claims_for(name, checked, wanted, ttl, moment, jti)
    token = jwt.issue(key.kid, key.key, claims)
    if len(token) > jwt.MAX_TOKEN:
        raise TokenError("the token would be too long to be accepted; give fewer or "
                         "shorter scopes and models")
    record = Issued(jti=jti, name=name, kid=key.kid, scopes=checked, models=wanted,
                    issued=float(claims["iat"]), expires=float(claims["exp"]))

    def change(data: dict[str, Any]) -> None:
        kept = [r.to_json() for r in _records(data)
                if (r.revoked or r.expires) > moment - KEEP_ENDED]
        data["tokens"] = [*kept, record.to_json()]

    jsonstate.update(_path(home), _empty, change)
    return record, token


def key_retired(home: Path, kids: Iterable[str], at: float,
                now: float | None = None) -> int:
    """Stamp live tokens signed by `kids` as ending at `at`: a signing rotation ends them
    (after its grace), and `tokens list` must not call them active. Returns how many."""
    moment = time.time() if now is None else now
    retired = set(kids)
    if not _path(home).exists():
        return 0

    def change(data: dict[str, Any]) -> int:
        stamped = 0
        for raw, record in zip(data["tokens"], _records(data), strict=True):
            if record.kid in retired and record.state(moment) in ("active", "grace") \
                    and at < record.expires and (record.revoked is None or at < record.revoked):
                raw["revoked"] = at
                stamped += 1
        return stamped

    return jsonstate.update(_path(home), _empty, change)


def list_issued(home: Path) -> list[Issued]:
    return _records(jsonstate.load(_path(home), _empty))


def revoke(home: Path, ident: str, now: float | None = None) -> list[Issued]:
    """Revoke the live token with jti `ident`, or every live token named `ident`.

    The jti goes on the revocation list first (that is what a running gateway
    enforces), then the registry entry is stamped.
    """
    moment = time.time() if now is None else now

    def change(data: dict[str, Any]) -> list[Issued]:
        records = _records(data)
        chosen = [r for r in records if (r.jti == ident or r.name == ident)
                  and r.state(moment) in ("active", "grace")]
        if not chosen:
            raise TokenError(f"no live token with id or name {ident!r}; see "
                             "`gateway tokens list`")
        for r in chosen:
            revoked.revoke(home, r.jti, r.expires, now=moment)
        ids = {r.jti for r in chosen}
        data["tokens"] = [dict(raw, revoked=moment) if raw["jti"] in ids else raw
                          for raw in data["tokens"]]
        return chosen

    return jsonstate.update(_path(home), _empty, change)
