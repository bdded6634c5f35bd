"""Everything about one client request that the stages after parsing need."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway_cli.config import Mode, OutputPolicyConfig
from gateway_cli.guards.redact import Redactions
from gateway_cli.limits.tokens import Usage
from gateway_cli.providers.adapt import Ids
from gateway_cli.providers.operations import Op
from gateway_cli.request.trace import Trace
from gateway_cli.routing.table import Deployment


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
    include_usage: bool = False  # the client asked for usage in its stream
    # Limits: read the usage the provider reports (and drop the usage chunk the gateway
    # asked for on the client's behalf); the relay fills in what it found.
    count_usage: bool = False
    strip_usage: bool = False
    usage: Usage | None = None
    served_by: Deployment | None = None
    trace: Trace | None = None  # what the observer reports when the request ends
    asked: str = ""  # the model name the client sent (an alias stays the alias)

    @property
    def streaming(self) -> bool:
        return self.body.get("stream") is True


def asks_stream_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True
