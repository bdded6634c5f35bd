"""Gateway-issued JWTs revoked before they expire (a `gateway run` that ended).

A JWT is checked without a lookup, so ending one early needs a list: its id
and expiry. Entries drop out once the token would have expired anyway, so
the list stays as short as the number of recent runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from gateway_cli.keys import jsonstate


def _path(home: Path) -> Path:
    return home / "revoked-tokens.json"


def _empty() -> dict[str, Any]:
    return {"version": 1, "tokens": {}}


def revoke(home: Path, jti: str, expires: float, now: float | None = None) -> None:
    moment = time.time() if now is None else now

    def change(data: dict[str, Any]) -> None:
        data["tokens"] = {k: v for k, v in data["tokens"].items() if v > moment}
        data["tokens"][jti] = expires

    jsonstate.update(_path(home), _empty, change)


def load(home: Path, now: float | None = None) -> frozenset[str]:
    moment = time.time() if now is None else now
    tokens = jsonstate.load(_path(home), _empty)["tokens"]
    return frozenset(k for k, v in tokens.items() if v > moment)
