"""Pure routing parts: circuit breaker, strategies, retry timing."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.providers.operations import Op
from gateway_cli.routing import health as hp
from gateway_cli.routing import retry, strategies
from gateway_cli.routing.hooks import RouteContext, choose_model


@dataclass(frozen=True)
class Dep:
    id: str
    weight: float = 1.0
    priority: int = 0


# --- circuit breaker ------------------------------------------------------------------------

def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    state = hp.DeploymentHealth()
    for i in range(3):
        assert hp.available(state, 100.0)
        hp.on_attempt(state, 100.0)
        hp.on_done(state)
        hp.on_failure(state, 100.0, threshold=3, cooldown=30)
        assert hp.is_open(state, 100.0) == (i == 2)
    assert not hp.available(state, 129.9)
    assert hp.available(state, 130.0)          # half-open: one trial allowed
    hp.on_attempt(state, 130.0)
    assert not hp.available(state, 130.1)      # ... and only one
    hp.on_done(state)
    hp.on_success(state, 0.05)
    assert hp.available(state, 130.2) and state.consecutive_failures == 0


def test_failed_half_open_trial_reopens_for_a_full_cooldown() -> None:
    state = hp.DeploymentHealth()
    hp.on_failure(state, 0.0, threshold=1, cooldown=10)
    hp.on_attempt(state, 10.0)
    hp.on_done(state)
    hp.on_failure(state, 10.0, threshold=1, cooldown=10)
    assert not hp.available(state, 19.9)
    assert hp.available(state, 20.0)


def test_successful_half_open_trial_closes_the_breaker_fully() -> None:
    """After the trial succeeds the deployment is as healthy as one that never failed:
    not one-request-at-a-time, and one failure below the threshold does not reopen it."""
    state = hp.DeploymentHealth()
    for _ in range(2):
        hp.on_failure(state, 0.0, threshold=2, cooldown=10)
    assert hp.is_open(state, 5.0)
    hp.on_attempt(state, 10.0)                 # the half-open trial
    assert state.half_open_trial
    hp.on_done(state)
    hp.on_success(state, 0.05)
    assert state == hp.DeploymentHealth(ewma_ttfb=0.05)
    for _ in range(3):                         # concurrent requests, all let through
        assert hp.available(state, 11.0)
        hp.on_attempt(state, 11.0)
    assert not state.half_open_trial and state.inflight == 3
    hp.on_failure(state, 11.0, threshold=2, cooldown=10)
    assert not hp.is_open(state, 11.0) and hp.available(state, 11.0)
    hp.on_failure(state, 11.0, threshold=2, cooldown=10)   # the threshold again: open
    assert hp.is_open(state, 11.0) and not hp.available(state, 20.9)
    assert state.open_until == 21.0


def test_breaker_is_closed_until_the_threshold_and_open_only_during_the_cooldown() -> None:
    state = hp.DeploymentHealth()
    hp.on_failure(state, 50.0, threshold=2, cooldown=10)
    assert state.open_until == 0.0 and not hp.is_open(state, 50.0)
    hp.on_attempt(state, 50.0)                 # a closed breaker has no trial
    assert not state.half_open_trial and hp.available(state, 50.0)
    hp.on_failure(state, 50.0, threshold=2, cooldown=10)
    assert hp.is_open(state, 59.99) and not hp.is_open(state, 60.0)
    assert not hp.available(state, 59.99) and hp.available(state, 60.0)


def test_success_resets_failure_count() -> None:
    state = hp.DeploymentHealth()
    hp.on_failure(state, 0.0, threshold=3, cooldown=10)
    hp.on_failure(state, 0.0, threshold=3, cooldown=10)
    hp.on_success(state, 0.1)
    hp.on_failure(state, 0.0, threshold=3, cooldown=10)
    assert hp.available(state, 0.0)


def test_ewma_ttfb() -> None:
    state = hp.DeploymentHealth()
    hp.on_success(state, 1.0)
    hp.on_success(state, 0.0)
    assert state.ewma_ttfb == pytest.approx(0.7)
    hp.on_success(state, 2.0)
    assert state.ewma_ttfb == pytest.approx(0.3 * 2.0 + 0.7 * 0.7)


def test_inflight_counts_attempts_and_never_goes_negative() -> None:
    state = hp.DeploymentHealth()
    hp.on_done(state)
    assert state.inflight == 0
    for _ in range(3):
        hp.on_attempt(state, 0.0)
    hp.on_done(state)
    assert state.inflight == 2
    hp.on_done(state)
    hp.on_done(state)
    hp.on_done(state)
    assert state.inflight == 0


def test_availability_is_a_bool() -> None:
    state = hp.DeploymentHealth()
    assert hp.available(state, 0.0) is True and hp.is_open(state, 0.0) is False
    hp.on_failure(state, 0.0, threshold=1, cooldown=5)
    assert hp.available(state, 1.0) is False and hp.is_open(state, 1.0) is True
    hp.on_attempt(state, 5.0)
    assert hp.available(state, 5.0) is False  # the half-open trial is under way


def test_breaker_open_until_one_second_is_open_before_it() -> None:
    """open_until == 0.0 means closed; any other deadline, 1.0 included, is honoured."""
    state = hp.DeploymentHealth()
    hp.on_failure(state, 0.5, threshold=1, cooldown=0.5)
    assert state.open_until == 1.0
    assert hp.is_open(state, 0.9) and not hp.available(state, 0.9)
    assert not hp.is_open(state, 1.0) and hp.available(state, 1.0)


# --- strategies ------------------------------------------------------------------------------

def _health(*deps: Dep) -> dict[str, hp.DeploymentHealth]:
    return {d.id: hp.DeploymentHealth() for d in deps}


def test_priority_orders_by_priority() -> None:
    a, b, c = Dep("a", priority=2), Dep("b", priority=0), Dep("c", priority=1)
    assert [d.id for d in strategies.order("priority", [a, b, c], _health(a, b, c),
                                           random.Random(1))] == ["b", "c", "a"]


def test_weighted_follows_weights() -> None:
    heavy, light = Dep("heavy", weight=9.0), Dep("light", weight=1.0)
    rng = random.Random(7)
    firsts = [strategies.order("weighted", [light, heavy], _health(heavy, light), rng)[0].id
              for _ in range(4000)]
    share = firsts.count("heavy") / len(firsts)
    assert 0.87 < share < 0.93


def test_least_latency_prefers_fast_and_samples_unknown_first() -> None:
    fast, slow, new = Dep("fast"), Dep("slow"), Dep("new")
    health = _health(fast, slow, new)
    health["fast"].ewma_ttfb = 0.1
    health["slow"].ewma_ttfb = 0.9
    assert [d.id for d in strategies.order("least-latency", [slow, fast, new], health,
                                           random.Random(0))] == ["new", "fast", "slow"]


def test_least_inflight() -> None:
    busy, idle = Dep("busy"), Dep("idle")
    health = _health(busy, idle)
    health["busy"].inflight = 5
    assert strategies.order("least-inflight", [busy, idle], health,
                            random.Random(0))[0].id == "idle"


@given(st.sampled_from(["priority", "weighted", "least-latency", "least-inflight"]),
       st.lists(st.integers(0, 3), min_size=1, max_size=6), st.integers(0, 2**32))
def test_every_strategy_returns_each_deployment_once(strategy: str, priorities: list[int],
                                                     seed: int) -> None:
    deps = [Dep(f"d{i}", weight=1 + i, priority=p) for i, p in enumerate(priorities)]
    ordered = strategies.order(strategy, deps, _health(*deps), random.Random(seed))
    assert sorted(d.id for d in ordered) == sorted(d.id for d in deps)


# --- retry -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "expected"), [(400, False), (401, False), (404, False),
                                                  (408, True), (409, True), (429, True),
                                                  (500, True), (503, True), (529, True)])
def test_retryable_status(status: int, expected: bool) -> None:
    assert retry.retryable_status(status) is expected


def test_parse_retry_after() -> None:
    assert retry.parse_retry_after("3", 0) == 3.0
    assert retry.parse_retry_after("0.5", 0) == 0.5
    assert retry.parse_retry_after(None, 0) is None
    assert retry.parse_retry_after("soon", 0) is None
    assert retry.parse_retry_after("-4", 0) == 0.0
    assert retry.parse_retry_after("nan", 0) == 0.0
    when = retry.parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0)
    assert when == pytest.approx(10.0)


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_backoff_is_bounded_and_jittered(attempt: int, seed: int) -> None:
    delay = retry.backoff(attempt, initial=0.2, maximum=5.0, rng=random.Random(seed))
    assert 0 <= delay <= min(5.0, 0.2 * 2 ** (attempt - 1))


# --- hooks -----------------------------------------------------------------------------------

def test_first_hook_naming_another_model_wins() -> None:
    context = RouteContext(Op.CHAT, "gpt", {"messages": []})
    hooks = [lambda c: None, lambda c: c.model, lambda c: "local", lambda c: "other"]
    assert choose_model(hooks, context) == "local"
    assert choose_model([], context) is None
