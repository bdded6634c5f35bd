"""The price table, model name matching, and the cost of usage."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway_cli.limits import prices
from gateway_cli.limits.prices import TABLE, TABLE_DATE, Price, cost, price_for
from gateway_cli.limits.tokens import Usage


def test_table_is_dated_and_sane() -> None:
    assert re.fullmatch(r"20\d\d-\d\d-\d\d", TABLE_DATE)
    assert "TABLE_DATE" in (prices.__doc__ or "")
    assert len(TABLE) == len({name.lower() for name in TABLE})
    for name, row in TABLE.items():
        assert name == name.strip().lower() and " " not in name
        assert row.input > 0, name
        assert 0 < row.cached_input <= row.input, name
        if name.startswith("text-embedding"):
            assert row.output == 0
        else:
            assert row.output >= row.input, name
        if row.cache_write is not None:
            assert row.cache_write >= row.input, name


def test_main_models_are_priced() -> None:
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1",
                  "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
                  "text-embedding-3-small", "text-embedding-3-large", "claude-opus-4-5",
                  "claude-opus-4-1", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5",
                  "claude-3-7-sonnet", "claude-3-5-sonnet", "claude-3-5-haiku"):
        assert price_for(model) is TABLE[model]


@pytest.mark.parametrize(("model", "row"), [
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # priced apart from its family
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("o3-2025-04-16", "o3"),
    ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),
    ("claude-opus-4-1-20250805", "claude-opus-4-1"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
    ("openai/gpt-4o", "gpt-4o"),
])
def test_snapshots_and_aliases_match_the_longest_row(model: str, row: str) -> None:
    assert price_for(model) is TABLE[row]


@pytest.mark.parametrize("model", [
    "gpt-4.5-preview",  # not gpt-4: the prefix must end at a "-"
    "gpt-4ox", "my-gpt-4o", "llama-3-70b", "", "claude", "o",
])
def test_unknown_models_have_no_price(model: str) -> None:
    assert price_for(model) is None


def test_overrides_replace_and_add_rows() -> None:
    mine = Price(1.0, 0.5, 2.0)
    assert price_for("gpt-4o", {"gpt-4o": mine}) is mine
    assert price_for("gpt-4o-2024-08-06", {"gpt-4o": mine}) is mine
    assert price_for("my-deployment", {"my-deployment": mine}) is mine
    assert price_for("gpt-4o-mini", {"gpt-4o": mine}) is TABLE["gpt-4o-mini"]
    assert price_for("gpt-4o", {}) is TABLE["gpt-4o"]


def test_cost_charges_cached_input_once_at_its_price() -> None:
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert cost(Usage(input=1_000_000, output=0), price) == pytest.approx(2.0)
    assert cost(Usage(input=1_000_000, output=1_000_000, cached_input=400_000), price) \
        == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 8.0)


def test_cost_of_anthropic_cache_writes() -> None:
    usage = Usage(input=1_000_000 + 2_000_000 + 500_000, output=100_000,
                  cached_input=2_000_000, cache_write=500_000)
    sonnet = TABLE["claude-sonnet-4-5"]
    assert cost(usage, sonnet) == pytest.approx(3.0 + 2 * 0.30 + 0.5 * 3.75 + 0.1 * 15.0)
    no_write_price = Price(input=3.0, cached_input=0.3, output=15.0)
    assert cost(usage, no_write_price) == pytest.approx(3.0 + 0.6 + 0.5 * 3.0 + 1.5)


def test_cost_of_inconsistent_usage_is_bounded() -> None:
    price = Price(input=1.0, cached_input=0.1, output=1.0)
    # cached more than input: never negative, never more than all input at full price
    weird = Usage(input=10, output=0, cached_input=50, cache_write=50)
    assert 0 <= cost(weird, price) <= 10 / 1_000_000


usages = st.builds(Usage, st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**7),
                   st.integers(0, 10**7))


@given(usages, st.sampled_from(sorted(TABLE)))
def test_cost_is_between_all_cached_and_all_full_price(usage: Usage, model: str) -> None:
    price = TABLE[model]
    spent = cost(usage, price)
    top = max(price.input, price.cache_write or 0.0)
    assert spent >= 0
    assert spent <= (usage.input * top + usage.output * price.output) / 1_000_000 + 1e-9
    assert spent >= (usage.input * price.cached_input + usage.output * price.output) \
        / 1_000_000 - 1e-9
