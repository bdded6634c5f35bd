"""Where a text sits weighs on what its findings do: the slot rules.

A system prompt and tool definitions come from the application the client
key belongs to; user turns, tool results, retrieved documents and the text of
images come from outside. An attack is text someone else wrote, so the same
role markers or "ignore the system prompt" that make a user turn an attack are
what an agent's own system prompt and tool descriptions are made of, and the
app's own support address in its system prompt is not a leak of anyone's
data. Slot rules say so, per guard or per guard.kind (config.SlotRule):
configured rules first (those of the request's inspection rule, then the
top-level ones), then the defaults (`DEFAULT_SLOT_RULES`), first match wins.

Pure: a finding, the kind of slot it was found in, and the rules in; the rule
that governs it out.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway_cli.config import DEFAULT_SLOT_RULES, InspectionConfig, SlotRule
from gateway_cli.guards.base import Finding


def slot_rules_for(config: InspectionConfig, model: str, key: str | None = None,
                   team: str | None = None) -> tuple[SlotRule, ...]:
    """The slot rules for a request, in the order they are tried."""
    chosen: list[SlotRule] = []
    for rule in config.rules:
        if ((not rule.models or model in rule.models)
                and (not rule.keys or key in rule.keys)
                and (not rule.teams or team in rule.teams)):
            chosen += rule.slot_rules
            break
    chosen += config.slot_rules
    if config.default_slot_rules:
        chosen += DEFAULT_SLOT_RULES
    return tuple(chosen)


def _matches(pattern: str, guard: str, kind: str | None) -> bool:
    if pattern == "*":
        return True
    name, _, want = pattern.partition(".")
    return name == guard and (not want or want == kind)


def rule_for(guard: str, kind: str | None, source: str,
             rules: Sequence[SlotRule]) -> SlotRule | None:
    """The first rule naming this guard (and kind) in this slot; None: the guard's policy.

    `kind` None asks for a rule on the whole guard (a bare "injection" or "*"),
    which is how the injection guard's per-text threshold is scaled.
    """
    for rule in rules:
        if source in rule.slots and any(_matches(p, guard, kind) for p in rule.match):
            return rule
    return None


def for_finding(finding: Finding, source: str, rules: Sequence[SlotRule]) -> SlotRule | None:
    return rule_for(finding.guard, finding.kind, source, rules)


def guard_weight(guard: str, source: str, rules: Sequence[SlotRule]) -> float:
    """The weight a rule on the whole guard gives this slot (1.0 when none does)."""
    rule = rule_for(guard, None, source, rules)
    return 1.0 if rule is None else rule.weight
