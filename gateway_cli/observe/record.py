"""A finished request's Trace as the `data` of its audit record (auditlog/records.py).

Pure: the same trace always gives the same record. The model name is the one
field a client writes into the record. A configured model is written as is;
an unknown one too when it is shaped like a model name and the secrets
detector sees nothing in it (an operator needs to learn which names a client
asks for, e.g. Claude Code's). Anything else is recorded by a short hash, so a
credential pasted into the model field never lands in a log in clear.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container
from typing import Any

from gateway_cli.guards import secrets as secrets_guard
from gateway_cli.request.trace import Trace

_MODEL_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+\[\]-]{0,99}")
# Model names are short words and numbers between separators ("claude-sonnet-4-5-20250929",
# "ft:gpt-4o-mini:org:suffix:9abc1"); a credential is a long unbroken run.
_LONG_RUN = re.compile(r"[^._:/@+\[\]-]{25}")


def model_label(model: str | None, known: Container[str]) -> str | None:
    """`model` if configured or a clean model-shaped name, else `unknown:<16 hex of its
    SHA-256>`; None stays None."""
    if model is None or model in known:
        return model
    if _MODEL_SHAPE.fullmatch(model) and not _LONG_RUN.search(model) \
            and not secrets_guard.scan(model):
        return model
    digest = hashlib.sha256(model.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"unknown:{digest}"


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def record_data(trace: Trace, known: Container[str]) -> dict[str, Any]:
    principal = trace.principal
    data: dict[str, Any] = {
        "id": trace.request_id,
        "principal_kind": principal.kind if principal is not None else None,
        "principal_id": principal.id if principal is not None else None,
        "principal": principal.name if principal is not None else None,
        "team": principal.team if principal is not None else None,
        "client": trace.client,
        "method": trace.method,
        "path": trace.path,
        "op": trace.op,
        "model": model_label(trace.model, known),
        "served_model": model_label(trace.served_model, known),
        "deployment": trace.deployment,
        "provider": trace.provider,
        "attempts": len(trace.failover),
        "failover": list(trace.failover),
        "mode": trace.mode,
        "limit": trace.limit,
        "input_tokens": trace.input_tokens,
        "output_tokens": trace.output_tokens,
        "cached_tokens": trace.cached_tokens,
        "cost": None if trace.cost is None else round(trace.cost, 8),
        "status": trace.status,
        "error": trace.error,
        "latency_ms": _ms(trace.latency),
        "ttfb_ms": _ms(trace.ttfb),
        "stream": trace.stream,
    }
    policy, output = trace.policy, trace.output
    data["verdict"] = policy.verdict if policy is not None else None
    data["applied"] = policy.applied if policy is not None else None
    data["reason"] = policy.reason if policy is not None else None
    data["output_verdict"] = output.verdict if output is not None else None
    data["output_applied"] = output.applied if output is not None else None
    data["output_reason"] = output.reason if output is not None else None
    data["findings"] = [{"guard": f.guard, "kind": f.kind, "slot": f.slot, "action": f.action,
                         "count": f.count} for f in trace.findings]
    if trace.path.startswith("/mcp"):
        data["arguments_sha256"] = trace.arguments_sha256
        data["result_bytes"] = trace.result_bytes
    return data
