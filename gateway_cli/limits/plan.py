"""Which limits a request meets, as counters to reserve: its key's, its team's, its model's.

Pure: the config, the caller and the request's estimate in; counters out.
A client key's limits are the `[limits.per_key]` defaults, overridden field by
field by a `[[limits.keys]]` entry of its name, then by what the key itself
carries (`gateway clients create --rpm/--budget`). Every key is counted on
its own (the defaults are per key, never shared); a team's and a model's
counters are shared by every key of the team or every caller of the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from gateway_cli.config import LimitsConfig, LimitSet, NamedLimits
from gateway_cli.keys.principal import Principal
from gateway_cli.limits.model import Counter

NO_LIMITS = LimitSet()


class Ask(NamedTuple):
    """What one request asks for, estimated before the call (a NamedTuple: one per
    request, and built faster than a frozen dataclass)."""

    input_tokens: int
    output_tokens: int  # the cap it asked for (after clamping), else the assumed output
    cost: float | None  # US dollars at the model's price; None when no price is known

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Scope:
    """One party whose limits apply: `key` names its counters, `label` says it to a person."""

    key: str
    label: str
    limits: LimitSet


def merged(base: LimitSet, over: LimitSet) -> LimitSet:
    """`base` with every field `over` sets replaced."""
    changes = {name: getattr(over, name) for name in LimitSet.__struct_fields__
               if getattr(over, name) is not None}
    return msgspec.structs.replace(base, **changes) if changes else base


def _named(entries: list[NamedLimits], name: str) -> LimitSet | None:
    for entry in entries:
        if entry.name == name:
            return entry
    return None


def scopes(config: LimitsConfig, principal: Principal, model: str) -> list[Scope]:
    """The parties whose limits apply to `principal` calling `model`, narrowest first.

    Reads the caller's kind, name, team, rpm and budget only: the Limiter keeps what this
    gives by those five (request/limits.py `admit`)."""
    key = config.per_key
    named = _named(config.keys, principal.name) if principal.kind != "open" else None
    if named is not None:
        key = merged(key, named)
    if principal.rpm is not None or principal.budget is not None:
        key = merged(key, LimitSet(rpm=principal.rpm, monthly_budget=principal.budget))
    # By name: the tokens of one client key in a rotation's grace period share its counts.
    label = "token" if principal.kind == "token" else "client key"
    out = [Scope(f"{principal.kind}:{principal.name}", f"{label} '{principal.name}'", key)]
    if principal.team is not None:
        team = _named(config.teams, principal.team)
        if team is not None:
            out.append(Scope(f"team:{principal.team}", f"team '{principal.team}'", team))
    model_limits = _named(config.models, model)
    if model_limits is not None:
        out.append(Scope(f"model:{model}", f"model '{model}'", model_limits))
    return out


def needs_estimate(found: list[Scope]) -> bool:
    """Whether any limit counts tokens or spend (else the estimate is not worth its cost)."""
    return any(s.limits.tpm or s.limits.max_input_tokens or s.limits.max_output_tokens
               or s.limits.daily_budget is not None or s.limits.monthly_budget is not None
               for s in found)


def needs_price(found: list[Scope]) -> bool:
    return any(s.limits.daily_budget is not None or s.limits.monthly_budget is not None
               for s in found)


def output_cap(found: list[Scope]) -> tuple[int, str] | None:
    """The smallest per-request output cap and whose it is."""
    caps = [(s.limits.max_output_tokens, s.label) for s in found
            if s.limits.max_output_tokens is not None]
    return min(caps) if caps else None


def input_cap(found: list[Scope]) -> tuple[int, str] | None:
    caps = [(s.limits.max_input_tokens, s.label) for s in found
            if s.limits.max_input_tokens is not None]
    return min(caps) if caps else None


def counters(found: list[Scope], ask: Ask | None) -> list[Counter]:
    """The counters to reserve for one request: requests, tokens, in flight, spend."""
    out: list[Counter] = []
    for s in found:
        lim = s.limits
        if lim.rpm:
            out.append(Counter(f"{s.key}:requests", lim.rpm, 1, "minute",
                               f"requests per minute of {s.label}"))
        if lim.tpm and ask is not None:
            out.append(Counter(f"{s.key}:tokens", lim.tpm, ask.tokens, "minute",
                               f"tokens per minute of {s.label}"))
        if lim.concurrent:
            out.append(Counter(f"{s.key}:inflight", lim.concurrent, 1, "none",
                               f"requests in flight of {s.label}"))
        cost = ask.cost if ask is not None and ask.cost is not None else 0.0
        if lim.daily_budget is not None:
            out.append(Counter(f"{s.key}:spend", lim.daily_budget, cost, "day",
                               f"daily budget of {s.label} (${lim.daily_budget:g})"))
        if lim.monthly_budget is not None:
            out.append(Counter(f"{s.key}:spend", lim.monthly_budget, cost, "month",
                               f"monthly budget of {s.label} (${lim.monthly_budget:g})"))
    return out


def deployment_counters(dep_id: str, rpm: int | None, tpm: int | None,
                        concurrent: int | None, ask: Ask | None) -> list[Counter]:
    """A deployment's capacity: the rate and the calls in flight its provider account allows."""
    out: list[Counter] = []
    if rpm:
        out.append(Counter(f"dep:{dep_id}:requests", rpm, 1, "minute",
                           f"requests per minute of deployment {dep_id}"))
    if tpm and ask is not None:
        out.append(Counter(f"dep:{dep_id}:tokens", tpm, ask.tokens, "minute",
                           f"tokens per minute of deployment {dep_id}"))
    if concurrent:
        out.append(Counter(f"dep:{dep_id}:inflight", concurrent, 1, "none",
                           f"requests in flight of deployment {dep_id}"))
    return out
