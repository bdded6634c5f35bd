"""Which counters a request meets: key defaults, named overrides, the key's own limits,
team and model limits; and a deployment's capacity in the failover planner."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec
import pytest

from gateway_cli.config import LimitsConfig, LimitSet, NamedLimits, load_config
from gateway_cli.errors import ConfigError
from gateway_cli.keys.principal import OPEN, Principal
from gateway_cli.limits import plan
from gateway_cli.routing.failover import GiveUp, Planner, Settings
from gateway_cli.routing.health import DeploymentHealth
from tests.fakes.config import dumps

CI = Principal(id="c_1", name="ci", kind="client", team="research")
ASK = plan.Ask(input_tokens=100, output_tokens=50, cost=0.25)


def config(**raw: object) -> LimitsConfig:
    return msgspec.convert(raw, LimitsConfig)


def test_no_limits_no_counters() -> None:
    found = plan.scopes(LimitsConfig(), CI, "gpt")
    assert plan.counters(found, ASK) == []
    assert not plan.needs_estimate(found)


def test_per_key_defaults_are_counted_per_key_by_name() -> None:
    cfg = config(per_key={"rpm": 60, "tpm": 1000, "concurrent": 2})
    counters = plan.counters(plan.scopes(cfg, CI, "gpt"), ASK)
    assert [(c.key, c.limit, c.amount, c.period) for c in counters] == [
        ("client:ci:requests", 60, 1, "minute"),
        ("client:ci:tokens", 1000, 150, "minute"),
        ("client:ci:inflight", 2, 1, "none"),
    ]
    assert counters[0].label == "requests per minute of client key 'ci'"
    other = plan.counters(plan.scopes(cfg, Principal(id="c_2", name="app", kind="client"),
                                      "gpt"), ASK)
    assert {c.key for c in other}.isdisjoint({c.key for c in counters})


def test_a_named_entry_overrides_field_by_field_and_the_key_itself_wins() -> None:
    cfg = config(per_key={"rpm": 60, "tpm": 1000}, keys=[{"name": "ci", "rpm": 5}])
    key = plan.scopes(cfg, CI, "gpt")[0].limits
    assert (key.rpm, key.tpm) == (5, 1000)
    own = Principal(id="c_1", name="ci", kind="client", rpm=2, budget=10.0)
    key = plan.scopes(cfg, own, "gpt")[0].limits
    assert (key.rpm, key.tpm, key.monthly_budget) == (2, 1000, 10.0)


def test_team_and_model_counters_are_shared() -> None:
    cfg = config(teams=[{"name": "research", "daily_budget": 20.0}],
                 models=[{"name": "gpt", "rpm": 100, "monthly_budget": 500.0}])
    counters = plan.counters(plan.scopes(cfg, CI, "gpt"), ASK)
    assert [(c.key, c.period, c.amount) for c in counters] == [
        ("team:research:spend", "day", 0.25),
        ("model:gpt:requests", "minute", 1),
        ("model:gpt:spend", "month", 0.25),
    ]
    assert counters[0].label == "daily budget of team 'research' ($20)"
    assert plan.needs_price(plan.scopes(cfg, CI, "gpt"))
    assert plan.counters(plan.scopes(cfg, CI, "other"), ASK) == [counters[0]]


def test_open_mode_is_one_caller() -> None:
    cfg = config(per_key={"rpm": 10}, keys=[{"name": "open", "rpm": 1}])
    [scope] = plan.scopes(cfg, OPEN, "gpt")
    assert scope.limits.rpm == 10  # a named entry never applies to the open caller


def test_per_request_caps_take_the_smallest() -> None:
    cfg = config(per_key={"max_output_tokens": 4000, "max_input_tokens": 9000},
                 models=[{"name": "gpt", "max_output_tokens": 1000}])
    found = plan.scopes(cfg, CI, "gpt")
    assert plan.output_cap(found) == (1000, "model 'gpt'")
    assert plan.input_cap(found) == (9000, "client key 'ci'")
    assert plan.needs_estimate(found)


def test_merged_keeps_what_the_override_leaves_unset() -> None:
    merged = plan.merged(LimitSet(rpm=1, tpm=2), NamedLimits(name="x", tpm=3))
    assert (merged.rpm, merged.tpm, merged.concurrent) == (1, 3, None)


def test_deployment_capacity_counters() -> None:
    assert plan.deployment_counters("oa/gpt", None, None, None, ASK) == []
    rpm, tpm, inflight = plan.deployment_counters("oa/gpt", 100, 5000, 4, ASK)
    assert (rpm.key, rpm.limit, tpm.key, tpm.amount) == ("dep:oa/gpt:requests", 100,
                                                         "dep:oa/gpt:tokens", 150)
    assert (inflight.key, inflight.limit, inflight.period) == ("dep:oa/gpt:inflight", 4, "none")


@pytest.mark.parametrize("raw, named", [
    ({"per_key": {"rpm": 0}}, "limits.per_key.rpm"),
    ({"per_key": {"tpm": -5}}, "limits.per_key.tpm"),
    ({"teams": [{"name": "t", "daily_budget": 0}]}, "limits.teams[0].daily_budget"),
    ({"per_key": {"concurrent": "many"}}, "limits.per_key.concurrent"),
    ({"prices": [{"model": "m", "input": -1, "output": 1}]}, "limits.prices[0].input"),
])
def test_bad_limits_are_refused_naming_the_key(tmp_path: Path, raw: dict[str, object],
                                               named: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(dumps({"limits": raw}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert named in str(info.value)


@pytest.mark.parametrize("raw, says", [
    ({"redis_url": "redis://:hunter2@127.0.0.1:6379/0"}, "redis_password"),
    ({"redis_password": "hunter2"}, "never the password itself"),
    ({"keys": [{"rpm": 1}]}, "limits.keys[0]: missing required key 'name'"),
    ({"models": [{"name": "nope", "rpm": 1}]}, "no such model"),
    ({"teams": [{"name": "a"}, {"name": "a"}]}, "given twice"),
    ({"prices": [{"input": 1, "output": 1}]}, "exactly one of 'model' or 'deployment'"),
])
def test_limits_cross_checks(tmp_path: Path, raw: dict[str, object], says: str) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(dumps({"limits": raw}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert says in str(info.value)
    assert "hunter2" not in str(info.value)


class _Dep:
    def __init__(self, id: str) -> None:
        self.id = id


def test_a_deployment_at_capacity_is_passed_over_and_all_busy_is_429() -> None:
    a, b = _Dep("a"), _Dep("b")
    p = Planner([a, b], {"a": DeploymentHealth(), "b": DeploymentHealth()},
                Settings(2, 0.0, 0.0, 10.0), random.Random(1))
    assert p.pick(0.0) is a
    p.at_capacity(a, 12.0)
    assert p.pick(0.0) is b
    p.at_capacity(b, 30.0)
    assert p.pick(0.0) == GiveUp("capacity", 12.0)
    assert p.attempt == 1  # nothing was sent


def test_a_scoped_token_is_counted_apart_from_a_client_key_of_the_same_name() -> None:
    """A token named like a client key must not spend that key's allowance (or it its own),
    and a refusal names it as a token; [limits.keys] entries still apply by name."""
    cfg = config(per_key={"rpm": 60}, keys=[{"name": "ci", "rpm": 5}])
    token = Principal(id="tok:abc", name="ci", kind="token", models=("gpt",),
                      scopes=("mcp:fs:*",))
    [counter] = plan.counters(plan.scopes(cfg, token, "gpt"), ASK)
    [client] = plan.counters(plan.scopes(cfg, CI, "gpt"), ASK)
    assert (counter.key, counter.limit) == ("token:ci:requests", 5)
    assert counter.label == "requests per minute of token 'ci'"
    assert client.key == "client:ci:requests"
