"""When a request ends: its access log line, its metrics and its audit record.

Called once per HTTP request by the front door, after the response is sent,
on the event loop: everything here must be cheap. The audit record is only
built here (a dict of names and numbers) and handed to the writer's queue;
encoding, signing and fsync happen in the writer's thread.

Health checks and metric scrapes are counted in metrics but neither logged
nor audited: a load balancer probing every second would drown both.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway_cli.auditlog.records import LLM_EVENT, MCP_EVENT
from gateway_cli.observe import access_log
from gateway_cli.observe.record import record_data
from gateway_cli.request.trace import Trace
from gateway_cli.server.runtime import Runtime

if TYPE_CHECKING:
    from gateway_cli.observe.gateway_metrics import GatewayMetrics

QUIET_PATHS = frozenset({"/health", "/health/ready", "/metrics"})


class Observer:
    def __init__(self, runtime: Runtime, metrics: GatewayMetrics | None) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.access = runtime.config.server.access_log
        self.block_when_full = runtime.config.audit.on_full == "block"

    def has_room(self) -> bool:
        """False when the audit queue is full and the config says to refuse new requests."""
        writer = self.runtime.audit
        return writer is None or not self.block_when_full or writer.has_room()

    def finish(self, trace: Trace) -> None:
        trace.ended = time.perf_counter()
        known = self.runtime.models
        if self.metrics is not None:
            self.metrics.observe(trace)
        if trace.path in QUIET_PATHS:
            return
        if self.access:
            access_log.emit(trace, known)
        writer = self.runtime.audit
        if writer is not None:
            event = MCP_EVENT if trace.path.startswith("/mcp") else LLM_EVENT
            writer.submit(event, record_data(trace, known), time.time())
