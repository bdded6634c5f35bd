"""Content-based routing: a hook sends a request to another model (in-process app)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from gateway_cli.config import parse_config
from gateway_cli.routing.hooks import RouteContext
from gateway_cli.server.app import create_app
from gateway_cli.server.runtime import build_runtime


def _private_if_marked(context: RouteContext) -> str | None:
    text = str(context.body.get("messages"))
    return "private" if "CONFIDENTIAL" in text else None


def _app(hook: Any) -> TestClient[Any]:
    config = parse_config({"models": [
        {"name": "private", "deployments": [{"provider": "mock", "model": "mock/echo"}]}]})
    runtime = build_runtime(config)
    runtime.hooks.append(hook)
    return TestClient(create_app(runtime=runtime), base_url="http://127.0.0.1")


def _chat(client: TestClient[Any], text: str) -> Any:
    return client.post("/v1/chat/completions", json={
        "model": "mock/echo", "messages": [{"role": "user", "content": text}]})


def test_hook_reroutes_matching_requests() -> None:
    with _app(_private_if_marked) as client:
        moved = _chat(client, "CONFIDENTIAL numbers")
        assert moved.status_code == 200
        assert moved.headers["x-gateway-rerouted-from"] == "mock/echo"
        assert moved.headers["x-gateway-deployment"] == "mock/mock/echo"
        stayed = _chat(client, "public")
        assert "x-gateway-rerouted-from" not in stayed.headers


def test_hook_naming_unknown_model_fails_closed() -> None:
    with _app(lambda context: "nowhere") as client:
        r = _chat(client, "anything")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "routing_error"


def test_a_bug_in_the_request_path_is_a_clean_500() -> None:
    def broken(context: RouteContext) -> str | None:
        raise RuntimeError("bug")

    with _app(broken) as client:
        r = client.post("/v1/messages", json={"model": "mock/echo", "max_tokens": 5,
                                              "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 500
    assert r.json() == {"type": "error", "error": {"type": "api_error",
                                                   "message": "internal error in the gateway"}}
    assert r.headers["x-request-id"]
