"""Request records for the stats tests, written as the chain writes them.

`chain.append` starts a new chain in a new file; the gateway's writer
continues the chain across a rotation. `ChainWriter` writes canonical,
unsigned lines whose seq and prev continue across files, so rotated logs in
these tests are what `gateway log verify` would accept.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from gateway_cli.auditlog.chain import GENESIS
from gateway_cli.auditlog.files import rotated_name

# 2025-06-01T10:00:00Z: an hour boundary, so edges are easy to place.
T0 = 1_748_772_000.0


def stamp(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def request(principal: str | None = "app-a", *, team: str | None = "blue",
            model: str | None = "gpt-4o", provider: str | None = "openai",
            deployment: str | None = "openai-gpt-4o", status: int = 200,
            input_tokens: object = 10, output_tokens: object = 5, cost: object = 0.01,
            latency_ms: object = 100, **extra: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "req_1", "principal_kind": "client" if principal else "open",
        "principal_id": "c1" if principal else None, "principal": principal, "team": team,
        "client": "10.0.0.1", "method": "POST", "path": "/v1/chat/completions", "op": "chat",
        "model": model, "served_model": model, "deployment": deployment, "provider": provider,
        "attempts": 1, "failover": [], "verdict": "allow", "applied": "allow", "reason": None,
        "findings": [], "output_verdict": "allow", "output_applied": "allow",
        "output_reason": None, "mode": "enforce", "limit": "admitted",
        "input_tokens": input_tokens, "output_tokens": output_tokens, "cached_tokens": 0,
        "cost": cost, "status": status, "error": None, "latency_ms": latency_ms,
        "ttfb_ms": 10, "stream": "complete",
    }
    data.update(extra)
    return data


def canonical(record: dict[str, object]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode() + b"\n"


class ChainWriter:
    """Appends records to a log's files, the chain running on from file to file."""

    def __init__(self, active: Path) -> None:
        self.active = active
        self.seq = 0
        self.prev = GENESIS

    def line(self, data: dict[str, object], when: float, event: str = "llm.request") -> bytes:
        line = canonical({"data": data, "event": event, "kid": None, "mac": None,
                          "prev": self.prev, "seq": self.seq, "time": stamp(when)})
        self.seq += 1
        self.prev = hashlib.sha256(line).hexdigest()
        return line

    def write(self, path: Path, records: list[tuple[dict[str, object], float]]) -> Path:
        with path.open("ab") as handle:
            for data, when in records:
                handle.write(self.line(data, when))
        os.chmod(path, 0o600)
        return path

    def rotated(self, records: list[tuple[dict[str, object], float]]) -> Path:
        """A file rotated out of the log, named by its first seq as the writer names it."""
        return self.write(rotated_name(self.active, self.seq), records)
