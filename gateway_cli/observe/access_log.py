"""One line per request at INFO on the `gateway.access` logger; never any content.

Text lines read like a web server's (`127.0.0.1 "POST /v1/chat/completions"
200 model=gpt-4o key=alice 12.3ms id=...`); with `--log-format json` the
same fields are JSON members. The model is shown as the audit record shows
it (observe/record.model_label), so the one client-written field cannot put
a pasted credential into the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container
from typing import Any, Literal

import msgspec

from gateway_cli.observe.log_format import worker_mark
from gateway_cli.observe.record import model_label
from gateway_cli.request.trace import Trace

log = logging.getLogger("gateway.access")
_encode = msgspec.json.Encoder().encode


class _Sink:
    """Where `gateway serve` sends access lines: its own log handler's stream, written
    directly. Going through logging cost ~14 µs a line (caller lookup, a LogRecord, the
    formatter's strftime); this writes the same line as the formatter would in ~3 µs."""

    def __init__(self, handler: logging.StreamHandler[Any], kind: Literal["text", "json"],
                 worker: int | None = None) -> None:
        self.handler = handler
        self.json = kind == "json"
        self.worker = worker
        self.name = log.name + worker_mark(worker)
        self._second = -1
        self._stamp = ""

    def stamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            if self.json:
                self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            else:
                self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        millis = int((now - second) * 1000)
        return f"{self._stamp}.{millis:03d}Z" if self.json else f"{self._stamp},{millis:03d}"

    def write(self, f: dict[str, Any]) -> None:
        now = time.time()
        line = text_line(f)
        if self.json:
            head: dict[str, Any] = {"time": self.stamp(now), "level": "info",
                                    "logger": log.name}
            if self.worker is not None:
                head["worker"] = self.worker
            out = _encode({**head, "message": line, **f}).decode() + "\n"
        else:
            out = f"{self.stamp(now)} INFO {self.name}: {line}\n"
        handler = self.handler
        with handler.lock or _NO_LOCK:
            try:
                handler.stream.write(out)
                handler.flush()
            except (OSError, ValueError):  # stderr closed: as logging would, carry on
                pass


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


_NO_LOCK = _NoLock()
_sink: _Sink | None = None


def write_to(handler: logging.StreamHandler[Any] | None,
             kind: Literal["text", "json"] = "text", worker: int | None = None) -> None:
    """Send access lines straight to `handler`'s stream (None: through logging), marked
    with `worker` as log_format.formatter marks the others."""
    global _sink
    _sink = _Sink(handler, kind, worker) if handler is not None else None


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
    if principal is not None and principal.kind == "token":
        # Which scoped token (its jti, from `gateway tokens list`), never the token itself.
        out["token_id"] = principal.id.removeprefix("tok:")
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
    if f.get("token_id") is not None:
        parts.append(f"token={f['token_id']}")
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
    if _sink is not None:
        _sink.write(f)
    else:
        log.info("%s", text_line(f), extra={"fields": f})
