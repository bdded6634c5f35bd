"""The failover planner, step by step, with the clock and the dice in the test's hands."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from gateway_cli.routing import health as hp
from gateway_cli.routing.failover import Failed, GiveUp, Planner, Settings, counts_against_health
from gateway_cli.routing.health import DeploymentHealth


@dataclass(frozen=True)
class Dep:
    id: str


A, B, C = Dep("a"), Dep("b"), Dep("c")
SETTINGS = Settings(retries=2, backoff_initial=0.2, backoff_max=5.0, max_retry_after=10.0)
SERVER_ERROR = Failed("status", 500)


def planner(*deps: Dep, settings: Settings = SETTINGS,
            health: dict[str, DeploymentHealth] | None = None) -> Planner[Dep]:
    health = health if health is not None else {d.id: DeploymentHealth() for d in deps}
    return Planner(list(deps), health, settings, random.Random(7))


def test_a_failure_moves_on_to_the_next_deployment_without_waiting() -> None:
    p = planner(A, B)
    assert p.pick(0.0) is A
    assert p.failed(A, SERVER_ERROR, 0.0) == 0.0
    assert p.pick(0.0) is B
    assert p.attempt == 2


def test_the_only_deployment_is_retried_after_a_jittered_backoff() -> None:
    p = planner(A)
    assert p.pick(0.0) is A
    delay = p.failed(A, SERVER_ERROR, 0.0)
    assert isinstance(delay, float) and 0.0 <= delay <= 0.2
    assert p.pick(0.0) is A
    second = p.failed(A, SERVER_ERROR, 0.0)
    assert isinstance(second, float) and 0.0 <= second <= 0.4


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    p = planner(A)
    p.pick(0.0)
    assert p.failed(A, Failed("status", 429, retry_after=3.0), 0.0) == 3.0


def test_retry_after_over_the_cap_stops_at_once() -> None:
    p = planner(A)
    p.pick(0.0)
    assert p.failed(A, Failed("status", 429, retry_after=11.0), 0.0) == GiveUp("retry_after")


def test_retry_after_over_the_cap_does_not_stop_a_move_to_another_deployment() -> None:
    p = planner(A, B)
    p.pick(0.0)
    assert p.failed(A, Failed("status", 429, retry_after=600.0), 0.0) == 0.0
    assert p.pick(0.0) is B


def test_retries_are_bounded() -> None:
    p = planner(A, B, settings=Settings(1, 0.0, 0.0, 10.0))
    p.pick(0.0)
    assert p.failed(A, SERVER_ERROR, 0.0) == 0.0
    p.pick(0.0)
    assert p.failed(B, SERVER_ERROR, 0.0) == GiveUp("exhausted")


@pytest.mark.parametrize("kind", ["credentials", "redirect"])
def test_a_rejected_credential_or_redirect_strikes_the_deployment_off(kind: str) -> None:
    p = planner(A, B, settings=Settings(5, 0.0, 0.0, 10.0))
    p.pick(0.0)
    assert p.failed(A, Failed(kind, 401 if kind == "credentials" else 302), 0.0) == 0.0  # type: ignore[arg-type]
    assert p.pick(0.0) is B
    assert p.failed(B, SERVER_ERROR, 0.0) == 0.0  # B is retried alone: A stays struck off
    assert p.pick(0.0) is B


def test_the_last_deployment_struck_off_ends_with_its_failure() -> None:
    p = planner(A)
    p.pick(0.0)
    assert p.failed(A, Failed("credentials", 401), 0.0) == GiveUp("exhausted")


def test_a_client_error_is_final_and_does_not_count_against_health() -> None:
    failure = Failed("status", 400)
    assert not counts_against_health(failure)
    p = planner(A, B)
    p.pick(0.0)
    assert p.failed(A, failure, 0.0) == GiveUp("final")
    for status in (408, 409, 429, 500, 503):
        assert counts_against_health(Failed("status", status))


def test_every_deployment_cooling_down_gives_503_with_the_first_reopening() -> None:
    health = {"a": DeploymentHealth(open_until=40.0), "b": DeploymentHealth(open_until=25.0)}
    p = planner(A, B, health=health)
    assert p.pick(10.0) == GiveUp("cooling", 15.0)


def test_a_failure_while_the_fallback_cools_down_gives_503_not_the_upstream_error() -> None:
    """The fallback B rests after earlier failures; A fails now and its breaker opens."""
    health = {"a": DeploymentHealth(consecutive_failures=4), "b": DeploymentHealth(open_until=20.0)}
    p = planner(A, B, health=health)
    assert p.pick(0.0) is A
    hp.on_failure(health["a"], 0.0, threshold=5, cooldown=30.0)  # as the relay records it
    assert p.failed(A, SERVER_ERROR, 0.0) == GiveUp("cooling", 20.0)


def test_a_half_open_deployment_gets_one_trial() -> None:
    health = {"a": DeploymentHealth(open_until=5.0)}
    p = planner(A, health=health)
    assert p.pick(6.0) is A
    hp.on_attempt(health["a"], 6.0)
    assert planner(A, health=health).pick(6.0) == GiveUp("cooling", 0.0)


def test_unsupported_deployments_are_skipped_without_an_attempt() -> None:
    p = planner(A, B)
    assert p.pick(0.0) is A
    p.unsupported(A)
    assert p.pick(0.0) is B
    assert p.attempt == 1
    p.unsupported(B)
    assert p.pick(0.0) == GiveUp("unsupported")


def test_round_robin_over_three() -> None:
    p = planner(A, B, C, settings=Settings(5, 0.0, 0.0, 10.0))
    seen = []
    for _ in range(4):
        dep = p.pick(0.0)
        assert isinstance(dep, Dep)
        seen.append(dep.id)
        p.failed(dep, Failed("timeout"), 0.0)
    assert seen == ["a", "b", "c", "a"]
