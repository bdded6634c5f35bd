"""/metrics and /health/ready through the front door, from chosen peer addresses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway_cli.config import parse_config
from gateway_cli.keys.clients import Client, ClientTable, digest, new_token
from gateway_cli.routing.health import DeploymentHealth
from gateway_cli.server.app import create_app
from gateway_cli.server.auth import Authenticator
from gateway_cli.server.runtime import build_runtime

(ADMIN_ID, ADMIN), (USER_ID, USER) = new_token(), new_token()


def _front(**config: Any) -> Any:
    runtime = build_runtime(parse_config(config))
    runtime.auth = Authenticator(ClientTable({
        c.id: c for c in (
            Client(id=ADMIN_ID, name="ops", digest=digest(ADMIN), created=0.0, admin=True),
            Client(id=USER_ID, name="dev", digest=digest(USER), created=0.0))}))
    return create_app(runtime=runtime)


def _get(front: Any, path: str, client: str = "127.0.0.1", token: str | None = None,
         extra: tuple[tuple[bytes, bytes], ...] = ()) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"host", b"127.0.0.1:4000"), *extra]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": headers, "client": (client, 40000),
             "http_version": "1.1", "scheme": "http", "asgi": {"version": "3.0"}}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(front(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"")
                                                             for m in sent[1:])


@pytest.mark.parametrize(("client", "token", "extra", "status"), [
    ("127.0.0.1", None, (), 200),
    ("::1", None, (), 200),
    ("::ffff:127.0.0.1", None, (), 200),
    ("10.1.2.3", None, (), 403),
    ("10.1.2.3", USER, (), 403),
    ("10.1.2.3", ADMIN, (), 200),
    ("10.1.2.3", "gwk_bogus", (), 401),
    ("127.0.0.1", "gwk_bogus", (), 401),  # a bad key is refused even from loopback
    ("127.0.0.1", None, ((b"x-forwarded-for", b"203.0.113.7"),), 403),
    ("127.0.0.1", None, ((b"forwarded", b"for=203.0.113.7"),), 403),
    ("127.0.0.1", ADMIN, ((b"x-forwarded-for", b"203.0.113.7"),), 200),
])
def test_metrics_access(client: str, token: str | None,
                        extra: tuple[tuple[bytes, bytes], ...], status: int) -> None:
    got, headers, body = _get(_front(), "/metrics", client, token, extra)
    assert got == status
    if status == 200:
        assert headers[b"content-type"].startswith(b"text/plain; version=0.0.4")
        names = {f.name for f in text_string_to_metric_families(body.decode())}
        assert {"gateway_requests", "gateway_circuit_breaker",
                "gateway_audit_queue_depth"} <= names
    else:
        assert b"gateway_requests" not in body


def test_metrics_can_be_turned_off() -> None:
    assert _get(_front(server={"metrics": False}), "/metrics")[0] == 404


def test_other_spellings_of_the_path_are_not_metrics() -> None:
    for path in ("/metrics/", "//metrics", "/Metrics", "/metrics%00", "/./metrics"):
        status, _, body = _get(_front(), path, "10.1.2.3", ADMIN)
        assert status == 404 and b"gateway_requests" not in body


def test_readiness_follows_the_breakers() -> None:
    front = _front()
    status, _, body = _get(front, "/health/ready", "10.1.2.3")
    assert status == 200 and json.loads(body) == {"status": "ready"}
    front.runtime.health["mock/echo"] = DeploymentHealth(open_until=1e18)
    status, _, body = _get(front, "/health/ready", "10.1.2.3")
    assert status == 503 and json.loads(body) == {"status": "not_ready"}
    status, _, body = _get(front, "/health/ready", "10.1.2.3", ADMIN)
    assert status == 503
    assert json.loads(body)["models"] == {"mock-echo": {"mock/echo": "open"},
                                          "mock/echo": {"mock/echo": "open"}}
