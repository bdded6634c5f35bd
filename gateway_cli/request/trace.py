"""What happened to one request, noted by each stage as it goes, read once at the end.

The front door makes a Trace for every HTTP request (refused ones too) and
the stages fill in what they decided: who asked, for which model, what the
guards found, what the limits said, which deployments were tried and how
the answer ended. When the response is done the observer turns it into the
access log line, the metrics and the audit record (observe/). Stages only
set attributes: no formatting or IO happens on the request path.

Only names, counts, codes and timings are kept, never request or answer
text, so nothing here can leak what a client sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from gateway_cli.keys.principal import Principal
from gateway_cli.policy.decide import Decision

TRACE = "gateway.trace"  # its key in the ASGI scope
StreamEnd = Literal["complete", "policy", "client", "upstream"]


@dataclass(frozen=True, slots=True)
class FindingCount:
    guard: str
    kind: str
    slot: str  # the kind of field it was found in (user, system, tool_result, answer...)
    action: str  # what the policy said to do about it (flag, redact, block...)
    count: int


@dataclass(slots=True)
class Verdict:
    verdict: str  # what the policy says
    applied: str  # what was done (allow in observe mode)
    reason: str | None  # the rule, e.g. "secrets.github_token"


@dataclass(slots=True)
class Trace:
    request_id: str
    method: str
    path: str  # the gateway path, or "other" for one it does not serve
    client: str
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    op: str | None = None
    model: str | None = None  # as asked by the client
    served_model: str | None = None  # after a policy reroute
    deployment: str | None = None
    provider: str | None = None
    failover: list[str] = field(default_factory=list)  # "<deployment>:<outcome>" per attempt
    upstream_seconds: float | None = None  # the answering attempt, to its response head
    policy: Verdict | None = None
    output: Verdict | None = None
    findings: list[FindingCount] = field(default_factory=list)
    mode: str | None = None
    limit: str | None = None  # "admitted", or "refused:<label>"
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int | None = None
    cost: float | None = None
    status: int = 0
    error: str | None = None
    first_byte: float | None = None  # perf_counter when the first body byte was sent
    ended: float | None = None
    stream: StreamEnd | None = None
    # The MCP path (mcp/relay.py): `op` is the JSON-RPC method, `model` the tool, prompt or
    # resource, `deployment` the server; these two say what went in and came out.
    arguments_sha256: str | None = None  # of the arguments as received, never their text
    result_bytes: int | None = None  # the upstream result's size before any cut

    def answer_verdict(self, decision: Decision) -> None:
        """The output policy's verdict, and its findings counted by guard, kind and action."""
        self.output = Verdict(decision.verdict, decision.applied, decision.reason)
        counts: dict[tuple[str, str, str], int] = {}
        for acted in decision.acted:
            key = (acted.finding.guard, acted.finding.kind, acted.action)
            counts[key] = counts.get(key, 0) + 1
        self.findings.extend(FindingCount(guard, kind, "answer", action, n)
                             for (guard, kind, action), n in counts.items())

    def attempt(self, deployment: str, outcome: str) -> None:
        self.failover.append(f"{deployment}:{outcome}")

    @property
    def latency(self) -> float:
        return (self.ended if self.ended is not None else time.perf_counter()) - self.started

    @property
    def ttfb(self) -> float | None:
        return None if self.first_byte is None else self.first_byte - self.started
