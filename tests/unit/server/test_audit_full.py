"""When the request log's writer falls behind: refuse new requests (block) or serve them
and count the records lost (drop). The writer here is real, its thread not yet started."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from gateway_cli.auditlog.writer import AuditWriter
from gateway_cli.config import parse_config
from gateway_cli.server.app import create_app
from gateway_cli.server.runtime import build_runtime

BODY = json.dumps({"model": "mock/echo", "messages": [{"role": "user", "content": "hi"}]})


def _front(tmp_path: Path, on_full: str) -> tuple[Any, AuditWriter]:
    runtime = build_runtime(parse_config({"audit": {"on_full": on_full, "queue": 16}}))
    writer = AuditWriter(tmp_path / "requests.jsonl", None, queue=16,
                         on_full=on_full,  # type: ignore[arg-type]
                         rotate_bytes=None, rotate_daily=False)
    runtime.audit = writer
    return create_app(runtime=runtime), writer


def _post(front: Any, method: str = "POST",
          path: str = "/v1/chat/completions") -> tuple[int, bytes]:
    scope = {"type": "http", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"127.0.0.1:4000"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(BODY)).encode())],
             "client": ("127.0.0.1", 5000), "http_version": "1.1", "scheme": "http",
             "asgi": {"version": "3.0"}}
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": BODY.encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_block_refuses_with_503_once_the_queue_is_full(tmp_path: Path) -> None:
    front, writer = _front(tmp_path, "block")
    statuses = [_post(front)[0] for _ in range(20)]
    assert statuses[:16] == [200] * 16
    status, body = _post(front)
    assert status == 503 and b"audit_log_full" in body
    assert writer.depth >= 16  # every served request is queued; the refused are not
    writer.start()
    assert writer.close() is True
    lines = (tmp_path / "requests.jsonl").read_bytes().splitlines()
    assert len(lines) == writer.written == 16 + statuses[16:].count(503) + 1
    served = [json.loads(line)["data"] for line in lines]
    assert sum(d["status"] == 200 for d in served) == 16
    assert all(d["error"] == "audit_log_full" for d in served if d["status"] == 503)


def test_drop_serves_and_counts_what_was_lost(tmp_path: Path) -> None:
    front, writer = _front(tmp_path, "drop")
    assert {_post(front)[0] for _ in range(20)} == {200}
    assert writer.dropped == 4
    writer.start()
    _post(front)  # the next record written says how many were lost before it
    assert writer.close() is True
    data = [json.loads(line)["data"] for line in
            (tmp_path / "requests.jsonl").read_bytes().splitlines()]
    assert len(data) == 17
    assert sum(d.get("dropped", 0) for d in data) == 4


def test_block_bounds_the_records_of_refused_requests(tmp_path: Path) -> None:
    front, writer = _front(tmp_path, "block")
    statuses = [_post(front)[0] for _ in range(40)]
    assert statuses.count(200) == 16 and statuses.count(503) == 24
    assert writer.depth == 32 and writer.dropped == 8  # twice the queue, then counted


def test_a_made_up_method_or_path_is_not_recorded_as_sent(tmp_path: Path) -> None:
    secret = "GHP_" + "ZQ8MR2VX7KLP4NW9TY3HB6JC1FD5GS0AE2UI"
    front, writer = _front(tmp_path, "block")
    assert _post(front, method=secret)[0] == 405
    assert _post(front, path=f"/v1/{secret}")[0] == 404
    writer.start()
    assert writer.close() is True
    text = (tmp_path / "requests.jsonl").read_text()
    assert secret not in text
    data = [json.loads(line)["data"] for line in text.splitlines()]
    assert [(d["method"], d["path"]) for d in data] == [
        ("OTHER", "/v1/chat/completions"), ("POST", "other")]
