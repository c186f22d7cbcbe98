"""Grids: range syntax, lists, schema coercion, where/constraints, seeded sampling."""

from __future__ import annotations

import re
import time

import pytest

import sparkbt as sb
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.grid import build_grid, normalise_grid, option_values, parse_values

SMA = sb.get_strategy("sma_cross")
RSI = sb.get_strategy("rsi_reversion")
FAST = SMA.params[0]
LOWER = RSI.params[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5:8", [5, 6, 7, 8]),
        ("20:40:10", [20, 30, 40]),
        ("20:45:10", [20, 30, 40]),
        ("5,8,13", [5, 8, 13]),
        ("7", [7]),
        (" 3 : 5 ", [3, 4, 5]),
    ],
)
def test_int_ranges_are_inclusive(text: str, expected: list[int]) -> None:
    assert parse_values(text, FAST) == expected


def test_float_ranges_have_no_rounding_residue() -> None:
    assert parse_values("20:30:2.5", LOWER) == [20.0, 22.5, 25.0, 27.5, 30.0]
    assert parse_values("0.1:0.3:0.1", LOWER) == [0.1, 0.2, 0.3]


@pytest.mark.parametrize(
    "text", ["5:", ":5", "5:x", "1:2:3:4", "5:1", "5:10:0", "5:10:-1", "", "5,,6", "a,b"]
)
def test_invalid_range_syntax_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="fast"):
        parse_values(text, FAST)


def test_grid_is_the_product_in_schema_order_with_where() -> None:
    grid = build_grid(SMA, {"slow": [20, 30], "fast": "5:6"}, where="fast + 20 < slow + 1")
    assert list(grid.columns) == ["fast", "slow"]
    assert grid.to_dict("records") == [{"fast": 5, "slow": 30}, {"fast": 6, "slow": 30}]
    assert str(grid["fast"].dtype) == "int64"


def test_strategy_constraints_drop_combinations() -> None:
    grid = build_grid(SMA, {"fast": [10, 20, 30], "slow": [20]})
    assert grid["fast"].tolist() == [10]


def test_unspecified_params_take_defaults_and_duplicates_collapse() -> None:
    grid = build_grid(RSI, {"window": [14, 14.0, 7]})
    assert grid.to_dict("records") == [
        {"window": 14, "lower": 30.0, "upper": 70.0},
        {"window": 7, "lower": 30.0, "upper": 70.0},
    ]


def test_bad_input_errors_are_clear() -> None:
    with pytest.raises(StrategyError, match="did you mean 'fast'"):
        build_grid(SMA, {"fsat": [5]})
    with pytest.raises(ConfigError, match="empty grid for 'fast'"):
        build_grid(SMA, {"fast": []})
    with pytest.raises(ConfigError, match="filters out every combination"):
        build_grid(SMA, {"fast": "5:10", "slow": [30]}, where="fast > 100")
    with pytest.raises(ConfigError, match="no combination of the grid satisfies fast < slow"):
        build_grid(SMA, {"fast": [50], "slow": [20]})
    with pytest.raises(ConfigError, match="unknown name 'fats'"):
        build_grid(SMA, {"fast": [5]}, where="fats < slow")
    with pytest.raises(StrategyError, match="fast"):
        build_grid(SMA, {"fast": [0, 5]})  # below the schema's minimum
    with pytest.raises(ConfigError, match="samples"):
        build_grid(SMA, {"fast": [5]}, samples=0)


def test_sampling_is_seeded_and_keeps_grid_order() -> None:
    grid = {"fast": "5:50", "slow": "20:200:5"}
    full = build_grid(SMA, grid, where="fast < slow")
    a = build_grid(SMA, grid, where="fast < slow", samples=100, seed=3)
    b = build_grid(SMA, grid, where="fast < slow", samples=100, seed=3)
    c = build_grid(SMA, grid, where="fast < slow", samples=100, seed=4)
    assert len(full) == 1590 and len(a) == 100
    assert a.equals(b) and not a.equals(c)
    keys = [tuple(r) for r in a.itertuples(index=False)]
    order = {tuple(r): i for i, r in enumerate(full.itertuples(index=False))}
    assert [order[k] for k in keys] == sorted(order[k] for k in keys)
    assert len(build_grid(SMA, grid, where="fast < slow", samples=10**6)) == 1590


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: parse_values("1:1000000000", FAST),
            "--fast: range '1:1000000000' has 1,000,000,000",
        ),
        (
            lambda: parse_values("0:1:1e-12", LOWER),
            "--lower: range '0:1:1e-12' has 1,000,000,000,001",
        ),
        (
            lambda: parse_values("0:1:1e-320", LOWER),
            "--lower: range '0:1:1e-320' has more than 1e+308 values",
        ),
        (lambda: option_values({"fees": "0:0.01:1e-12"}), "--fees: range '0:0.01:1e-12' has"),
        (
            lambda: build_grid(SMA, {"fast": "1:1000000000", "slow": 50}),
            "1,000,000,000 combinations (limit 20,000,000; 'fast' has 1,000,000,000 values)",
        ),
        (
            lambda: build_grid(SMA, {"fast": "1:4000", "slow": "1:8000"}),
            "32,000,000 combinations (limit 20,000,000; 'slow' has 8,000 values)",
        ),
        (
            lambda: build_grid(SMA, {"fast": "1:5000"}, options={"fees": [0.0] * 5000}),
            "25,000,000 combinations",
        ),
        (lambda: normalise_grid(RSI, {"lower": "0:100:1e-6"}), "'lower' has 100,000,001 values"),
    ],
)
def test_oversized_grids_are_refused_before_any_value_is_listed(make, message) -> None:
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=re.escape(message)):
        make()
    assert time.perf_counter() - started < 5  # generous: listing them takes minutes or all RAM


def test_the_api_refuses_an_oversized_sweep_with_a_typed_error(sample) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="'fast' has 1,000,000,000 values") as err:
        sb.sweep(sample, "sma_cross", fast="1:1000000000", slow=50)
    assert isinstance(err.value, sb.SparkbtError) and "\n" not in str(err.value)
    assert time.perf_counter() - started < 5


def test_duplicates_collapse_in_linear_time_keeping_first_seen_order() -> None:
    distinct = [(i * 7919) % 100_000 / 1000 for i in range(100_000)]  # 0..99.999, shuffled
    values = distinct + distinct[::-1]
    started = time.perf_counter()
    got = normalise_grid(RSI, {"lower": values})["lower"]
    assert time.perf_counter() - started < 5  # pairwise comparison takes minutes
    assert got == distinct
