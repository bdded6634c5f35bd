"""Ready while each model has a deployment whose breaker is not open."""

from __future__ import annotations

from gateway_cli.routing.health import DeploymentHealth
from gateway_cli.routing.readiness import breaker_state, is_ready, readiness
from gateway_cli.routing.table import Deployment, ModelRoute


def _route(name: str, *ids: str) -> ModelRoute:
    deps = tuple(Deployment(id=i, provider=None, model=i, weight=1.0, priority=0, timeout=1.0)
                 for i in ids)
    return ModelRoute(name, "priority", deps, "gateway")


def test_breaker_states() -> None:
    assert breaker_state(DeploymentHealth(), 5.0) == "closed"
    assert breaker_state(DeploymentHealth(open_until=10.0), 5.0) == "open"
    assert breaker_state(DeploymentHealth(open_until=10.0), 10.0) == "half_open"


def test_not_ready_when_every_deployment_of_one_model_is_open() -> None:
    models = {"a": _route("a", "p/a1", "p/a2"), "b": _route("b", "p/b")}
    health = {"p/a1": DeploymentHealth(open_until=100.0), "p/a2": DeploymentHealth(),
              "p/b": DeploymentHealth(open_until=100.0)}
    detail = readiness(models, health, 50.0)
    assert detail == {"a": {"p/a1": "open", "p/a2": "closed"}, "b": {"p/b": "open"}}
    assert not is_ready(detail)
    assert is_ready(readiness(models, health, 100.0))  # half-open takes a trial request
    health["p/b"] = DeploymentHealth()
    assert is_ready(readiness(models, health, 50.0))


def test_no_models_is_ready() -> None:
    assert is_ready(readiness({}, {}, 0.0))
