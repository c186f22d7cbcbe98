"""The kernels' record schema and the statistics table are single definitions that agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparkbt.engine import codes, kernels, loop_state
from sparkbt.engine.options import DIRECTIONS, GATE_NAMES, Config
from sparkbt.engine.result import fills_frame, locks_frame, trades_frame
from sparkbt.engine.stats import compute_stats
from sparkbt.engine.statspec import (
    BENCHMARK_KEYS,
    COUNT_KEYS,
    EXIT_KEYS,
    HIGHER_BETTER,
    LOWER_BETTER,
    PERCENT_KEYS,
    STAT_KEYS,
    STAT_SPECS,
    STATS,
    format_stat,
    statistics_markdown,
)

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_reason_and_gate_codes_index_their_names():
    named = {
        "signal": codes.REASON_SIGNAL,
        "stop_loss": codes.REASON_STOP_LOSS,
        "trailing_stop": codes.REASON_TRAILING_STOP,
        "take_profit": codes.REASON_TAKE_PROFIT,
        "gate": codes.REASON_GATE,
        "ruin": codes.REASON_RUIN,
        "open": codes.REASON_OPEN,
    }
    assert {codes.REASONS[c]: c for c in named.values()} == named
    assert codes.EXIT_REASONS == tuple(r for r in codes.REASONS if r != "open")
    gates = {
        "max_drawdown": codes.GATE_MAX_DRAWDOWN,
        "daily_loss": codes.GATE_DAILY_LOSS,
        "loss_streak": codes.GATE_LOSS_STREAK,
        "cooldown": codes.GATE_COOLDOWN,
    }
    assert {codes.GATES[c]: c for c in gates.values()} == gates
    assert GATE_NAMES == codes.GATES
    assert sorted(DIRECTIONS.values()) == [codes.LONG, codes.SHORT, codes.BOTH]


def test_the_loop_matrices_have_the_record_columns():
    assert (loop_state.N_FILL, loop_state.N_TRADE, loop_state.N_LOCK) == (
        len(codes.FILL_DTYPE.names),
        len(codes.TRADE_DTYPE.names),
        len(codes.LOCK_DTYPE.names),
    )
    assert codes.TRADE_COLS == codes.TRADE_DTYPE.names


def test_records_of_both_kernels_have_the_schema_dtypes():
    rng = np.random.default_rng(3)
    n = 300
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    market = kernels.Market(close, close * 1.02, close * 0.98, close, np.arange(n) // 24)
    t = kernels.prepare_targets(rng.choice([-1.0, 0.0, 1.0], size=(n, 2)), codes.BOTH)
    opts = Config(sl_stop=0.02, gates={"cooldown": 2, "loss_streak": 2}).sim_options()
    for out in (
        kernels.simulate(market, t, kernels.SimOptions()),
        kernels.simulate(market, t, opts),
    ):
        assert out.fills.dtype == codes.FILL_DTYPE
        assert out.trades.dtype == codes.TRADE_DTYPE
        assert out.locks.dtype == codes.LOCK_DTYPE
        assert len(out.trades) > 0
    assert len(out.locks) > 0
    assert set(out.trades["exit_reason"]) <= set(range(len(codes.REASONS)))
    index = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    one = out.trades[out.trades["col"] == 0]
    assert set(trades_frame(one, index)["exit_reason"]) <= set(codes.REASONS)
    assert set(fills_frame(out.fills[out.fills["col"] == 0], index)["reason"]) <= set(codes.REASONS)
    assert set(locks_frame(out.locks[out.locks["col"] == 0], index)["gate"]) <= set(codes.GATES)


def test_every_exit_reason_has_a_count_statistic():
    assert {f"exits_{r}" for r in codes.EXIT_REASONS} == set(EXIT_KEYS)
    assert set(EXIT_KEYS) <= set(COUNT_KEYS)
    assert "exits_open" not in STAT_KEYS


def test_every_stat_key_has_one_spec_and_compute_stats_fills_each():
    assert STAT_KEYS == tuple(s.name for s in STATS)
    assert len(set(STAT_KEYS)) == len(STAT_KEYS)
    equity = np.array([[100.0], [110.0], [99.0]])
    stats = compute_stats(
        equity,
        np.ones_like(equity),
        np.zeros(0, dtype=codes.TRADE_DTYPE),
        cash=100.0,
        close=np.array([1.0, 1.1, 0.99]),
        ts_ns=np.arange(3) * 3_600 * 10**9,
        period_ns=3_600 * 10**9,
    )
    assert tuple(stats) == STAT_KEYS
    assert all(STAT_SPECS[k].description for k in STAT_KEYS)


def test_spec_sets_follow_the_table():
    assert HIGHER_BETTER.isdisjoint(LOWER_BETTER)
    assert {"max_drawdown", "max_drawdown_duration", "total_fees"} == LOWER_BETTER
    assert "sharpe" in HIGHER_BETTER and "exposure" not in HIGHER_BETTER | LOWER_BETTER
    assert {"total_return", "win_rate", "max_drawdown"} <= PERCENT_KEYS
    assert "sharpe" in BENCHMARK_KEYS and "pnl" not in BENCHMARK_KEYS


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("total_return", 0.1234, "12.34%"),
        ("pnl", 1234.5, "1,234.50"),
        ("sharpe", 1.23456, "1.235"),
        ("total_trades", 1234, "1,234"),
        ("max_drawdown_duration", 90_000.0, "1 days 01:00:00"),
        ("ruined", True, "yes"),
        ("sharpe", None, "—"),
    ],
)
def test_format_stat_follows_the_unit(key, value, text):
    assert format_stat(key, value) == text


def test_the_statistics_doc_is_the_generated_table():
    text = statistics_markdown()
    assert (DOCS / "statistics.md").read_text(encoding="utf-8") == text
    for key in STAT_KEYS:
        assert f"| `{key}` |" in text
