"""Aliases: a model's own name, then exact aliases, then patterns in config order."""

from __future__ import annotations

import pytest

from gateway_cli.config import parse_config
from gateway_cli.errors import ConfigError
from gateway_cli.routing.aliases import Aliases

MODELS = {"opus": 1, "sonnet": 2, "haiku": 3}
ALIASES = Aliases.of([
    ("opus", ["claude-opus-4-8", "claude-opus-*"]),
    ("sonnet", ["claude-sonnet-*", "claude-*-4-5*"]),
    ("haiku", ["claude-haiku-4-5-20251001", "claude-*"]),
])


@pytest.mark.parametrize(("asked", "model"), [
    ("opus", "opus"),
    ("claude-opus-4-8", "opus"),
    ("claude-opus-4-1", "opus"),
    ("claude-sonnet-4-5-20250929", "sonnet"),
    ("claude-haiku-4-5-20251001", "haiku"),  # an exact alias beats an earlier pattern
    ("claude-haiku-4-5", "sonnet"),  # the first pattern in config order
    ("claude-3-haiku", "haiku"),
    ("gpt-4o", "gpt-4o"),  # unknown stays as asked (the 404 names it)
    ("claude-opus-4-8\n", "opus"),  # patterns match the whole name, newline included
    ("", ""),
])
def test_lookup_order(asked: str, model: str) -> None:
    assert ALIASES.canonical(asked, MODELS) == model


def test_a_pattern_is_literal_but_for_its_stars() -> None:
    aliases = Aliases.of([("m", ["a.b+c(d)*"])])
    assert aliases.canonical("a.b+c(d)-x", {"m": 1}) == "m"
    assert aliases.canonical("aXb+c(d)", {"m": 1}) == "aXb+c(d)"


def _config(*models: dict[str, object], **extra: object) -> dict[str, object]:
    return {"providers": [{"name": "p", "kind": "openai", "secret": "env:P_KEY"}],
            "models": list(models), **extra}


def _model(name: str, *aliases: str) -> dict[str, object]:
    return {"name": name, "deployments": [{"provider": "p", "model": "m"}],
            "aliases": list(aliases)}


@pytest.mark.parametrize(("config", "said"), [
    (_config(_model("a", "b"), _model("b")), "'b' is already a model name or alias"),
    (_config(_model("a", "x"), _model("b", "x")), "'x' is already a model name or alias"),
    (_config(_model("a", "**")), "would match every model name"),
    (_config(_model("a", "bad name")), "models[0].aliases"),
    (_config(_model("a", "x"), limits={"models": [{"name": "x", "rpm": 1}]}),
     "limits.models[0].name: 'x' is an alias"),
    (_config(_model("a", "x"), inspection={"rules": [{"models": ["x"], "pii": {
        "action": "block"}}]}), "inspection.rules[0].models: 'x' is an alias"),
])
def test_bad_aliases_are_refused(config: dict[str, object], said: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert said in str(info.value)


def test_good_aliases_parse() -> None:
    config = parse_config(_config(_model("a", "a-1", "a-*"), _model("b")))
    assert config.models[0].aliases == ["a-1", "a-*"]


@pytest.mark.parametrize(("alias", "name", "matches"), [
    ("a*", "a", True), ("*a", "a", True), ("a*a", "a", False), ("a*a", "aa", True),
    ("a*b*c", "abc", True), ("a*b*c", "acb", False), ("a*b*c", "axbxbxc", True),
    ("*", "", True), ("**", "x", True), ("a**b", "ab", True), ("ab*ba", "aba", False),
    ("x*yz*z", "xyzz", True), ("x*yz*z", "xyz", False),
])
def test_glob_matching(alias: str, name: str, matches: bool) -> None:
    import fnmatch

    from gateway_cli.routing.aliases import compile_pattern, glob_match

    assert glob_match(compile_pattern(alias), name) is matches
    assert fnmatch.fnmatchcase(name, alias) is matches  # the reference: shell globbing


def test_a_hostile_name_against_many_stars() -> None:
    """A backtracking matcher would not finish these (the suite's timeout would fail it)."""
    aliases = Aliases.of([("m", ["a*a*a*a*a*a*a*a*b"])])
    for _ in range(100):
        assert aliases.canonical("a" * 250, {"m": 1}) == "a" * 250
    assert aliases.canonical("a" * 8_000_000 + "b", {"m": 1}) != "m"  # too long to try
