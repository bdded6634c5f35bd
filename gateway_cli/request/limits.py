"""The limits stage: reserve before the call, settle with the reported usage after it.

Runs once the route is known, so only requests that go to a model count: a
request refused for its scope, blocked by policy or naming an unknown model
costs nothing. Refusals come in the client's format with Retry-After: 429
for a rate (requests, tokens, requests in flight: the SDKs wait and retry),
402 for a spent budget (retrying will not help before it resets, so the
SDKs must not), 400 for a request over a per-request cap, 503 while the
shared store is unreachable and the policy is `closed`.

The estimate reserved before the call (input tokens counted locally, output
as the cap asked for or `assumed_output_tokens`, cost at the dearest
deployment's price) is corrected to the provider's reported usage after it;
requests in flight are given back however the call ends.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway_cli.config import LimitsConfig, LimitSet
from gateway_cli.formats.errors import HttpError
from gateway_cli.keys.principal import Principal
from gateway_cli.limits import plan, prepared, prices, tokens
from gateway_cli.limits.model import (
    Counter,
    Granted,
    Held,
    Refused,
    Remaining,
    Store,
    StoreUnavailable,
)
from gateway_cli.limits.tokens import Usage
from gateway_cli.limits.windows import window
from gateway_cli.providers.operations import Op
from gateway_cli.routing.table import Deployment, ModelRoute

log = logging.getLogger("gateway.limits")

# A request body this small is reserved at a third of its size in tokens rather than
# counted (a JSON body spends more bytes per token than its text; the estimator costs
# some 15 µs per KiB). The reservation is settled to the reported usage after the call,
# so the bound only decides what is held meanwhile. Larger bodies (images, documents)
# and per-request input caps, which refuse on the number, use the estimator.
QUICK_BOUND_BYTES = 16 * 1024

# Entries kept at most in each of a Limiter's caches (callers, deployments, routes)
# before it starts afresh.
_CACHED = 4096
NOTHING = prepared.prepare(LimitsConfig(), Principal(id="-", name="-", kind="open"), "-")


class Admission(NamedTuple):
    """What a request reserved, to be settled when it ends.

    A NamedTuple built with tuple.__new__ (one per request: a dataclass's __init__ cost
    some 2k instructions more); what changes later, the deployments' tokens taken, is
    added to its `deployment` list."""

    counters: list[Counter]
    held: tuple[Held, ...]
    ask: plan.Ask | None
    store: Store
    headers: list[tuple[bytes, bytes]]
    deployment: list[tuple[Counter, Held]]  # its own list: take_deployment extends it
    kinds: Sequence[str] = ()  # each counter's kind ("tokens", ...); () : read from its key


@dataclass(frozen=True)
class Taken:
    """What one attempt holds of a deployment's capacity until it ends: its places in flight."""

    gauges: tuple[Held, ...]
    store: Store


def _duration(seconds: float) -> str:
    """A reset time in the style of OpenAI's x-ratelimit-reset-* headers: 1m5s, 12s."""
    return _whole_duration(max(0, math.ceil(seconds))).decode()


@functools.lru_cache(maxsize=256)
def _whole_duration(whole: int) -> bytes:
    """`whole` seconds as a header says them; a minute's limits ask for 0-60 s, over again."""
    minutes, secs = divmod(whole, 60)
    return (f"{minutes}m{secs}s" if minutes else f"{secs}s").encode()


def rate_headers(remaining: Sequence[Remaining], now: float) -> list[tuple[bytes, bytes]]:
    """x-ratelimit-* for the tightest requests and tokens limits, as OpenAI sends them."""
    rated = []
    for r in remaining:
        counter = r.counter
        kind = counter.key[counter.key.rfind(":") + 1:]
        if counter.period == "minute" and kind in ("requests", "tokens"):
            rated.append((kind, counter.limit, r.remaining, r.resets_at))
    return _tightest(rated, now)


def _tightest(rated: Sequence[tuple[str, float, float, float]],
              now: float) -> list[tuple[bytes, bytes]]:
    """The headers of the tightest of (kind, limit, remaining, resets at) of each kind: the
    least room left as a share of its limit."""
    tightest: dict[str, tuple[str, float, float, float]] = {}
    for r in rated:
        best = tightest.get(r[0])
        if best is None or r[2] * best[1] < best[2] * r[1]:
            tightest[r[0]] = r
    out: list[tuple[bytes, bytes]] = []
    for kind, limit, left, resets_at in tightest.values():
        out += [(_HEADERS[kind][0], str(int(limit)).encode()),
                (_HEADERS[kind][1], str(max(0, int(left))).encode()),
                (_HEADERS[kind][2], _whole_duration(max(0, math.ceil(resets_at - now))))]
    return out


# The reset header's value for 0-60 s (what a minute's limits ask for), looked up by index.
_RESETS = tuple(_whole_duration(whole) for whole in range(61))


def _granted_headers(rated: Sequence[tuple[int, str, float, bytes]], values: Sequence[float],
                     held: Sequence[Held], now: float,
                     single: bool = False) -> list[tuple[bytes, bytes]]:
    """`_tightest` of a prepared layout's rated counters (prepared.Layout.rated), with their
    limits' header values made once. `single`: no kind is rated twice (one party's
    limits, the usual case), so each counter is the tightest of its kind."""
    if single:  # (conditionals rather than max(): a builtin call each, as dear as the rest)
        out: list[tuple[bytes, bytes]] = []
        for i, kind, limit, text in rated:
            names = _HEADERS[kind]
            left = limit - values[i]
            reset = math.ceil(held[i][2] - now)  # its expires_at
            out += ((names[0], text),
                    (names[1], str(int(left)).encode() if left > 0 else b"0"),
                    (names[2], _RESETS[reset] if 0 <= reset <= 60
                     else _whole_duration(reset if reset > 0 else 0)))
        return out
    tightest: dict[str, tuple[int, float, float, bytes]] = {}
    for i, kind, limit, text in rated:
        left = limit - values[i]
        best = tightest.get(kind)
        if best is None or left * best[1] < best[2] * limit:
            tightest[kind] = (i, limit, left, text)
    out = []
    for kind, (i, _, left, text) in tightest.items():
        names = _HEADERS[kind]
        out += [(names[0], text), (names[1], str(max(0, int(left))).encode()),
                (names[2], _whole_duration(max(0, math.ceil(held[i].expires_at - now))))]
    return out


_HEADERS = prepared.HEADERS


def _single_headers(headed: Sequence[tuple[int, float, tuple[bytes, bytes], bytes, bytes]],
                    values: Sequence[float], held: Sequence[Held],
                    now: float) -> list[tuple[bytes, bytes]]:
    """`_granted_headers` of a `single` layout, from its prepared `headed`: the names and
    the limit's header made once. Conditionals rather than max(), a builtin call each."""
    out: list[tuple[bytes, bytes]] = []
    for i, limit, first, remaining, resets in headed:
        left = limit - values[i]
        reset = math.ceil(held[i][2] - now)  # its expires_at
        out += (first, (remaining, str(int(left)).encode() if left > 0 else b"0"),
                (resets, _RESETS[reset] if 0 <= reset <= 60
                 else _whole_duration(reset if reset > 0 else 0)))
    return out


_new = tuple.__new__
# A request's tokens within +-this are a finite float (NaN and the infinities compare
# False): its common case, an estimate without a cost, checked without _finite's call.
_BIG = 2**1000


def _finite(ask: plan.Ask) -> bool:
    """Whether a request's own amounts (its tokens, its cost) are finite numbers, as
    outcome.check_amounts wants them; else the store's own check says what is wrong."""
    try:
        return math.isfinite(ask.input_tokens + ask.output_tokens) and (
            ask.cost is None or math.isfinite(ask.cost))
    except OverflowError:
        return False


class LimitRefusal(HttpError):
    """A request refused by a limit; `counter` names it for the audit record and metrics."""

    def __init__(self, counter: str, status: int, message: str, code: str,
                 headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(status, message, code, headers=headers)
        self.counter = counter

    @property
    def kind(self) -> str:
        """The limit's kind without the party's name: "client:requests", "team:spend"."""
        scope, _, what = self.counter.rpartition(":")
        return f"{scope.partition(':')[0]}:{what}"


def refusal(refused: Refused, now: float) -> LimitRefusal:
    counter = refused.counter
    wait = max(1, math.ceil(refused.resets_at - now))
    retry = [(b"retry-after", str(wait).encode())]
    if counter.key.endswith(":spend"):
        reset = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(refused.resets_at))
        return LimitRefusal(counter.key, 402, f"the {counter.label} is spent "
                            f"(${refused.used:.4f} used); it resets at {reset}",
                            "budget_exceeded", retry)
    return LimitRefusal(counter.key, 429, f"rate limit reached: {counter.label} is "
                        f"{counter.limit:g}; retry in {wait} s", "rate_limit_exceeded", retry)


class Limiter:
    """The limits of one gateway process, over the store the config chose."""

    def __init__(self, config: LimitsConfig, store: Store, local: Store | None = None) -> None:
        self.config = config
        self.store = store
        self._local = local  # on_store_failure = "local": counts here while the store is down
        self._degraded = False
        self._by_model = {p.model: prices.Price(p.input, p.cached_input if p.cached_input
                                                is not None else p.input, p.output)
                          for p in config.prices if p.model is not None}
        self._by_deployment = {p.deployment: prices.Price(
            p.input, p.cached_input if p.cached_input is not None else p.input, p.output)
            for p in config.prices if p.deployment is not None}
        self._unpriced: set[str] = set()
        # Worked out once per caller and model, per deployment, per route (see prepared.py):
        # they depend on this config only, which a reload replaces with a new Limiter.
        self._prepared: dict[tuple[object, ...], prepared.Prepared] = {}
        self._prices: dict[tuple[str, str], prices.Price | None] = {}
        self._route_prices: dict[int, tuple[ModelRoute, list[prices.Price | None]]] = {}
        # The cost `settle` worked out last, for the audit record's `cost_of` that follows it.
        self._last_cost: tuple[Usage, Deployment, float | None] | None = None
        self.store_failures = 0  # for metrics: how often the shared store failed
        self._unsettled = 0  # admissions holding counters, not settled yet
        self._adjust_now: Callable[[Sequence[tuple[Held, float]]], None] | None = getattr(
            store, "adjust_now", None)
        # Stores' fast paths at slots the request path keeps per window (slots.py).
        self._reserve_now: Callable[[Sequence[Counter], Sequence[tuple[str, float]], float],
                                    Granted | Refused] | None = getattr(
            store, "reserve_now", None)
        self._reserve_at: Callable[[Sequence[Counter], Sequence[tuple[str, float]], float],
                                   Awaitable[Granted | Refused]] | None = getattr(
            store, "reserve_at", None)
        self._configured = bool(config.keys or config.teams or config.models) or any(
            getattr(config.per_key, name) is not None for name in LimitSet.__struct_fields__)

    def reconfigured(self, config: LimitsConfig) -> Limiter:
        """The limits of a reloaded config over the same store: counts and spend so far go
        on (the store keys them by party and window, not by the numbers)."""
        limiter = Limiter(config, self.store, self._local)
        limiter.store_failures = self.store_failures
        limiter._degraded = self._degraded
        return limiter

    def _price(self, dep: Deployment) -> prices.Price | None:
        key = (dep.id, dep.model)
        try:
            return self._prices[key]
        except KeyError:
            pass
        found = self._by_deployment.get(dep.id) or prices.price_for(dep.model, self._by_model)
        if found is None and dep.model not in self._unpriced:
            self._unpriced.add(dep.model)
            log.warning("no price known for model %r (deployment %s): its spend counts as "
                        "unknown; add it under [[limits.prices]]", dep.model, dep.id)
        if len(self._prices) >= _CACHED:
            self._prices.clear()
        self._prices[key] = found
        return found

    def _prices_of(self, route: ModelRoute) -> list[prices.Price | None]:
        """The price of each of `route`'s deployments (a route lives as long as its config)."""
        known = self._route_prices.get(id(route))
        if known is not None and known[0] is route:
            return known[1]
        each = [self._price(d) for d in route.deployments]
        if len(self._route_prices) >= _CACHED:
            self._route_prices.clear()
        self._route_prices[id(route)] = (route, each)
        return each

    def _prepared_for(self, key: tuple[object, ...], principal: Principal,
                      model: str) -> prepared.Prepared:
        """`principal`'s limits on `model`, worked out and kept under `key` (see `admit`)."""
        found = self._prepared.get(key)
        if found is None:
            found = prepared.prepare(self.config, principal, model)
            if len(self._prepared) >= _CACHED:  # scoped tokens come and go: stay bounded
                self._prepared.clear()
            self._prepared[key] = found
        return found

    def _ask(self, op: Op, body: dict[str, Any], size: int, route: ModelRoute,
             found: prepared.Prepared) -> tuple[plan.Ask, dict[str, Any]]:
        """The estimate of this request, and its body with the output cap applied."""
        cap = found.input_cap
        input_tokens = size // 3 + 1 if cap is None and size <= QUICK_BOUND_BYTES \
            else tokens.estimate_input(op, body)
        if cap is not None and input_tokens > cap[0]:
            raise HttpError(400, f"this request is about {input_tokens} input tokens, over the "
                            f"{cap[0]} per request allowed for {cap[1]}",
                            "input_tokens_exceeded")
        asked = tokens.requested_output(op, body)
        out_cap = found.output_cap
        if out_cap is not None and (asked is None or asked > out_cap[0]):
            if asked is not None and self.config.on_excess_output == "refuse":
                raise HttpError(400, f"max output tokens {asked} is over the {out_cap[0]} "
                                f"allowed for {out_cap[1]}", "output_tokens_exceeded")
            body = tokens.with_output_cap(op, body, out_cap[0])
            asked = out_cap[0]
        output = asked if asked is not None else self.config.assumed_output_tokens
        cost: float | None = None
        if found.price:
            each = self._prices_of(route)
            if any(p is None for p in each):
                raise HttpError(403, f"a budget applies to this request but the gateway knows "
                                f"no price for a deployment of model {route.name!r}, so it "
                                "cannot count its spend; an operator must add the price "
                                "under [[limits.prices]]", "budget_unpriced")
            cost = 0.0
            for p in each:
                if p is not None:
                    cost = max(cost, prices.fresh_cost(input_tokens, output, p))
        # tuple.__new__: the NamedTuple without its Python-level __new__ (half the time)
        return _new(plan.Ask, (input_tokens, output, cost)), body

    async def _reserve(self, counters: list[Counter], now: float) -> tuple[Granted | Refused,
                                                                            Store]:
        try:
            result = await self.store.reserve(counters, now)
        except StoreUnavailable:
            return await self._unreachable(counters, now)
        if self._degraded:
            log.warning("limits store %s reachable again: shared limits apply",
                        self.store.name)
            self._degraded = False
        return result, self.store

    async def _unreachable(self, counters: list[Counter], now: float) -> tuple[
            Granted | Refused, Store]:
        """The store failed a reservation: 503 (`closed`), or count it locally (`local`)."""
        self.store_failures += 1
        if self._local is None:
            if not self._degraded:
                log.error("limits store %s unreachable: refusing requests until it is "
                          "back (on_store_failure = closed)", self.store.name)
                self._degraded = True
            raise HttpError(503, "the gateway cannot reach its limits store; retry "
                            "shortly", "limits_unavailable",
                            headers=[(b"retry-after", b"1")]) from None
        if not self._degraded:
            log.error("limits store %s unreachable: counting per instance until it is "
                      "back (on_store_failure = local)", self.store.name)
            self._degraded = True
        return await self._local.reserve(counters, now), self._local

    async def admit(self, principal: Principal, op: Op, body: dict[str, Any], size: int,
                    route: ModelRoute) -> tuple[Admission | None, dict[str, Any]]:
        """Reserve this request's share of every limit, or raise the refusal."""
        if self._configured or principal.rpm is not None or principal.budget is not None:
            # What plan.scopes reads of the caller, and no more: cheaper to hash than the
            # whole Principal (its scopes and models), and one entry for every token of one
            # key. Looked up here; worked out by _prepared_for on a miss.
            key = (principal.kind, principal.name, principal.team, principal.rpm,
                   principal.budget, route.name)
            found = self._prepared.get(key) or self._prepared_for(key, principal, route.name)
        else:
            found = NOTHING
        ask: plan.Ask | None = None
        if found.estimate or any(d.tpm for d in route.deployments):
            ask, body = self._ask(op, body, size, route, found)
        chosen = found.with_ask if ask is not None else found.without_ask  # prepared.layout
        if not chosen.entries:
            # Only a deployment's capacity may apply: its tokens are settled like the rest.
            return (Admission([], (), ask, self.store, [], []) if ask is not None
                    else None), body
        counters = prepared.counters(chosen, ask)
        now = time.time()
        if chosen.zero is not None:  # a budget of zero: nothing may be spent
            counter = counters[chosen.zero]
            raise refusal(Refused(counter, 0.0, window(counter.period, now)[1]), now)
        if chosen.finite and not self._degraded and (
                ask is None or (ask[2] is None and -_BIG < ask[0] + ask[1] < _BIG)
                or _finite(ask)):
            # The store's fast path: slots kept per window, amounts checked (prepared.py).
            if self._reserve_now is not None:  # memory: no coroutine
                result, store = self._reserve_now(counters, chosen.slots.at(now), now), \
                    self.store
            else:
                try:
                    result = await (self.store.reserve(counters, now) if self._reserve_at
                                    is None else self._reserve_at(counters,
                                                                  chosen.slots.at(now), now))
                except StoreUnavailable:
                    result, store = await self._unreachable(counters, now)
                else:
                    store = self.store
        elif self._degraded:
            result, store = await self._reserve(counters, now)
        else:  # what _reserve does when the store answers, without its coroutine
            try:
                result = await self.store.reserve(counters, now)
            except StoreUnavailable:
                result, store = await self._unreachable(counters, now)
            else:
                store = self.store
        if isinstance(result, Refused):
            # Debug: a client over its limit would otherwise write a line per request.
            log.debug("request refused by a limit: %s", result.counter.label)
            raise refusal(result, now)
        headers = _single_headers(chosen.headed, result.values, result.held, now) \
            if chosen.single else _granted_headers(chosen.rated, result.values, result.held,
                                                   now) if chosen.rated else []
        self._unsettled += 1
        return _new(Admission, (counters, result.held, ask, store, headers, [], chosen.kinds)), \
            body

    async def count(self, counters: list[Counter]) -> Refused | None:
        """Take fixed amounts (the MCP per-tool call rates): nothing is estimated or
        settled later. The refusal, or None when every counter had room; HttpError (503)
        when the store is down and `on_store_failure = "closed"`."""
        result, _ = await self._reserve(counters, time.time())
        return result if isinstance(result, Refused) else None

    def cost_of(self, usage: Usage, dep: Deployment) -> float | None:
        """What `usage` on `dep` cost in US dollars, or None when no price is known."""
        last = self._last_cost
        if last is not None and last[0] is usage and last[1] is dep:
            return last[2]  # settled just now: the same (frozen) usage, the same deployment
        price = self._price(dep)
        return prices.cost(usage, price) if price is not None else None

    async def settle(self, admission: Admission | None, usage: Usage | None,
                     dep: Deployment | None) -> None:
        """Correct the estimate to the reported usage; give back requests in flight."""
        if admission is None:
            return
        # Every field at once (one unpacking: a NamedTuple's named reads cost more each).
        counters, every, ask, store, _, deployment, kinds = admission
        if every:
            self._unsettled -= 1
        changes: list[tuple[Held, float]] = []
        actual_cost: float | None = None
        if usage is not None and dep is not None and ask is not None:
            price = self._price(dep) if ask.cost is not None else None
            actual_cost = prices.cost(usage, price) if price is not None else None
            if price is not None:
                self._last_cost = (usage, dep, actual_cost)
        if not kinds:
            kinds = [c.key.rpartition(":")[2] for c in counters]
        used = float(usage.input + usage.output) if usage is not None and ask is not None \
            else None
        # By index rather than a zip, and a Held's amount by place ([1]): each zip and named
        # field read cost about as much as the comparison it feeds. One kind per held.
        i = 0
        for kind in kinds:
            if kind == "inflight":
                changes.append((every[i], -1.0))
            elif kind == "tokens":
                held = every[i]
                if used is not None and used != held[1]:
                    changes.append((held, used - held[1]))
            elif kind == "spend":
                held = every[i]
                if actual_cost is not None and actual_cost != held[1]:
                    changes.append((held, actual_cost - held[1]))
            i += 1  # noqa: SIM113 (enumerate: a call, as dear as a zip)
        if deployment and usage is not None:
            used = float(usage.input + usage.output)
            changes += [(held, used - held.amount) for counter, held in deployment
                        if counter.key.endswith(":tokens") and used != held.amount]
        if not changes:
            return
        if store is self.store and self._adjust_now is not None:  # memory: no coroutine
            self._adjust_now(changes)
            return
        soon = getattr(store, "adjust_soon", None)
        if soon is not None and self._unsettled:
            # SQLite, while other requests are under way: carried by the store's next
            # transaction, likely the next request's reservation (sqlite_store.py). An idle
            # gateway writes it now: no reservation would come to carry it.
            soon(changes, self._not_settled)
            return
        try:
            await store.adjust(changes)
        except StoreUnavailable:
            self._not_settled(None)

    def _not_settled(self, _exc: StoreUnavailable | None) -> None:
        self.store_failures += 1
        log.warning("limits store %s unreachable: a request's usage was not settled",
                    self.store.name)

    async def take_deployment(self, admission: Admission | None, dep: Deployment,
                              ask: plan.Ask | None) -> Refused | Taken:
        """Reserve a slot of `dep`'s capacity, or say when it frees one.

        Its tokens are settled with the request (`settle`); its place in flight is given
        back when the attempt ends (`give_back`), so a failover does not hold it.
        """
        counters = plan.deployment_counters(dep.id, dep.rpm, dep.tpm, dep.concurrent, ask)
        if not counters:
            return Taken((), self.store)
        result, store = await self._reserve(counters, time.time())
        if isinstance(result, Refused):
            return result
        taken = list(zip(counters, result.held, strict=True))
        if admission is not None:
            admission.deployment.extend((c, h) for c, h in taken if c.key.endswith(":tokens"))
        return Taken(tuple(h for c, h in taken if c.period == "none"), store)

    async def give_back(self, taken: Taken) -> None:
        if not taken.gauges:
            return
        try:
            await taken.store.adjust([(held, -1.0) for held in taken.gauges])
        except StoreUnavailable:
            self.store_failures += 1
            log.warning("limits store %s unreachable: a deployment's place in flight was "
                        "not given back (it expires by itself)", taken.store.name)
