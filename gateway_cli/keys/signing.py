"""The gateway's own signing keys: one for the JWTs it issues, one for the audit log.

Both live in the secret store as one item, a small JSON keyset, because they
are credentials like any provider key. Each key has an id (`kid`) carried by
what it signs. Rotation makes a new current key; the old one stays usable for
verification until its grace period ends, then disappears, so a stolen old
key stops opening anything.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import SecretStore, StoreError

ITEM = "gateway-signing"
Purpose = Literal["tokens", "audit"]
PURPOSES: tuple[Purpose, ...] = ("tokens", "audit")


@dataclass(frozen=True)
class KeyEntry:
    kid: str
    key: bytes = field(repr=False)
    created: float
    retire_at: float | None = None  # None: the current key


@dataclass(frozen=True)
class Keyset:
    keys: dict[str, tuple[KeyEntry, ...]]  # purpose -> current first, then retiring ones

    def current(self, purpose: Purpose) -> KeyEntry | None:
        entries = self.keys.get(purpose, ())
        return entries[0] if entries else None

    def verifying(self, purpose: Purpose, now: float | None = None) -> dict[str, bytes]:
        """Keys that still verify: the current one and those inside their grace period."""
        moment = time.time() if now is None else now
        return {e.kid: e.key for e in self.keys.get(purpose, ())
                if e.retire_at is None or moment < e.retire_at}


def _new_entry(purpose: Purpose, now: float) -> KeyEntry:
    return KeyEntry(kid=f"{purpose[0]}{secrets.token_hex(6)}", key=secrets.token_bytes(32),
                    created=now)


def _encode(keyset: Keyset) -> Secret:
    return Secret(json.dumps({
        purpose: [{"kid": e.kid, "key": base64.b64encode(e.key).decode(),
                   "created": e.created, "retire_at": e.retire_at} for e in entries]
        for purpose, entries in keyset.keys.items()}, sort_keys=True))


def _decode(secret: Secret) -> Keyset:
    try:
        raw: dict[str, list[dict[str, Any]]] = json.loads(secret.reveal())
        return Keyset({purpose: tuple(
            KeyEntry(kid=str(e["kid"]), key=base64.b64decode(e["key"]),
                     created=float(e["created"]), retire_at=e.get("retire_at"))
            for e in entries) for purpose, entries in raw.items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreError(f"the signing keyset {ITEM!r} in the secret store is malformed; "
                         "rotate it with `gateway rotate-keys --signing --grace 0`") from None


def load(store: SecretStore) -> Keyset:
    secret = store.get(ITEM)
    return _decode(secret) if secret is not None else Keyset({})


def ensure(store: SecretStore, now: float | None = None) -> Keyset:
    """The keyset, with a key created for each purpose that has none yet."""
    moment = time.time() if now is None else now
    keyset = load(store)
    missing = [p for p in PURPOSES if keyset.current(p) is None]
    if not missing:
        return keyset
    keys = dict(keyset.keys)
    for purpose in missing:
        keys[purpose] = (_new_entry(purpose, moment),)
    keyset = Keyset(keys)
    store.put(ITEM, _encode(keyset))
    return keyset


def rotate(store: SecretStore, *, grace: float, now: float | None = None) -> Keyset:
    """New current keys for every purpose; old ones verify for `grace` seconds more."""
    moment = time.time() if now is None else now
    old = load(store)
    keys: dict[str, tuple[KeyEntry, ...]] = {}
    for purpose in PURPOSES:
        kept = tuple(
            KeyEntry(e.kid, e.key, e.created,
                     moment + grace if e.retire_at is None else min(e.retire_at,
                                                                     moment + grace))
            for e in old.keys.get(purpose, ())
            if grace > 0 and (e.retire_at is None or e.retire_at > moment))
        keys[purpose] = (_new_entry(purpose, moment), *kept)
    keyset = Keyset(keys)
    store.put(ITEM, _encode(keyset))
    return keyset
