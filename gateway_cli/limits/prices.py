"""The dated price table, and what a call's usage cost.

A spend budget needs a price for every call, known without asking anyone at run
time (the gateway makes no call but the proxied one). The rows below are the
providers' published list prices, in USD per million tokens, as of TABLE_DATE:
standard tier, no batch discount, and for Anthropic the prompts up to 200K
tokens (longer prompts and other tiers cost more and are not modelled). Prices
change, deployments have their own names (Azure), and contracts have their own
rates: every row can be replaced, and rows added, in the config, which passes
them here as `overrides`. The rows were compiled by hand from the published
price lists; nothing checks them against the providers automatically (the
gateway has no network but the proxied calls), so an operator who enforces
budgets should compare the rows for the models they route to with their own
price sheet and override what differs.

Matching a model name, in order: a row of exactly that name; else the longest
row name that the model name starts with followed by "-" (a dated snapshot or
alias: `gpt-4o-2024-08-06` -> `gpt-4o`, `claude-sonnet-4-5-20250929` ->
`claude-sonnet-4-5`, `claude-3-7-sonnet-latest` -> `claude-3-7-sonnet`); the
"-" boundary keeps `gpt-4.5-preview` from matching `gpt-4`. A name with a
routing prefix (`openai/gpt-4o`) is tried again without it. Snapshots priced
apart from their family have their own row (`gpt-4o-2024-05-13`).

Cached input is charged at its own price, not also as input. Anthropic's cache
writes are charged at the row's `cache_write` price (its published 5-minute
cache write price, 1.25 times input); a row without one charges them as input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway_cli.limits.tokens import Usage

TABLE_DATE = "2026-01-15"


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: float
    cached_input: float
    output: float
    cache_write: float | None = None  # None: cache writes cost `input`


def _p(input_: float, cached: float | None, output: float,
       cache_write: float | None = None) -> Price:
    # A model without prompt caching charges cached input (which it never reports) as input.
    return Price(input_, input_ if cached is None else cached, output, cache_write)


TABLE: dict[str, Price] = {
    # OpenAI
    "gpt-5": _p(1.25, 0.125, 10.00),
    "gpt-5.1": _p(1.25, 0.125, 10.00),
    "gpt-5-mini": _p(0.25, 0.025, 2.00),
    "gpt-5-nano": _p(0.05, 0.005, 0.40),
    "gpt-4.1": _p(2.00, 0.50, 8.00),
    "gpt-4.1-mini": _p(0.40, 0.10, 1.60),
    "gpt-4.1-nano": _p(0.10, 0.025, 0.40),
    "gpt-4o": _p(2.50, 1.25, 10.00),
    "gpt-4o-2024-05-13": _p(5.00, None, 15.00),
    "gpt-4o-mini": _p(0.15, 0.075, 0.60),
    "gpt-4-turbo": _p(10.00, None, 30.00),
    "gpt-4": _p(30.00, None, 60.00),
    "gpt-3.5-turbo": _p(0.50, None, 1.50),
    "o1": _p(15.00, 7.50, 60.00),
    "o1-mini": _p(1.10, 0.55, 4.40),
    "o1-pro": _p(150.00, None, 600.00),
    "o3": _p(2.00, 0.50, 8.00),
    "o3-mini": _p(1.10, 0.55, 4.40),
    "o3-pro": _p(20.00, None, 80.00),
    "o4-mini": _p(1.10, 0.275, 4.40),
    "text-embedding-3-small": _p(0.02, None, 0.0),
    "text-embedding-3-large": _p(0.13, None, 0.0),
    "text-embedding-ada-002": _p(0.10, None, 0.0),
    # Anthropic (cache writes: the 5-minute cache)
    "claude-opus-4-5": _p(5.00, 0.50, 25.00, 6.25),
    "claude-opus-4-1": _p(15.00, 1.50, 75.00, 18.75),
    "claude-opus-4": _p(15.00, 1.50, 75.00, 18.75),
    "claude-sonnet-4-5": _p(3.00, 0.30, 15.00, 3.75),
    "claude-sonnet-4": _p(3.00, 0.30, 15.00, 3.75),
    "claude-haiku-4-5": _p(1.00, 0.10, 5.00, 1.25),
    "claude-3-7-sonnet": _p(3.00, 0.30, 15.00, 3.75),
    "claude-3-5-sonnet": _p(3.00, 0.30, 15.00, 3.75),
    "claude-3-5-haiku": _p(0.80, 0.08, 4.00, 1.00),
    "claude-3-opus": _p(15.00, 1.50, 75.00, 18.75),
    "claude-3-haiku": _p(0.25, 0.03, 1.25, 0.30),
}


def _match(model: str, rows: Mapping[str, Price]) -> Price | None:
    exact = rows.get(model)
    if exact is not None:
        return exact
    best: str | None = None
    for name in rows:
        if model.startswith(name + "-") and (best is None or len(name) > len(best)):
            best = name
    return rows[best] if best is not None else None


def price_for(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of `model`: the table with `overrides` laid over it (an override replaces
    the row of its name or adds one), matched as the module says; None if no row matches."""
    if not isinstance(model, str) or not model:
        return None
    rows: Mapping[str, Price] = {**TABLE, **overrides} if overrides else TABLE
    found = _match(model, rows)
    if found is None and "/" in model:
        found = _match(model.rsplit("/", 1)[1], rows)
    return found


def cost(usage: Usage, price: Price) -> float:
    """USD of `usage` at `price`. Cached reads and cache writes are parts of `usage.input`,
    each charged at its own price and only once."""
    cached = max(0, min(usage.cached_input, usage.input))
    written = max(0, min(usage.cache_write, usage.input - cached))
    fresh = max(0, usage.input - cached - written)
    write_price = price.input if price.cache_write is None else price.cache_write
    total = (fresh * price.input + cached * price.cached_input + written * write_price
             + max(0, usage.output) * price.output)
    return total / 1_000_000


def fresh_cost(input_tokens: int, output_tokens: int, price: Price) -> float:
    """`cost(Usage(input_tokens, output_tokens), price)` without building the Usage: the
    estimate of a request before its call knows of no cached input."""
    return (max(0, input_tokens) * price.input + max(0, output_tokens) * price.output) \
        / 1_000_000
