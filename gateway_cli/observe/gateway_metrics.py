"""The gateway's Prometheus metrics: what is declared, and how a finished request counts.

Updated once per request from its Trace, on the event loop (metrics/registry.py
explains why no locks). State the gateway keeps anyway (circuit breakers, the
audit writer's queue, the limits store) is read at scrape time instead of
being copied on every change.

Labels never carry text from a request: the model label is a configured model
or "unknown", the key label a client key's name (chosen by the operator), and
the rest are the gateway's own codes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from gateway_cli.metrics.exposition import render
from gateway_cli.metrics.registry import Labels, Registry
from gateway_cli.request.trace import Trace
from gateway_cli.routing.readiness import breaker_state
from gateway_cli.server.runtime import Runtime

if TYPE_CHECKING:
    from gateway_cli.observe.mcp_metrics import McpMetrics

_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                 30.0, 60.0)
_STATES = ("closed", "open", "half_open")


class GatewayMetrics:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.mcp: McpMetrics | None = None  # set by app.py when MCP servers are configured
        r = self.registry = Registry()
        self.requests = r.counter(
            "gateway_requests", "HTTP requests answered, by path, model, status and kind of "
            "caller.", ("path", "model", "status", "principal_kind"))
        self.latency = r.histogram(
            "gateway_request_duration_seconds", "Time from the request's arrival to the end "
            "of its answer.", ("path",), _FAST_BUCKETS)
        self.ttfb = r.histogram(
            "gateway_time_to_first_byte_seconds", "Time from the request's arrival to the "
            "first byte of its answer body.", ("path",), _FAST_BUCKETS)
        self.upstream = r.histogram(
            "gateway_upstream_duration_seconds", "Time an answering deployment took to its "
            "response head.", ("deployment",), _FAST_BUCKETS)
        self.attempts = r.counter(
            "gateway_upstream_attempts", "Attempts on deployments, by outcome (ok, timeout, "
            "connect, status_<code>, credentials, redirect).", ("deployment", "outcome"))
        self.tokens = r.counter(
            "gateway_tokens", "Tokens the providers reported, by model, client key and kind "
            "(input, output, cached).", ("model", "key", "kind"))
        self.cost = r.counter(
            "gateway_cost_dollars", "Spend in US dollars at the configured or built-in "
            "prices, by model and client key.", ("model", "key"))
        self.findings = r.counter(
            "gateway_guard_findings", "What the guards found, by guard, kind, action and "
            "stage (request or answer).", ("guard", "kind", "action", "stage"))
        self.verdicts = r.counter(
            "gateway_policy_verdicts", "Policy verdicts by stage, what the policy said and "
            "what was applied (they differ in observe mode).", ("stage", "verdict", "applied"))
        self.limit_refusals = r.counter(
            "gateway_limit_rejections", "Requests refused by a limit, by the limit's party "
            "and kind (e.g. client:requests, team:spend).", ("limit",))
        self.streams = r.counter(
            "gateway_streams", "Streamed answers by how they ended (complete, policy, "
            "client, upstream).", ("end",))
        r.gauge_callback("gateway_circuit_breaker", "1 for each deployment's current breaker "
                         "state (closed, open, half_open).", self._breakers,
                         ("deployment", "state"))
        r.gauge_callback("gateway_audit_queue_depth", "Request records waiting for the "
                         "audit writer.", lambda: self._audit("depth"))
        r.counter_callback("gateway_audit_records_written", "Request records written to "
                           "the audit log.", lambda: self._audit("written"))
        r.counter_callback("gateway_audit_records_dropped", "Request records dropped because "
                           "the queue was full (audit.on_full = \"drop\").",
                           lambda: self._audit("dropped"))
        r.counter_callback("gateway_audit_write_errors", "Failed writes to the audit log "
                           "(retried).", lambda: self._audit("errors"))
        r.gauge_callback("gateway_audit_healthy", "1 while the audit log is being written, "
                         "0 after a failed write.", lambda: self._audit("healthy"))
        # With `gateway serve --workers N` every series here is one worker's: a scrape is
        # answered by whichever worker accepted it, and this says which.
        r.gauge_callback("gateway_worker", "1, labelled with the number of the worker "
                         "process that answered this scrape and how many there are.",
                         lambda: iter([((str(runtime.worker), str(runtime.workers)), 1.0)]),
                         ("worker", "workers"))
        r.counter_callback("gateway_limits_store_failures", "Times the shared limits store "
                           "could not be reached.", self._store_failures)

    def render(self) -> bytes:
        return render(self.registry)

    def observe(self, trace: Trace) -> None:
        principal = trace.principal
        kind = principal.kind if principal is not None else "none"
        model = trace.served_model or trace.model
        model_label = "" if model is None else model if model in self.runtime.models \
            else "unknown"
        path = trace.path
        self.requests.inc((path, model_label, str(trace.status), kind))
        self.latency.observe((path,), trace.latency)
        ttfb = trace.ttfb
        if ttfb is not None:
            self.ttfb.observe((path,), ttfb)
        for entry in trace.failover:
            deployment, _, outcome = entry.rpartition(":")
            self.attempts.inc((deployment, outcome))
        if trace.deployment is not None and trace.upstream_seconds is not None:
            self.upstream.observe((trace.deployment,), trace.upstream_seconds)
        key = principal.name if principal is not None else ""
        if trace.input_tokens is not None:
            self.tokens.inc((model_label, key, "input"), max(0, trace.input_tokens))
        if trace.output_tokens:
            self.tokens.inc((model_label, key, "output"), max(0, trace.output_tokens))
        if trace.cached_tokens:
            self.tokens.inc((model_label, key, "cached"), max(0, trace.cached_tokens))
        if trace.cost:
            self.cost.inc((model_label, key), max(0.0, trace.cost))
        for found in trace.findings:
            stage = "answer" if found.slot == "answer" else "request"
            self.findings.inc((found.guard, found.kind, found.action, stage), found.count)
        if trace.policy is not None:
            self.verdicts.inc(("request", trace.policy.verdict, trace.policy.applied))
        if trace.output is not None:
            self.verdicts.inc(("answer", trace.output.verdict, trace.output.applied))
        if trace.limit is not None and trace.limit.startswith("refused:"):
            self.limit_refusals.inc((_limit_kind(trace.limit),))
        if trace.stream is not None:
            self.streams.inc((trace.stream,))
        if self.mcp is not None and path.startswith("/mcp"):
            self.mcp.observe(trace)

    def _breakers(self) -> Iterator[tuple[Labels, float]]:
        now = time.monotonic()
        for dep_id, state in self.runtime.health.items():
            current = breaker_state(state, now)
            for name in _STATES:
                yield (dep_id, name), 1.0 if name == current else 0.0

    def _audit(self, what: str) -> Iterator[tuple[Labels, float]]:
        writer = self.runtime.audit
        if writer is not None:
            yield (), float(getattr(writer, what))

    def _store_failures(self) -> Iterator[tuple[Labels, float]]:
        limiter = self.runtime.limiter
        yield (), float(limiter.store_failures if limiter is not None else 0)


def _limit_kind(limit: str) -> str:
    """"refused:client:alice:requests" -> "client:requests" (no party names in labels)."""
    parts = limit.removeprefix("refused:").split(":")
    return f"{parts[0]}:{parts[-1]}" if len(parts) >= 2 else parts[0]
