"""Key-management events in the tamper-evident audit log (`<home>/audit.jsonl`).

Every add, removal, rotation and revocation is recorded with names and
fingerprints only, signed with the gateway's current audit key when the
secret store holds one. Recording never blocks the change itself: a key must
be revocable even when the log cannot be written, so a failure is reported
as a warning by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway_cli.audit.chain import SigningKey, append
from gateway_cli.keys import signing
from gateway_cli.keys.store import SecretStore


def audit_path(home: Path) -> Path:
    return home / "audit.jsonl"


def audit_key(store: SecretStore | None) -> SigningKey | None:
    if store is None:
        return None
    entry = signing.load(store).current("audit")
    return SigningKey(entry.kid, entry.key) if entry is not None else None


def record(home: Path, store: SecretStore | None, event: str,
           data: Mapping[str, object]) -> None:
    append(audit_path(home), event, data, audit_key(store))
