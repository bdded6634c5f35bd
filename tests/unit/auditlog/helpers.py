"""What the request-log tests share: keys, a realistic request record, a clock, waits."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway_cli.auditlog.chain import SigningKey
from gateway_cli.auditlog.writer import AuditWriter

RNG = random.Random(31337)
KEY_A = SigningKey("a-2025-01", RNG.randbytes(32))
KEY_B = SigningKey("a-2025-02", RNG.randbytes(32))
KEYS = {KEY_A.kid: KEY_A.key, KEY_B.kid: KEY_B.key}
DAY = 86400.0
NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z


def request(i: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": f"req-{i:08d}", "principal_kind": "client", "principal_id": "c_8f3a2b1c",
        "principal": "billing-app", "team": "payments", "client": "10.0.3.17",
        "method": "POST", "path": "/v1/chat/completions", "op": "chat",
        "model": "gpt-4o-mini", "served_model": "gpt-4o-mini", "deployment": "openai-eu",
        "provider": "openai", "attempts": 1, "failover": [], "verdict": "allow",
        "applied": "allow", "reason": None, "findings": [], "output_verdict": "allow",
        "output_applied": "allow", "output_reason": None, "mode": "enforce",
        "limit": "admitted", "input_tokens": 812, "output_tokens": 233, "cached_tokens": 0,
        "cost": 0.000261, "status": 200, "error": None, "latency_ms": 1834.2,
        "ttfb_ms": 412.7, "stream": "complete"}
    record.update(changes)
    return record


class Clock:
    """A settable clock for daily rotation."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def writer(path: Path, key: SigningKey | None = KEY_A, **options: Any) -> AuditWriter:
    settings: dict[str, Any] = {"queue": 10_000, "on_full": "block", "rotate_bytes": None,
                                "rotate_daily": False}
    settings.update(options)
    return AuditWriter(path, key, **settings)


def write_log(path: Path, count: int, key: SigningKey | None = KEY_A, start: int = 0,
              **options: Any) -> None:
    """`count` request records through a real writer, closed (drained) at the end."""
    w = writer(path, key, **options)
    w.start()
    for i in range(start, start + count):
        assert w.submit("llm.request", request(i), NOW + i)
    assert w.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)
