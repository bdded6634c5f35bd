"""Everything about one client request that the stages after parsing need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway_cli.config import Mode, OutputPolicyConfig
from gateway_cli.guards.redact import Redactions
from gateway_cli.providers.adapt import Ids
from gateway_cli.providers.operations import Op


@dataclass
class Call:
    op: Op
    body: dict[str, Any]
    raw: bytes
    client_headers: dict[bytes, bytes]
    ids: Ids
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    redactions: Redactions | None = None  # placeholders to restore in the answer
    output: OutputPolicyConfig | None = None  # inspect the answer (None: inspection off)
    mode: Mode = "enforce"
    canary: str | None = None
    known: frozenset[str] = frozenset()  # hashes of sensitive values the client sent

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True
