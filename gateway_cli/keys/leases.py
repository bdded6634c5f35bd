"""Leases that keep `gateway run` tokens alive only while their `gateway run` lives.

A run token's `exp` covers the whole `--ttl`, but it is accepted only while
its lease is current, and the parent `gateway run` renews the lease every
few seconds. A parent killed with SIGKILL (or crashed in a way nothing can
observe) stops renewing, and the token dies within one lease period (60 s
by default) instead of living out its TTL. An ended run removes its lease.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gateway_cli.keys import jsonstate


def _path(home: Path) -> Path:
    return home / "run-leases.json"


def _empty() -> dict[str, Any]:
    return {"version": 1, "leases": {}}


def renew(home: Path, jti: str, until: float, now: float | None = None) -> None:
    """Extend `jti`'s lease to `until` (and drop leases that lapsed)."""
    moment = time.time() if now is None else now

    def change(data: dict[str, Any]) -> None:
        data["leases"] = {k: v for k, v in data["leases"].items()
                          if isinstance(v, int | float) and v > moment}
        data["leases"][jti] = until

    jsonstate.update(_path(home), _empty, change)


def end(home: Path, jti: str) -> None:
    def change(data: dict[str, Any]) -> None:
        data["leases"].pop(jti, None)

    jsonstate.update(_path(home), _empty, change)


def load(home: Path, now: float | None = None) -> dict[str, float]:
    """The current leases: jti -> until."""
    moment = time.time() if now is None else now
    leases = jsonstate.load(_path(home), _empty).get("leases")
    if not isinstance(leases, dict):
        raise jsonstate.StateError("run-leases.json is malformed; remove it")
    return {str(k): float(v) for k, v in leases.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and v > moment}
