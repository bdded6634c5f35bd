"""Gateway client keys: the tokens apps hold instead of a provider's key.

A token reads `gwk_<id>_<secret>`: the prefix lets secret scanners (this
gateway's own included) recognise a leaked one, the id finds its record
without a scan, and the secret is 32 random bytes. Only the SHA-256 of the
whole token is stored: the token has 256 bits of entropy, so a slow password
hash would add cost on every request and no safety. Comparison is constant
time. A token is worthless off this machine: it opens this gateway only.

Records are never deleted by revocation, only stamped, so `clients list`
shows what was revoked and when. Rotation issues a new record under the same
name and stamps the old one with the end of its grace period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from gateway_cli.errors import GatewayError
from gateway_cli.keys import jsonstate

PREFIX = "gwk_"
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ClientKind = Literal["client", "run"]


class ClientError(GatewayError):
    """A client-key command cannot do what was asked."""


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    digest: str
    created: float
    kind: ClientKind = "client"
    expires: float | None = None
    revoked: float | None = None
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    budget: float | None = None
    team: str | None = None
    admin: bool = False  # may read /metrics and readiness detail from any address
    # Who to ask about the key and where to send its token: bookkeeping for the
    # operator who hands keys out, never used to authenticate.
    owner: str | None = None
    contact: str | None = None
    # MCP scope strings (gateway_cli/mcp/scopes.py), checked when stored; they grant tools
    # only and never widen `models`. Records written before scopes existed have none.
    scopes: tuple[str, ...] = ()

    def active(self, now: float) -> bool:
        return ((self.revoked is None or now < self.revoked)
                and (self.expires is None or now < self.expires))

    def state(self, now: float) -> str:
        if self.revoked is not None and now >= self.revoked:
            return "revoked"
        if self.expires is not None and now >= self.expires:
            return "expired"
        if self.revoked is not None:
            return "grace"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "digest": self.digest,
                "created": self.created, "kind": self.kind, "expires": self.expires,
                "revoked": self.revoked,
                "models": list(self.models) if self.models is not None else None,
                "rpm": self.rpm, "budget": self.budget, "team": self.team,
                "admin": self.admin, "owner": self.owner, "contact": self.contact,
                "scopes": list(self.scopes)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Client:
        models = raw.get("models")
        return cls(id=str(raw["id"]), name=str(raw["name"]), digest=str(raw["digest"]),
                   created=float(raw["created"]), kind=raw.get("kind", "client"),
                   expires=raw.get("expires"), revoked=raw.get("revoked"),
                   models=tuple(models) if models is not None else None,
                   rpm=raw.get("rpm"), budget=raw.get("budget"), team=raw.get("team"),
                   admin=raw.get("admin") is True, owner=_optional_str(raw.get("owner")),
                   contact=_optional_str(raw.get("contact")),
                   scopes=_scopes(raw.get("scopes", [])))


def _scopes(value: object) -> tuple[str, ...]:
    """Stored scopes, re-checked on load: a hand-edited record with a malformed scope is a
    malformed record (refused whole), never a scope that silently grants something."""
    from gateway_cli.mcp.scopes import ScopeError, parse_scope

    if not isinstance(value, list):
        raise ValueError("scopes must be a list")
    try:
        return tuple(parse_scope(s).text for s in value)  # printable ASCII only
    except ScopeError as err:
        raise ValueError(str(err)) from None


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """`--scope` values checked with the grammar the MCP relay enforces; ClientError names
    the first malformed one, before anything is stored."""
    from gateway_cli.mcp.scopes import ScopeError, check_list

    try:
        return check_list(scopes)
    except ScopeError as err:
        raise ClientError(f"--scope: {err}") from None


def _optional_str(value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (id, token). The id is 12 characters from [a-z0-9]: about 62 bits."""
    ident = "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return ident, f"{PREFIX}{ident}_{secret}"


def token_id(token: str) -> str | None:
    """The id part of a well-formed token, else None (cheap: no hashing)."""
    if not token.startswith(PREFIX) or len(token) != len(PREFIX) + 12 + 1 + 43:
        return None
    ident, sep, _ = token[len(PREFIX):].partition("_")
    return ident if sep and len(ident) == 12 else None


@dataclass(frozen=True)
class ClientTable:
    """An immutable snapshot of the client records, swapped whole on reload."""

    by_id: dict[str, Client]
    _enforcing: bool = False

    @property
    def enforcing(self) -> bool:
        """Keys are required once any client key was ever created, revoked ones included.

        Revoking every key (an emergency rotation) must lock the gateway, not
        reopen it. Run keys (`gateway run`) do not switch an open loopback
        gateway to enforcing: that would lock out every other local app.
        """
        return self._enforcing

    def __post_init__(self) -> None:
        object.__setattr__(self, "_enforcing",
                           any(c.kind == "client" for c in self.by_id.values()))

    def authenticate(self, token: str, now: float) -> Client | None:
        ident = token_id(token)
        if ident is None:
            return None
        client = self.by_id.get(ident)
        if client is None:
            # Compare anyway so a miss costs what a hit costs.
            hmac.compare_digest(digest(token), "0" * 64)
            return None
        if not hmac.compare_digest(digest(token), client.digest):
            return None
        return client if client.active(now) else None

    def named(self, name: str) -> list[Client]:
        return [c for c in self.by_id.values() if c.name == name]


def _empty() -> dict[str, Any]:
    return {"version": 1, "clients": []}


def clients_path(home: Path) -> Path:
    return home / "clients.json"


def _records(data: dict[str, Any]) -> list[Client]:
    try:
        return [Client.from_json(r) for r in data["clients"]]
    except (KeyError, TypeError, ValueError):
        raise jsonstate.StateError("clients.json has a malformed record; restore it from "
                                   "a backup or remove it") from None


def load_table(home: Path) -> ClientTable:
    clients = _records(jsonstate.load(clients_path(home), _empty))
    return ClientTable({c.id: c for c in clients})


def list_clients(home: Path) -> list[Client]:
    return _records(jsonstate.load(clients_path(home), _empty))


def _check_name(name: str) -> None:
    if name == "all":
        raise ClientError("'all' is reserved (`--clients all` means every client key)")
    if not name or len(name) > 64 or not all(ch.isalnum() or ch in "-_." for ch in name):
        raise ClientError(f"client name {name!r} must be 1-64 letters, digits, '-', '_' "
                          "or '.'")


# A display name: it ends up in terminals and in a CSV an operator mail-merges, so
# letters, digits and a little punctuation only (no control or bidi characters).
_OWNER_PUNCTUATION = frozenset(" -_.'")
# An address a mail-merge can use; deliberately narrower than RFC 5321 (no quoted
# local parts, no spaces, ASCII only) so it cannot smuggle anything into a terminal
# or a CSV cell.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
                    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+")
MAX_CONTACT = 254


def check_owner(owner: str) -> None:
    if (not owner or len(owner) > 64 or owner != owner.strip()
            or not all(ch.isalnum() or ch in _OWNER_PUNCTUATION for ch in owner)):
        raise ClientError("--owner must be 1-64 letters, digits, spaces, '-', '_', '.' or "
                          "apostrophes, with no leading or trailing space")


def check_contact(contact: str) -> None:
    # The value is not echoed: it might be something pasted into the wrong option.
    if len(contact) > MAX_CONTACT or not _EMAIL.fullmatch(contact):
        raise ClientError(f"--contact must be an email address like dev@example.com "
                          f"(at most {MAX_CONTACT} characters, ASCII, no spaces)")


def create(home: Path, name: str, *, kind: ClientKind = "client",
           models: Iterable[str] | None = None, rpm: int | None = None,
           budget: float | None = None, expires: float | None = None,
           team: str | None = None, admin: bool = False, owner: str | None = None,
           contact: str | None = None, scopes: Iterable[str] = (),
           now: float | None = None) -> tuple[Client, str]:
    """A new client record and its token (the only time the token exists in clear)."""
    _check_name(name)
    checked = check_scopes(scopes)
    if team is not None:
        _check_name(team)
    if owner is not None:
        check_owner(owner)
    if contact is not None:
        check_contact(contact)
    now = time.time() if now is None else now
    ident, token = new_token()
    client = Client(id=ident, name=name, digest=digest(token), created=now, kind=kind,
                    expires=expires, models=tuple(models) if models is not None else None,
                    rpm=rpm, budget=budget, team=team, admin=admin, owner=owner,
                    contact=contact, scopes=checked)

    def change(data: dict[str, Any]) -> None:
        records = _records(data)
        if kind == "client" and any(c.name == name and c.kind == "client"
                                    and c.revoked is None and c.active(now)
                                    for c in records):
            raise ClientError(f"a client named {name!r} already exists; rotate it with "
                              f"`gateway rotate-keys --clients {name}` or revoke it first")
        data["clients"].append(client.to_json())

    jsonstate.update(clients_path(home), _empty, change)
    return client, token


def _select(records: list[Client], names: list[str] | None, now: float,
            kinds: tuple[ClientKind, ...]) -> list[Client]:
    wanted = None if names is None else set(names)
    return [c for c in records if c.kind in kinds and c.revoked is None and c.active(now)
            and (wanted is None or c.name in wanted or c.id in wanted)]


def _end(data: dict[str, Any], names: list[str] | None, now: float,
         kinds: tuple[ClientKind, ...], when: float) -> list[Client]:
    """Stamp the live records `names` picks (None: all) as ending at `when`; each name must
    pick at least one, or nothing changes."""
    chosen = _select(_records(data), names, now, kinds)
    if names is not None:
        missing = set(names) - {c.name for c in chosen} - {c.id for c in chosen}
        if missing:
            raise ClientError(f"no live client key named {sorted(missing)[0]!r}; "
                              "see `gateway clients list`")
    ids = {c.id for c in chosen}
    data["clients"] = [dict(r, revoked=when) if r["id"] in ids else r
                       for r in data["clients"]]
    return chosen


def revoke(home: Path, names: Iterable[str] | None, *, at: float | None = None,
           kinds: tuple[ClientKind, ...] = ("client", "run"),
           now: float | None = None) -> list[Client]:
    """Stamp matching live records revoked at `at` (default now); None means all."""
    now = time.time() if now is None else now
    when = now if at is None else at
    wanted = None if names is None else list(names)

    def change(data: dict[str, Any]) -> list[Client]:
        return _end(data, wanted, now, kinds, when)

    return jsonstate.update(clients_path(home), _empty, change)


def reissue(home: Path, names: Iterable[str] | None, *, grace: float = 0.0,
            now: float | None = None) -> list[tuple[Client, str]]:
    """New tokens for the named client keys (None: all); the old ones end after `grace`."""
    now = time.time() if now is None else now
    wanted = None if names is None else list(names)

    def change(data: dict[str, Any]) -> list[tuple[Client, str]]:
        chosen = _end(data, wanted, now, ("client",), now + grace)
        issued = []
        for old in chosen:
            ident, token = new_token()
            new = Client(id=ident, name=old.name, digest=digest(token), created=now,
                         kind="client", expires=old.expires, models=old.models,
                         rpm=old.rpm, budget=old.budget, team=old.team, admin=old.admin,
                         owner=old.owner, contact=old.contact, scopes=old.scopes)
            data["clients"].append(new.to_json())
            issued.append((new, token))
        return issued

    return jsonstate.update(clients_path(home), _empty, change)


_UNSET: Any = object()


def set_limits(home: Path, name: str, *, rpm: int | None = _UNSET,
               budget: float | None = _UNSET, now: float | None = None) -> int:
    """Change the rate limit or monthly budget of every live record of client key `name`
    (its grace-period tokens too); None removes it. Returns how many records changed."""
    now = time.time() if now is None else now

    def change(data: dict[str, Any]) -> int:
        changed = 0
        for raw, client in zip(data["clients"], _records(data), strict=True):
            if client.name == name and client.active(now):
                if rpm is not _UNSET:
                    raw["rpm"] = rpm
                if budget is not _UNSET:
                    raw["budget"] = budget
                changed += 1
        if not changed:
            raise ClientError(f"no live client key named {name!r}; see `gateway clients list`")
        return changed

    return jsonstate.update(clients_path(home), _empty, change)


def set_scopes(home: Path, name: str, scopes: Iterable[str], *,
               now: float | None = None) -> int:
    """Replace the MCP scopes of every live record of client key `name` (its grace-period
    tokens too, so a rotation in progress cannot keep an old grant); () removes them all.
    Every scope is checked before anything changes. Returns how many records changed."""
    checked = check_scopes(scopes)
    now = time.time() if now is None else now

    def change(data: dict[str, Any]) -> int:
        changed = 0
        for raw, client in zip(data["clients"], _records(data), strict=True):
            if client.name == name and client.kind == "client" and client.active(now):
                raw["scopes"] = list(checked)
                changed += 1
        if not changed:
            raise ClientError(f"no live client key named {name!r}; see `gateway clients list`")
        return changed

    return jsonstate.update(clients_path(home), _empty, change)


def prune(home: Path, *, older_than: float, now: float | None = None) -> int:
    """Drop run keys that ended more than `older_than` seconds ago (they pile up)."""
    now = time.time() if now is None else now

    def change(data: dict[str, Any]) -> int:
        keep = []
        for raw, client in zip(data["clients"], _records(data), strict=True):
            ended = client.revoked if client.revoked is not None else client.expires
            if client.kind == "run" and ended is not None and ended < now - older_than:
                continue
            keep.append(raw)
        dropped = len(data["clients"]) - len(keep)
        data["clients"] = keep
        return dropped

    return jsonstate.update(clients_path(home), _empty, change)


def end_all(home: Path, *, keep: Iterable[str] = (), now: float | None = None) -> int:
    """Revoke, as of now, every record still accepted (grace periods and run keys too),
    except the ids in `keep`: the emergency stop."""
    now = time.time() if now is None else now
    kept = set(keep)

    def change(data: dict[str, Any]) -> int:
        ended = 0
        for raw, client in zip(data["clients"], _records(data), strict=True):
            if client.id not in kept and client.active(now):
                raw["revoked"] = now
                ended += 1
        return ended

    return jsonstate.update(clients_path(home), _empty, change)


def document_of(table: ClientTable) -> dict[str, Any]:
    """The clients.json document holding `table`'s records (hashes only, as on disk)."""
    return {"version": 1, "clients": [c.to_json() for c in table.by_id.values()]}


def table_of(data: dict[str, Any]) -> ClientTable:
    """The table a clients.json document holds; StateError if a record is malformed."""
    if not isinstance(data, dict) or data.get("version") != 1 \
            or not isinstance(data.get("clients"), list):
        raise jsonstate.StateError("a client-key table has an unknown format (expected "
                                   "version 1)")
    return ClientTable({c.id: c for c in _records(data)})


def load_document(home: Path) -> dict[str, Any]:
    """clients.json as it is now (the empty table if there is none)."""
    return jsonstate.load(clients_path(home), _empty)


def replace_all(home: Path, data: dict[str, Any]) -> None:
    """Make clients.json hold `data` (a checked document), as one atomic write."""
    table_of(data)

    def change(current: dict[str, Any]) -> None:
        current.clear()
        current.update(data)

    jsonstate.update(clients_path(home), _empty, change)
