"""Policy: findings to one verdict, per model, with observe mode and fail-closed errors."""

from __future__ import annotations

import pytest

from gateway_cli.config import parse_config
from gateway_cli.errors import ConfigError
from gateway_cli.guards.base import Finding
from gateway_cli.guards.custom import CustomGuard
from gateway_cli.policy.decide import decide, policies_for


def _finding(guard: str, kind: str = "k", confidence: float = 0.9) -> Finding:
    return Finding(guard, kind, 0, 3, confidence, "ab…(3 chars)")


def _policies(raw: dict[str, object] | None = None, model: str = "m") -> dict:  # type: ignore[type-arg]
    return policies_for(parse_config({"inspection": raw or {}}).inspection, model)


def test_defaults_redact_secrets_and_pii_and_block_injection() -> None:
    p = _policies()
    assert decide([_finding("secrets", "openai_api_key")], p, mode="enforce").verdict == "redact"
    assert decide([_finding("pii", "email")], p, mode="enforce").verdict == "redact"
    blocked = decide([_finding("pii"), _finding("injection", "instruction_override")], p,
                     mode="enforce")
    assert blocked.verdict == "block" and blocked.reason == "injection.instruction_override"
    assert decide([], p, mode="enforce").verdict == "allow"


def test_low_confidence_is_ignored() -> None:
    assert decide([_finding("secrets", confidence=0.3)], _policies(),
                  mode="enforce").verdict == "allow"


def test_observe_mode_reports_but_never_applies() -> None:
    d = decide([_finding("injection")], _policies(), mode="observe")
    assert d.verdict == "block" and d.applied == "allow"


def test_guard_error_fails_closed_unless_fail_open() -> None:
    assert decide([], _policies(), mode="enforce", errors=["pii"]).verdict == "block"
    open_ = _policies({"pii": {"action": "redact", "fail_open": True}})
    assert decide([], open_, mode="enforce", errors=["pii"]).verdict == "allow"


def test_flag_only_changes_nothing() -> None:
    d = decide([_finding("pii")], _policies({"pii": {"action": "flag"}}), mode="enforce")
    assert d.verdict == "allow" and d.reason is None and d.acted[0].action == "flag"


def test_per_model_rule_and_reroute() -> None:
    raw = {"models": [{"name": "local", "deployments": [{"provider": "mock", "model": "x"}]}],
           "inspection": {"pii": {"action": "reroute", "reroute_to": "local"},
                          "rules": [{"models": ["local"], "pii": {"action": "flag"}}]}}
    config = parse_config(raw).inspection
    moved = decide([_finding("pii")], policies_for(config, "gpt"), mode="enforce")
    assert moved.verdict == "reroute" and moved.reroute_to == "local"
    stays = decide([_finding("pii")], policies_for(config, "local"), mode="enforce")
    assert stays.verdict == "allow"


def test_custom_guard() -> None:
    guard = CustomGuard(banned=["Project Falcon"], regexes=[r"TICKET-\d{4}"])
    kinds = [(f.kind, f.start, f.end) for f in
             guard.scan("about project falcon and TICKET-1234")]
    assert kinds == [("banned_substring", 6, 20), ("regex_0", 25, 36)]
    assert "falcon" not in " ".join(f.preview for f in guard.scan("project falcon"))


def test_a_failing_guard_is_reported_and_the_others_still_run() -> None:
    from gateway_cli.guards.base import scan_all

    def broken(text: str) -> list[Finding]:
        raise RuntimeError("bug")

    errors: set[str] = set()
    found = scan_all([("pii", broken), ("custom", CustomGuard(banned=["x"]).scan)], "x", errors)
    assert errors == {"pii"} and [f.guard for f in found] == ["custom"]
    assert decide(found, _policies(), mode="enforce", errors=sorted(errors)).reason == \
        "pii.guard_error"


def test_rules_by_client_key_and_team() -> None:
    raw = {"inspection": {"pii": {"action": "block"}, "rules": [
        {"keys": ["support-bot"], "pii": {"action": "redact"}},
        {"teams": ["research"], "models": ["mock/echo"], "pii": {"action": "flag"}},
    ]}}
    config = parse_config(raw).inspection
    assert policies_for(config, "gpt")["pii"].action == "block"
    assert policies_for(config, "gpt", key="support-bot")["pii"].action == "redact"
    assert policies_for(config, "mock/echo", team="research")["pii"].action == "flag"
    # Every list a rule sets must match: research on another model gets the default.
    assert policies_for(config, "gpt", team="research")["pii"].action == "block"
    with pytest.raises(ConfigError, match="models, keys or teams"):
        parse_config({"inspection": {"rules": [{"pii": {"action": "flag"}}]}})
