"""Statistics checked by hand on small curves."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sparkbt as sb
from sparkbt.engine import stats
from sparkbt.engine.codes import TRADE_DTYPE

DAY = 86_400 * 10**9


def test_drawdown_and_duration_by_hand():
    eq = np.array([[100.0], [120.0], [90.0], [110.0], [121.0], [60.0]])
    ts = np.arange(6) * DAY
    assert stats.max_drawdown(eq)[0] == pytest.approx(1 - 60 / 121)
    # 120 at day 1, regained at day 4 (3 days); 121 at day 4, still under at day 5 (1 day)
    assert stats.max_drawdown_duration(eq, ts)[0] == 3 * 86_400


def test_starting_cash_is_not_a_peak():
    eq = np.array([[90.0], [95.0], [99.0]])
    assert stats.max_drawdown(eq)[0] == 0.0
    r = stats.bar_returns(eq, 100.0)
    assert r[0, 0] == pytest.approx(-0.1)


def test_sharpe_sortino_by_hand():
    r = np.array([[0.01], [-0.02], [0.03], [0.0]])
    ann = 365.0
    mean = 0.02 / 4
    sd = math.sqrt(sum((x - mean) ** 2 for x in (0.01, -0.02, 0.03, 0.0)) / 3)
    assert stats.sharpe(r, ann)[0] == pytest.approx(mean / sd * math.sqrt(365))
    down = math.sqrt(0.02**2 / 4) * math.sqrt(365)
    assert stats.sortino(r, ann)[0] == pytest.approx(mean * 365 / down)
    assert np.isnan(stats.sortino(np.array([[0.01], [0.02]]), ann)[0])
    assert np.isnan(stats.sharpe(np.zeros((3, 1)), ann)[0])


def test_trade_stats_by_hand():
    t = np.zeros(4, dtype=TRADE_DTYPE)
    t["pnl"] = [10.0, -5.0, 20.0, 7.0]
    t["ret"] = [0.1, -0.05, 0.2, 0.07]
    t["entry_fee"] = 1.0
    t["is_open"] = [False, False, False, True]
    out = stats.trade_stats(t, 1)
    assert out["total_trades"][0] == 4 and out["closed_trades"][0] == 3
    assert out["win_rate"][0] == pytest.approx(2 / 3)
    assert out["profit_factor"][0] == pytest.approx(30 / 5)
    assert out["expectancy"][0] == pytest.approx(25 / 3)
    assert out["best_trade"][0] == 0.2 and out["worst_trade"][0] == -0.05
    assert out["total_fees"][0] == 4.0


def test_undefined_ratios_are_null_in_json():
    idx = pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC")
    candles = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 0.0}, index=idx
    )
    res = sb.backtest(candles, "buy_and_hold")
    for key in ("win_rate", "profit_factor", "sharpe", "sortino", "calmar", "avg_pnl"):
        assert res.stats[key] is None, key
    text = json.dumps(res.report, allow_nan=False)  # must not raise
    assert "NaN" not in text and "Infinity" not in text
    assert list(res.stats) == list(sb.STAT_KEYS)


def test_cagr_uses_the_calendar():
    idx = pd.DatetimeIndex(["2020-01-01", "2020-01-02", "2021-01-01"], tz="UTC")
    candles = pd.DataFrame(
        {
            "open": [1.0, 1.0, 2.0],
            "high": [1.0, 1.0, 2.0],
            "low": [1.0, 1.0, 2.0],
            "close": [1.0, 1.0, 2.0],
            "volume": 0.0,
        },
        index=idx,
    )
    res = sb.backtest(candles, "buy_and_hold")
    days = (idx[-1] - idx[0]).days
    assert res.stats["cagr"] == pytest.approx(2.0 ** (365.25 / days) - 1)


def test_readme_lists_every_stat_key():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [k for k in sb.STAT_KEYS if f"`{k}`" not in readme]
    assert not missing


_curves = st.lists(
    st.one_of(
        st.floats(-1e9, 1e9, allow_nan=False),
        st.sampled_from([0.0, -0.0, float("nan"), 1.0]),
    ),
    min_size=1,
    max_size=200,
)


@settings(max_examples=300, deadline=None)
@given(_curves, st.floats(1.0, 1e9))
def test_running_peak_and_returns_equal_numpys_bit_for_bit(values, cash):
    """The compiled running peak and the in-place returns give numpy's exact bits, NaN,
    signed zeros and ties included."""
    equity = np.array(values)[:, None]
    expected = np.maximum.accumulate(equity, axis=0)
    assert stats.running_peak(equity).tobytes() == expected.tobytes()
    prev = np.concatenate([[[cash]], equity[:-1]])
    with np.errstate(all="ignore"):
        assert stats.bar_returns(equity, cash).tobytes() == (equity / prev - 1.0).tobytes()


def test_returns_keep_the_equity_layout_so_column_sums_match():
    """A sweep's equity is column-major: returns laid out the same give the same sums."""
    equity = np.asfortranarray(np.random.default_rng(3).uniform(90, 110, size=(1000, 3)))
    prev = np.vstack([np.full((1, 3), 100.0), equity[:-1]])
    r = stats.bar_returns(equity, 100.0)
    assert r.flags.f_contiguous
    assert stats.sharpe(r, 365.0).tobytes() == stats.sharpe(equity / prev - 1.0, 365.0).tobytes()
    for scratch in (np.empty_like(r), np.empty(r.shape)):  # laid out as r, or not
        assert (
            stats.sortino(r, 365.0, scratch=scratch).tobytes()
            == stats.sortino(equity / prev - 1.0, 365.0).tobytes()
        )
