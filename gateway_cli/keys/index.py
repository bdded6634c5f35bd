"""What the gateway knows about the provider keys it stores, without their values.

The OS keyring cannot list its items portably, and `gateway keys list` must
never need to decrypt anything, so names, providers, fingerprints and dates
live in `keys.json` beside the store. The fingerprint is the last four
characters only: enough to tell two keys apart in a provider's console,
useless to an attacker.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway_cli.errors import GatewayError
from gateway_cli.keys import jsonstate
from gateway_cli.keys.refs import Secret
from gateway_cli.keys.store import SecretStore

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PREVIOUS_SUFFIX = "@previous"


class KeyIndexError(GatewayError):
    """A provider-key command cannot do what was asked."""


@dataclass(frozen=True)
class KeyRecord:
    name: str
    provider: str
    fingerprint: str
    created: float
    store: str
    rotated: float | None = None
    previous_until: float | None = None  # the old value is kept until then

    @property
    def reference(self) -> str:
        return f"store:{self.name}"


def fingerprint(secret: Secret) -> str:
    value = secret.reveal()
    return "…" + value[-4:] if len(value) >= 12 else "…"


def index_path(home: Path) -> Path:
    return home / "keys.json"


def _empty() -> dict[str, Any]:
    return {"version": 1, "keys": {}}


def _record(raw: dict[str, Any]) -> KeyRecord:
    try:
        return KeyRecord(**raw)
    except TypeError:
        raise jsonstate.StateError("keys.json has a malformed record; restore it from a "
                                   "backup or remove it") from None


def list_keys(home: Path) -> list[KeyRecord]:
    data = jsonstate.load(index_path(home), _empty)
    return sorted((_record(r) for r in data["keys"].values()), key=lambda r: r.name)


def get_key(home: Path, name: str) -> KeyRecord | None:
    raw = jsonstate.load(index_path(home), _empty)["keys"].get(name)
    return _record(raw) if raw is not None else None


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise KeyIndexError(f"key name {name!r} must be 1-64 letters, digits, '.', '_' or "
                            "'-', starting with a letter or digit")


def add_key(store: SecretStore, home: Path, provider: str, name: str, secret: Secret, *,
            replace: bool = False, now: float | None = None) -> KeyRecord:
    """Store a provider secret and record it; refuses to overwrite unless `replace`."""
    check_name(name)
    check_name(provider)
    if not secret.reveal().strip():
        raise KeyIndexError("the secret is empty; nothing was stored")
    moment = time.time() if now is None else now

    def change(data: dict[str, Any]) -> KeyRecord:
        old = data["keys"].get(name)
        if old is not None and not replace:
            raise KeyIndexError(f"a key named {name!r} already exists; rotate it with "
                                f"`gateway rotate-keys --provider {name}` or remove it first")
        store.put(name, secret)
        record = KeyRecord(name=name, provider=provider, fingerprint=fingerprint(secret),
                           created=moment, store=store.kind)
        data["keys"][name] = asdict(record)
        return record

    return jsonstate.update(index_path(home), _empty, change)


def rotate_key(store: SecretStore, home: Path, name: str, secret: Secret, *,
               grace: float = 0.0, now: float | None = None) -> KeyRecord:
    """Switch `name` to a new value; the old one stays readable for `grace` seconds."""
    if not secret.reveal().strip():
        raise KeyIndexError("the new secret is empty; nothing was changed")
    moment = time.time() if now is None else now

    def change(data: dict[str, Any]) -> KeyRecord:
        raw = data["keys"].get(name)
        if raw is None:
            raise KeyIndexError(f"no stored key named {name!r}; add it with "
                                f"`gateway keys add PROVIDER --name {name}`")
        old = _record(raw)
        current = store.get(name)
        if current is not None and current == secret:
            raise KeyIndexError(f"the new secret for {name!r} is the same as the current "
                                "one; create a new key at the provider first")
        if grace > 0 and current is not None:
            store.put(name + PREVIOUS_SUFFIX, current)
        else:
            store.delete(name + PREVIOUS_SUFFIX)
        store.put(name, secret)
        record = KeyRecord(name=name, provider=old.provider, fingerprint=fingerprint(secret),
                           created=old.created, store=store.kind, rotated=moment,
                           previous_until=moment + grace if grace > 0 else None)
        data["keys"][name] = asdict(record)
        return record

    return jsonstate.update(index_path(home), _empty, change)


def remove_key(store: SecretStore, home: Path, name: str) -> bool:
    def change(data: dict[str, Any]) -> bool:
        known = data["keys"].pop(name, None) is not None
        removed = store.delete(name)
        store.delete(name + PREVIOUS_SUFFIX)
        return known or removed

    return jsonstate.update(index_path(home), _empty, change)
