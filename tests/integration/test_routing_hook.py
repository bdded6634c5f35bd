"""Content-based routing: a hook sends a request to another model (in-process app)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from gateway_cli.config import parse_config
from gateway_cli.routing.hooks import RouteContext
from gateway_cli.server.app import create_app
from gateway_cli.server.front import Front
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


def _scoped_front(tmp_path: Any, hook: Any = None, inspection: dict[str, Any] | None = None,
                  ) -> tuple[Front, str]:
    """The gateway's ASGI app whose only client key may use mock/echo alone."""
    from gateway_cli.keys import clients
    from gateway_cli.server.auth import Authenticator

    config = parse_config({
        "models": [{"name": "private", "deployments": [{"provider": "mock",
                                                         "model": "mock/echo"}]}],
        **({"inspection": inspection} if inspection else {})})
    runtime = build_runtime(config)
    if hook is not None:
        runtime.hooks.append(hook)
    _, token = clients.create(tmp_path, "scoped", models=["mock/echo"])
    runtime.auth = Authenticator(clients.load_table(tmp_path))
    return create_app(runtime=runtime), token


def _scoped_app(tmp_path: Any, hook: Any = None, inspection: dict[str, Any] | None = None,
                ) -> tuple[TestClient[Any], str]:
    front, token = _scoped_front(tmp_path, hook, inspection)
    return TestClient(front, base_url="http://127.0.0.1"), token


def test_a_hook_cannot_move_a_scoped_key_to_a_model_outside_its_scope(tmp_path: Any) -> None:
    app, token = _scoped_app(tmp_path, _private_if_marked)
    with app as client:
        headers = {"authorization": f"Bearer {token}"}
        r = client.post("/v1/chat/completions", headers=headers, json={
            "model": "mock/echo", "messages": [{"role": "user", "content": "CONFIDENTIAL"}]})
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "model_not_allowed"
        assert "private" in r.json()["error"]["message"]
        ok = client.post("/v1/chat/completions", headers=headers, json={
            "model": "mock/echo", "messages": [{"role": "user", "content": "public"}]})
        assert ok.status_code == 200


def test_a_policy_reroute_cannot_move_a_scoped_key_outside_its_scope(tmp_path: Any) -> None:
    app, token = _scoped_app(tmp_path, inspection={
        "pii": {"action": "reroute", "reroute_to": "private"}})
    with app as client:
        r = client.post("/v1/chat/completions", headers={"authorization": f"Bearer {token}"},
                        json={"model": "mock/echo", "messages": [
                            {"role": "user", "content": "mail jane.doe@example.com"}]})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "model_not_allowed"


def test_handlers_refuse_without_the_front_door_when_keys_are_required(tmp_path: Any) -> None:
    """Defence in depth: the Litestar app alone (no Front) still needs a key."""
    front, token = _scoped_front(tmp_path)
    with TestClient(front.app, base_url="http://127.0.0.1") as bare:
        for path in ("/v1/chat/completions", "/v1/responses", "/v1/embeddings",
                     "/v1/messages", "/v1/messages/count_tokens"):
            r = bare.post(path, json={"model": "mock/echo", "max_tokens": 5, "input": "x",
                                      "messages": [{"role": "user", "content": "x"}]})
            assert r.status_code == 401, path
        assert bare.get("/v1/models").status_code == 401
        ok = bare.get("/v1/models", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 401  # only the front door authenticates; the app refuses
