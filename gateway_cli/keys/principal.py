"""The caller a request is served for, as authentication found it.

Travels with the request through every stage (scope check, limits, audit),
so it lives below the server that creates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# client: a gwk_ client key; run: a `gateway run` JWT; token: a `gateway tokens issue` JWT;
# open: nobody (an open loopback gateway).
PrincipalKind = Literal["client", "run", "token", "open"]


@dataclass(frozen=True)
class Principal:
    """The caller a request is served for; what it may do travels with it."""

    id: str
    name: str
    kind: PrincipalKind
    models: tuple[str, ...] | None = None
    rpm: int | None = None
    budget: float | None = None  # US dollars per UTC month
    team: str | None = None
    admin: bool = False  # may read /metrics and readiness detail from any address
    # MCP scope strings (`mcp:<server>:<tool>`, gateway_cli/mcp/scopes.py); none: no MCP.
    scopes: tuple[str, ...] = ()

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


OPEN = Principal(id="open", name="open", kind="open")
