"""Who is calling: a gateway client key, a gateway-issued JWT (run or scoped), or nobody.

Checked before anything else on every /v1 path, so an unauthenticated
request never reaches a guard, a limit or an upstream. The snapshot of keys
is immutable and replaced whole when a rotation arrives over the control
channel, so a request sees either the old set or the new one, never a mix.

Open mode (no client key ever created) lets every local caller in; the
server only allows it on a loopback address (see launch.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway_cli.keys import issued, jwt
from gateway_cli.keys.clients import PREFIX, ClientTable
from gateway_cli.keys.principal import OPEN, Principal

_AUTH_HEADERS = (b"authorization", b"x-api-key", b"api-key")
RUN_AUDIENCE = "gateway"  # `gateway run` tokens; scoped tokens carry issued.AUDIENCE
log = logging.getLogger("gateway.auth")


@dataclass(frozen=True)
class Denied:
    status: int
    message: str
    code: str
    retry_after: int | None = None


def presented_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token from `Authorization: Bearer`, `x-api-key` (Anthropic) or `api-key` (Azure)."""
    for name, value in headers:
        if name in _AUTH_HEADERS:
            text = value.decode("latin-1").strip()
            if name == b"authorization":
                scheme, _, rest = text.partition(" ")
                if scheme.lower() != "bearer":
                    continue
                text = rest.strip()
            if text:
                return text
    return None


def _run_claims_valid(claims: dict[str, Any]) -> bool:
    """Each claim the gateway acts on has exactly the type it issues; anything else refuses.

    A `models` claim that is a string rather than a list must not mean "every
    model", and a missing `jti` must not make a token impossible to revoke.
    """
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        return False
    if not isinstance(claims.get("sub"), str):
        return False
    models = claims.get("models")
    if models is not None and not (isinstance(models, list)
                                   and all(isinstance(m, str) for m in models)):
        return False
    team = claims.get("team")
    if "lease" in claims and not isinstance(claims["lease"], bool):
        return False
    return team is None or isinstance(team, str)


@dataclass
class Authenticator:
    table: ClientTable
    # kid -> (key, end of its grace period or None for the current key)
    jwt_keys: Mapping[str, tuple[bytes, float | None]] = field(default_factory=dict)
    revoked_jtis: frozenset[str] = frozenset()
    leases: Mapping[str, float] = field(default_factory=dict)  # run jti -> lease end

    @property
    def open(self) -> bool:
        return not self.table.enforcing

    def replaced(self, *, table: ClientTable | None = None,
                 jwt_keys: Mapping[str, tuple[bytes, float | None]] | None = None,
                 revoked_jtis: frozenset[str] | None = None,
                 leases: Mapping[str, float] | None = None) -> Authenticator:
        """A new snapshot with some parts swapped (rate limits live in the limits store)."""
        return Authenticator(table=table if table is not None else self.table,
                             jwt_keys=jwt_keys if jwt_keys is not None else self.jwt_keys,
                             revoked_jtis=(revoked_jtis if revoked_jtis is not None
                                           else self.revoked_jtis),
                             leases=leases if leases is not None else self.leases)

    def _identify(self, token: str, now: float) -> Principal | None:
        if token.startswith(PREFIX):
            client = self.table.authenticate(token, now)
            if client is None:
                return None
            # Tokens of one client key in a rotation's grace period share its name,
            # and so their limits and spend (counted by name, limits/plan.py).
            return Principal(id=client.id, name=client.name, kind=client.kind,
                             models=client.models, rpm=client.rpm, team=client.team,
                             budget=client.budget, admin=client.admin,
                             scopes=client.scopes)
        if token.count(".") == 2 and self.jwt_keys:
            return self._jwt_principal(token, now)
        return None

    def _jwt_principal(self, token: str, now: float) -> Principal | None:
        """A `gateway run` token (aud "gateway") or a scoped token (aud issued.AUDIENCE).

        One signature check; the audience then says which rules apply, so a run
        token never carries MCP scopes and a scoped token never needs a lease.
        """
        keys = {kid: key for kid, (key, until) in self.jwt_keys.items()
                if until is None or now < until}
        try:
            claims = jwt.check(token, keys, audiences=(RUN_AUDIENCE, issued.AUDIENCE),
                               now=now)
            if claims["aud"] == issued.AUDIENCE:
                principal = issued.principal_of(claims)
                if claims["jti"] in self.revoked_jtis:
                    raise jwt.TokenRejected("revoked")
                return principal
        except jwt.TokenRejected as err:
            log.debug("gateway token refused: %s", err.reason)
            return None
        if not _run_claims_valid(claims) or claims["jti"] in self.revoked_jtis:
            return None
        if claims.get("lease") is True and self.leases.get(claims["jti"], 0.0) <= now:
            return None  # its `gateway run` stopped renewing it
        models = claims.get("models")
        return Principal(id=f"jwt:{claims['jti']}", name=claims["sub"], kind="run",
                         models=tuple(models) if models is not None else None,
                         team=claims.get("team"))

    def check(self, headers: Iterable[tuple[bytes, bytes]],
              now: float | None = None) -> Principal | Denied:
        moment = time.time() if now is None else now
        token = presented_token(headers)
        principal = self._identify(token, moment) if token else None
        if principal is None:
            if self.open:
                return OPEN
            if token is None:
                return Denied(401, "this gateway needs a gateway key: send it as "
                              "'Authorization: Bearer gwk_...' (or x-api-key)",
                              "missing_api_key")
            return Denied(401, "the gateway key is invalid, expired or revoked",
                          "invalid_api_key")
        return principal
