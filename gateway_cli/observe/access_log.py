"""One line per request at INFO on the `gateway.access` logger; never any content.

Text lines read like a web server's (`127.0.0.1 "POST /v1/chat/completions"
200 model=gpt-4o key=alice 12.3ms id=...`); with `--log-format json` the
same fields are JSON members. The model is shown as the audit record shows
it (observe/record.model_label), so the one client-written field cannot put
a pasted credential into the log.
"""

from __future__ import annotations

import logging
from collections.abc import Container
from typing import Any

from gateway_cli.observe.record import model_label
from gateway_cli.request.trace import Trace

log = logging.getLogger("gateway.access")


def fields(trace: Trace, known: Container[str]) -> dict[str, Any]:
    principal = trace.principal
    out: dict[str, Any] = {
        "client": trace.client,
        "method": trace.method,
        "path": trace.path,
        "status": trace.status,
        "model": model_label(trace.model, known),
        "principal": principal.name if principal is not None else None,
        "latency_ms": round(trace.latency * 1000.0, 1),
        "request_id": trace.request_id,
    }
    if trace.deployment is not None:
        out["deployment"] = trace.deployment
    if trace.error is not None:
        out["error"] = trace.error
    if trace.stream is not None and trace.stream != "complete":
        out["stream"] = trace.stream
    return out


def text_line(f: dict[str, Any]) -> str:
    parts = [f'{f["client"]} "{f["method"]} {f["path"]}" {f["status"]}']
    if f["model"] is not None:
        parts.append(f"model={f['model']}")
    if f.get("deployment") is not None:
        parts.append(f"deployment={f['deployment']}")
    if f["principal"] is not None:
        parts.append(f"key={f['principal']}")
    if f.get("error") is not None:
        parts.append(f"error={f['error']}")
    if f.get("stream") is not None:
        parts.append(f"stream={f['stream']}")
    parts.append(f"{f['latency_ms']}ms id={f['request_id']}")
    return " ".join(parts)


def emit(trace: Trace, known: Container[str]) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    f = fields(trace, known)
    log.info("%s", text_line(f), extra={"fields": f})
