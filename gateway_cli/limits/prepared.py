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

import math
from dataclasses import dataclass, field
from typing import Literal

from gateway_cli.config import LimitsConfig
from gateway_cli.keys.principal import Principal
from gateway_cli.limits import plan
from gateway_cli.limits.model import Counter, Period
from gateway_cli.limits.slots import Slots

Kind = Literal["requests", "tokens", "inflight", "spend"]


# The x-ratelimit-* header names of each rated kind: limit, remaining, reset.
HEADERS = {kind: (f"x-ratelimit-limit-{kind}".encode(),
                  f"x-ratelimit-remaining-{kind}".encode(),
                  f"x-ratelimit-reset-{kind}".encode()) for kind in ("requests", "tokens")}


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
    # Every limit finite (checked here once): a request then checks only its own amounts
    # before a store's fast path, which skips outcome.check_amounts.
    finite: bool = False
    # The counters in order as the plan gives them for an estimate of nothing, and the place
    # and entry of each whose amount a request fills in (tokens, spend); the others
    # (requests, in flight: always 1) are shared by every request.
    template: tuple[Counter, ...] = ()
    variable: tuple[tuple[int, _Entry], ...] = ()
    # When `single`: per rated counter, its index, its limit, the limit's header as sent
    # and the names of its remaining and reset headers (request/limits.py).
    headed: tuple[tuple[int, float, tuple[bytes, bytes], bytes, bytes], ...] = ()
    # Each counter's slot in the current window (slots.py); not part of what a layout is.
    slots: Slots = field(default_factory=lambda: Slots(()), compare=False, repr=False)


@dataclass(frozen=True)
class Prepared:
    found: list[plan.Scope]
    estimate: bool  # plan.needs_estimate
    price: bool  # plan.needs_price
    input_cap: tuple[int, str] | None
    output_cap: tuple[int, str] | None
    with_ask: Layout  # when the request was estimated
    without_ask: Layout  # when it was not (no limit counts tokens or spend)


def _finite(number: float) -> bool:
    """math.isfinite, and False for an int too large for a float (which it raises on): the
    request then takes the stores' own checks, which say what is wrong."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def _layout(found: list[plan.Scope], asked: bool) -> Layout:
    # The plan's own counters, with a stand-in estimate: what varies is only the amount of
    # the tokens and spend counters, filled in per request by `counters`.
    probe = plan.Ask(0, 0, None) if asked else None
    entries = []
    template = plan.counters(found, probe)
    for c in template:
        kind: Kind = c.key.rpartition(":")[2]  # type: ignore[assignment]
        fixed = c if kind in ("requests", "inflight") else None
        entries.append(_Entry(kind, c.key, c.limit, c.period, c.label, fixed))
    zero = next((i for i, e in enumerate(entries) if e.limit <= 0), None)
    rated = tuple((i, e.kind, e.limit, str(int(e.limit)).encode())
                  for i, e in enumerate(entries)
                  if e.period == "minute" and e.kind in ("requests", "tokens"))
    kinds = [r[1] for r in rated]
    return Layout(tuple(entries), tuple(e.kind for e in entries), zero, rated,
                  len(set(kinds)) == len(kinds), all(_finite(e.limit) for e in entries),
                  tuple(e.fixed or c for e, c in zip(entries, template, strict=True)),
                  tuple((i, e) for i, e in enumerate(entries) if e.fixed is None),
                  tuple((i, limit, (HEADERS[kind][0], text), HEADERS[kind][1], HEADERS[kind][2])
                        for i, kind, limit, text in rated),
                  Slots([(e.key, e.period) for e in entries]))


def prepare(config: LimitsConfig, principal: Principal, model: str) -> Prepared:
    found = plan.scopes(config, principal, model)
    return Prepared(found, plan.needs_estimate(found), plan.needs_price(found),
                    plan.input_cap(found), plan.output_cap(found),
                    _layout(found, True), _layout(found, False))


def layout(prepared: Prepared, ask: plan.Ask | None) -> Layout:
    return prepared.with_ask if ask is not None else prepared.without_ask


def counters(chosen: Layout, ask: plan.Ask | None) -> list[Counter]:
    """The counters of one request: the fixed ones shared, tokens and spend with its amounts."""
    out = list(chosen.template)
    if chosen.variable:
        tokens = ask.input_tokens + ask.output_tokens if ask is not None else 0
        cost = ask.cost if ask is not None and ask.cost is not None else 0.0
        for i, e in chosen.variable:
            # tuple.__new__: the NamedTuple without its Python-level __new__ (half the time)
            out[i] = _new(Counter, (e.key, e.limit, tokens if e.kind == "tokens" else cost,
                                    e.period, e.label))
    return out


_new = tuple.__new__
