"""The test config builder (tests/fakes/config.py) writes TOML that means what it was given."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.config import load_config, parse_config
from tests.fakes.config import GatewayConfig, Value, deployment, dumps

AWKWARD = 'a "quoted" C:\\path\\ with\nnewline,\ttab, \x00\x1f\x7f, é and 🦆'


def _built() -> GatewayConfig:
    return (GatewayConfig()
            .provider("oa", "openai", base_url="http://127.0.0.1:9/v1", secret="env:KEY",
                      headers={"OpenAI-Organization": "org-1"})
            .provider("az", "azure", base_url="http://127.0.0.1:9", secret="file:/run/az.key",
                      api_version="2024-10-21", timeout=1.5)
            .provider("local", "openai-compatible", base_url="http://127.0.0.1:9/v1")
            .model("gpt", deployment("oa", "gpt-4o", priority=0),
                   deployment("az", "dep", priority=1, timeout=0.5), strategy="priority")
            .model("plain", deployment("local", "llama3"))
            .section("server", log_level="debug", allowed_hosts=["gateway.internal"])
            .section("routing", retries=2, backoff_initial=0.05, breaker_cooldown=3600)
            .section("inspection", mode="observe")
            .section("inspection.output", canary=True, link_allowlist=[])
            .section("inspection.pii", action="reroute", reroute_to="plain")
            .section("inspection.custom", banned=[AWKWARD], regexes=["\\bsecret\\b"])
            .rule(teams=["research"], pii={"action": "block"})
            .rule(keys=["ops"], pii={"action": "flag", "min_confidence": 0.9}))


EXPECTED = {
    "providers": [
        {"name": "oa", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
         "secret": "env:KEY",
         "headers": {"OpenAI-Organization": "org-1"}},
        {"name": "az", "kind": "azure", "base_url": "http://127.0.0.1:9",
         "secret": "file:/run/az.key", "api_version": "2024-10-21", "timeout": 1.5},
        {"name": "local", "kind": "openai-compatible", "base_url": "http://127.0.0.1:9/v1"},
    ],
    "models": [
        {"name": "gpt", "strategy": "priority", "deployments": [
            {"provider": "oa", "model": "gpt-4o", "priority": 0},
            {"provider": "az", "model": "dep", "priority": 1, "timeout": 0.5}]},
        {"name": "plain", "deployments": [{"provider": "local", "model": "llama3"}]},
    ],
    "server": {"log_level": "debug", "allowed_hosts": ["gateway.internal"]},
    "routing": {"retries": 2, "backoff_initial": 0.05, "breaker_cooldown": 3600},
    "inspection": {
        "mode": "observe",
        "output": {"canary": True, "link_allowlist": []},
        "pii": {"action": "reroute", "reroute_to": "plain"},
        "custom": {"banned": [AWKWARD], "regexes": ["\\bsecret\\b"]},
        "rules": [{"teams": ["research"], "pii": {"action": "block"}},
                  {"keys": ["ops"], "pii": {"action": "flag", "min_confidence": 0.9}}],
    },
}


def test_the_toml_parses_back_to_the_intended_document() -> None:
    built = _built()
    assert built.data() == EXPECTED
    assert tomllib.loads(built.toml()) == EXPECTED


def test_the_gateway_loads_a_built_config(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(_built().toml(), encoding="utf-8")
    config = load_config(path)
    assert [p.name for p in config.providers] == ["oa", "az", "local"]
    assert [d.timeout for d in config.models[0].deployments] == [None, 0.5]
    assert config.routing.backoff_initial == 0.05
    assert config.inspection.output.canary is True
    assert config.inspection.pii.reroute_to == "plain"
    assert [r.teams for r in config.inspection.rules] == [["research"], []]
    assert config.inspection.custom.banned == [AWKWARD]


def test_an_empty_section_is_still_written() -> None:
    """`[inspection]` alone (all defaults) is a file some tests start with."""
    text = GatewayConfig().section("inspection").toml()
    assert tomllib.loads(text) == {"inspection": {}}
    assert parse_config(tomllib.loads(text)) == parse_config({})
    assert tomllib.loads(GatewayConfig().toml()) == {}


def test_sections_merge_and_the_builder_keeps_no_reference_to_its_input() -> None:
    hosts: list[Value] = ["a.internal"]
    built = (GatewayConfig().section("server", allowed_hosts=hosts)
             .section("server", http2=True).section("inspection.output", action="mask")
             .section("inspection", mode="observe"))
    hosts.append("b.internal")
    assert tomllib.loads(built.toml()) == {
        "server": {"allowed_hosts": ["a.internal"], "http2": True},
        "inspection": {"output": {"action": "mask"}, "mode": "observe"}}


@given(st.text())
def test_any_string_round_trips(text: str) -> None:
    assert tomllib.loads(dumps({text: text, "list": [text], "inline": [{text: text}]})) == \
        {text: text, "list": [text], "inline": [{text: text}]}


@given(st.floats(allow_nan=False), st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_numbers_round_trip(number: float, integer: int) -> None:
    assert tomllib.loads(dumps({"f": number, "i": integer})) == {"f": number, "i": integer}
