"""Key-management events in the tamper-evident audit log (`<home>/audit.jsonl`).

Every add, removal, rotation and revocation is recorded with names and
fingerprints only, signed with the gateway's current audit key when the
secret store holds one. Once the log is signed, every later record must be:
a command finds the audit key (opening the secret store, the encrypted file
included) before it changes anything, or refuses. Recording never blocks
the change itself once made (a key must be revocable even when the log
cannot be written), so a failed write is reported, and also noted in
`audit-missed.jsonl`, which `gateway keys audit` counts as a failure.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path

from gateway_cli.auditlog.chain import SigningKey, append
from gateway_cli.keys import signing
from gateway_cli.keys.store import SecretStore


def audit_path(home: Path) -> Path:
    return home / "audit.jsonl"


def audit_key(store: SecretStore | None) -> SigningKey | None:
    if store is None:
        return None
    entry = signing.load(store).current("audit")
    return SigningKey(entry.kid, entry.key) if entry is not None else None


def missed_path(home: Path) -> Path:
    return home / "audit-missed.jsonl"


def record(home: Path, store: SecretStore | None, event: str,
           data: Mapping[str, object]) -> None:
    append(audit_path(home), event, data, audit_key(store))


def note_missed(home: Path, event: str, why: str) -> None:
    """Remember that `event` could not be logged: the audit then fails until it is resolved."""
    line = json.dumps({"time": time.time(), "event": event, "why": why[:300]}) + "\n"
    fd = os.open(missed_path(home), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                 | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def missed(home: Path) -> list[dict[str, object]]:
    try:
        text = missed_path(home).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            value = {"event": "(unreadable note)", "why": ""}
        out.append(value if isinstance(value, dict) else {"event": "(unreadable note)"})
    return out
