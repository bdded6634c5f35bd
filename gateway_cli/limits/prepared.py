"""A caller's limits on one model, worked out once rather than on every request.

Which parties' limits apply (`plan.scopes`), whether a request needs an
estimate or a price, its per-request caps and the counters it reserves
depend only on the config, the caller and the model; a request adds only the
amounts of its tokens and spend. Working all of that out per request
(merging limit sets, formatting keys and labels, building a Counter per
limit) was a third of what limits cost per request, so the Limiter keeps one
`Prepared` per caller and model for as long as its config lasts.

Pure: `prepare` gives what `plan` gives, and `counters` the list
`plan.counters` builds, equal counter for counter (tests/unit/limits check
it); the counters whose amount never changes (a request, a place in flight)
are built once and shared by every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.limits import plan
from gateway_cli.limits.model import Counter, Period

Kind = Literal["requests", "tokens", "inflight", "spend"]


@dataclass(frozen=True)
class _Entry:
    """One counter of the plan: fixed (built once) or a template the request's amount fills."""

    kind: Kind
    key: str
    limit: float
    period: Period
    label: str
    fixed: Counter | None  # requests and in flight: the amount is always 1


@dataclass(frozen=True)
class Layout:
    """The counters a request reserves, in `plan.counters`'s order, and facts about them."""

    entries: tuple[_Entry, ...]
    kinds: tuple[Kind, ...]
    zero: int | None  # the first counter whose limit is 0 (a budget of 0 refuses at once)
    # The per-minute requests and tokens counters, for the x-ratelimit-* headers: index,
    # kind, limit, and the limit as the header gives it.
    rated: tuple[tuple[int, Kind, float, bytes], ...]
    single: bool = False  # no kind among `rated` twice: each is the tightest of its kind


@dataclass(frozen=True)
class Prepared:
    found: list[plan.Scope]
    estimate: bool  # plan.needs_estimate
    price: bool  # plan.needs_price
    input_cap: tuple[int, str] | None
    output_cap: tuple[int, str] | None
    with_ask: Layout  # when the request was estimated
    without_ask: Layout  # when it was not (no limit counts tokens or spend)


def _layout(found: list[plan.Scope], asked: bool) -> Layout:
    # The plan's own counters, with a stand-in estimate: what varies is only the amount of
    # the tokens and spend counters, filled in per request by `counters`.
    probe = plan.Ask(0, 0, None) if asked else None
    entries = []
    for c in plan.counters(found, probe):
        kind: Kind = c.key.rpartition(":")[2]  # type: ignore[assignment]
        fixed = c if kind in ("requests", "inflight") else None
        entries.append(_Entry(kind, c.key, c.limit, c.period, c.label, fixed))
    zero = next((i for i, e in enumerate(entries) if e.limit <= 0), None)
    rated = tuple((i, e.kind, e.limit, str(int(e.limit)).encode())
                  for i, e in enumerate(entries)
                  if e.period == "minute" and e.kind in ("requests", "tokens"))
    kinds = [r[1] for r in rated]
    return Layout(tuple(entries), tuple(e.kind for e in entries), zero, rated,
                  len(set(kinds)) == len(kinds))


def prepare(config: LimitsConfig, principal: Principal, model: str) -> Prepared:
    found = plan.scopes(config, principal, model)
    return Prepared(found, plan.needs_estimate(found), plan.needs_price(found),
                    plan.input_cap(found), plan.output_cap(found),
                    _layout(found, True), _layout(found, False))


def layout(prepared: Prepared, ask: plan.Ask | None) -> Layout:
    return prepared.with_ask if ask is not None else prepared.without_ask


def counters(chosen: Layout, ask: plan.Ask | None) -> list[Counter]:
    """The counters of one request: the fixed ones shared, tokens and spend with its amounts."""
    out: list[Counter] = []
    cost = ask.cost if ask is not None and ask.cost is not None else 0.0
    for e in chosen.entries:
        if e.fixed is not None:
            out.append(e.fixed)
        elif e.kind == "tokens":
            assert ask is not None  # a tokens counter is only laid out with an estimate
            out.append(Counter(e.key, e.limit, ask.tokens, e.period, e.label))
        else:
            out.append(Counter(e.key, e.limit, cost, e.period, e.label))
    return out
