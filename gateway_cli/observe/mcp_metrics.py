"""The MCP gateway's Prometheus series: calls by server, tool and outcome, their latency,
and the upstream servers' health.

A call is counted from its request's Trace when the request ends (observer.py), like
every other request, so the hot path pays one dict update and one histogram
observation, nothing more. Server health is read at scrape time from the relay's
connections (metrics/registry.py, Callback): nothing is copied on each change.

Label values are never a client's text. A tool name comes from the client, so it
is a label only when the server's signed pins name it (`server__tool`, as /mcp
namespaces it); any other name, and a target that resolved to no configured
server, is "other". Prompts and resources are counted by method with the tool
label empty: a resource URI is unbounded. The outcome is one of OUTCOMES, read
from the code the relay left on the Trace.
"""

from __future__ import annotations

from collections.abc import Iterator

from gateway_cli.mcp.calling import USES
from gateway_cli.mcp.relay import Relay
from gateway_cli.metrics.registry import OVERFLOW, Labels, Registry
from gateway_cli.request.trace import Trace

# Held calls wait for a person; the bounds reach past the default approval timeout.
_CALL_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                 5.0, 10.0, 30.0, 60.0, 300.0)
# The relay's trace codes (mcp/calling.py, mcp/relay.py, server/mcp_endpoint.py) -> outcome.
_OUTCOMES = {
    None: "ok",
    "mcp_denied": "denied",
    "mcp_not_approved": "denied",
    "mcp_call_denied": "held",  # held for a person, then denied or not approved in time
    "blocked_by_policy": "blocked",
    "mcp_result_too_large": "too_large",
    "mcp_upstream_error": "upstream_error",
    "mcp_upstream": "unavailable",
    "limits_unavailable": "unavailable",
    "rate_limit_exceeded": "rate_limited",
    "mcp_cancelled": "cancelled",
    "client_gone": "cancelled",
    "mcp_invalid_params": "invalid",
}
OUTCOMES = (*sorted(set(_OUTCOMES.values())), "error")


def outcome_of(trace: Trace) -> str:
    """The call's outcome; "redacted" for a call that went through with something masked
    by policy (its arguments or its result), "error" for any code not listed."""
    outcome = _OUTCOMES.get(trace.error, "error")
    if outcome == "ok" and any(v is not None and v.applied == "redact"
                               for v in (trace.policy, trace.output)):
        return "redacted"
    return outcome


class McpMetrics:
    def __init__(self, registry: Registry, relay: Relay) -> None:
        self.relay = relay
        self.calls = registry.counter(
            "gateway_mcp_calls", "MCP calls (tools/call, prompts/get, resources/read) by "
            "server, tool (server__tool when pinned, else other), method and outcome (ok, "
            "redacted, denied, held, blocked, too_large, rate_limited, upstream_error, "
            "unavailable, cancelled, invalid, error).",
            ("server", "tool", "method", "outcome"))
        self.latency = registry.histogram(
            "gateway_mcp_call_duration_seconds", "Time from an MCP call's arrival to the "
            "end of its answer, by server (a held call includes its wait).", ("server",),
            _CALL_BUCKETS)
        registry.gauge_callback("gateway_mcp_server_up", "1 while the gateway's connection "
                                "to the MCP server is open (a stdio child running), else 0.",
                                self._up, ("server", "transport"))
        registry.counter_callback("gateway_mcp_server_restarts", "Times the MCP server was "
                                  "started again after its first start (a stdio child that "
                                  "died, an HTTP session the upstream ended).",
                                  self._restarts, ("server",))
        registry.gauge_callback("gateway_mcp_server_failures", "Failed starts of the MCP "
                                "server in a row (0 once it is up; the gateway backs off "
                                "between tries).", self._failures, ("server",))
        registry.gauge_callback("gateway_mcp_calls_held", "Tool calls waiting for a "
                                "person's `gateway mcp approve-call`.",
                                lambda: iter([((), float(len(relay.held.pending)))]))

    def observe(self, trace: Trace) -> None:
        method = trace.op
        if method not in USES:
            return
        server = self.relay.servers.get(trace.deployment or "")
        server_label = server.name if server is not None else OVERFLOW
        tool = ""
        if method == "tools/call":
            trusted = server.trusted if server is not None else None
            name = trace.model
            tool = f"{server_label}__{name}" if trusted is not None and name is not None \
                and name in trusted.tools else OVERFLOW
        self.calls.inc((server_label, tool, method, outcome_of(trace)))
        self.latency.observe((server_label,), trace.latency)

    def _up(self) -> Iterator[tuple[Labels, float]]:
        for name, server in self.relay.servers.items():
            transport = server.connection.transport
            kind = "http" if server.config.url is not None else "stdio"
            alive = transport is not None and transport.alive
            yield (name, kind), 1.0 if alive else 0.0

    def _restarts(self) -> Iterator[tuple[Labels, float]]:
        for name, server in self.relay.servers.items():
            yield (name,), float(max(0, server.connection.starts - 1))

    def _failures(self) -> Iterator[tuple[Labels, float]]:
        for name, server in self.relay.servers.items():
            yield (name,), float(server.connection.failures)

