"""Log lines as text or as JSON (`--log-format json`, `server.log_format`).

JSON lines carry time, level, logger and message; a record with `fields`
(the access log's) carries those as members too, so a log pipeline can
filter on status or model without parsing the message.

With `gateway serve --workers N` (N > 1), each worker's lines say which worker
wrote them: `gateway[worker 2]:` in text (as syslog writes `name[pid]`), a
`worker` member in JSON. The supervising process's own lines carry no mark.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

import msgspec

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_encode = msgspec.json.Encoder().encode


def worker_mark(worker: int | None) -> str:
    """What follows the logger's name in a text line: `[worker k]`, or nothing."""
    return "" if worker is None else f"[worker {worker}]"


class JsonFormatter(logging.Formatter):
    converter = time.gmtime  # type: ignore[assignment]  # times in UTC, marked Z

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        if self.worker is not None:
            line["worker"] = self.worker
        line["message"] = record.getMessage()
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            line.update(extra)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line).decode()


def formatter(kind: Literal["text", "json"], worker: int | None = None) -> logging.Formatter:
    """The log line format; `worker`: the worker process writing (None: no mark)."""
    if kind == "json":
        return JsonFormatter(worker)
    mark = worker_mark(worker).replace("%", "%%")
    return logging.Formatter(TEXT_FORMAT.replace("%(name)s", "%(name)s" + mark))
