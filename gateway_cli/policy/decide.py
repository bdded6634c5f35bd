"""Turn guard findings into one verdict for a request.

Pure: the effective policy for the request's model, the findings and any
guard errors go in; the verdict and the action per finding come out. The
strongest action wins: block > reroute > redact-like (redact, mask, hash) >
flag. A guard that raised blocks the request unless its policy says
`fail_open`. Given the kind of slot each finding sits in and the slot rules
(slots.py), a finding's action and weight can depend on where it was found.
In `observe` mode the verdict is computed and reported but `applied` is
always "allow", so a rollout can watch before it enforces.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway_cli.config import Action, GuardPolicyConfig, InspectionConfig, Mode, SlotRule
from gateway_cli.guards.base import Finding
from gateway_cli.policy.slots import for_finding

Verdict = Literal["allow", "redact", "block", "reroute"]
_RANK = {"flag": 0, "hash": 1, "mask": 1, "redact": 1, "reroute": 2, "block": 3}


@dataclass(frozen=True)
class Acted:
    finding: Finding
    action: Action


@dataclass(frozen=True)
class Decision:
    verdict: Verdict  # what the policy says
    applied: Verdict  # what the gateway does (allow in observe mode)
    reason: str | None = None  # e.g. "secrets.openai_api_key", never the text
    reroute_to: str | None = None
    acted: tuple[Acted, ...] = field(default=())


def policies_for(config: InspectionConfig, model: str, key: str | None = None,
                 team: str | None = None) -> dict[str, GuardPolicyConfig]:
    """The per-guard policies for a request to `model` by client key `key` of `team`."""
    chosen = {"secrets": config.secrets, "pii": config.pii, "injection": config.injection,
              "custom": GuardPolicyConfig(action=config.custom.action,
                                          fail_open=config.custom.fail_open,
                                          min_confidence=0.0)}
    for rule in config.rules:
        if ((not rule.models or model in rule.models)
                and (not rule.keys or key in rule.keys)
                and (not rule.teams or team in rule.teams)):
            for name in ("secrets", "pii", "injection"):
                override = getattr(rule, name)
                if override is not None:
                    chosen[name] = override
            break
    return chosen


def _act(finding: Finding, policy: GuardPolicyConfig, source: str | None,
         rules: Sequence[SlotRule]) -> Action | None:
    """The action on one finding, or None when it does not count."""
    rule = None if source is None else for_finding(finding, source, rules)
    if rule is None:
        return policy.action if finding.confidence >= policy.min_confidence else None
    if rule.action == "ignore" or rule.weight == 0.0:
        return None
    if min(1.0, finding.confidence * rule.weight) < policy.min_confidence:
        return None
    return policy.action if rule.action is None else rule.action


def decide(findings: Sequence[Finding], policies: Mapping[str, GuardPolicyConfig], *,
           mode: Mode, errors: Sequence[str] = (), sources: Sequence[str] | None = None,
           slot_rules: Sequence[SlotRule] = ()) -> Decision:
    """The verdict; `sources[i]` is the kind of slot `findings[i]` was found in."""
    if sources is not None and len(sources) != len(findings):
        raise ValueError("one source per finding")
    acted_list: list[Acted] = []
    for i, f in enumerate(findings):
        if f.guard not in policies:
            continue
        action = _act(f, policies[f.guard], None if sources is None else sources[i], slot_rules)
        if action is not None:
            acted_list.append(Acted(f, action))
    acted = tuple(acted_list)
    failing = [g for g in errors if not policies.get(g, GuardPolicyConfig("block")).fail_open]
    verdict: Verdict = "allow"
    reason: str | None = None
    reroute_to: str | None = None
    if failing:
        verdict, reason = "block", f"{failing[0]}.guard_error"
    elif acted:
        top = max(acted, key=lambda a: _RANK[a.action])
        reason = f"{top.finding.guard}.{top.finding.kind}"
        if top.action == "block":
            verdict = "block"
        elif top.action == "reroute":
            verdict, reroute_to = "reroute", policies[top.finding.guard].reroute_to
        elif top.action in ("redact", "mask", "hash"):
            verdict = "redact"
        else:
            reason = None  # flags only: recorded, traffic unchanged
    applied: Verdict = verdict if mode == "enforce" else "allow"
    return Decision(verdict, applied, reason, reroute_to, acted)
