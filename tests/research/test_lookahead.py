"""Look-ahead check: honest strategies pass, strategies reading later bars fail at the right bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.simulate import prepare
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.lookahead import lookahead_check, sample_bars


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return sb.synthetic_candles(800, timeframe="1h", seed=4)


def peek_next_close(candles: pd.DataFrame) -> pd.Series:
    """Long when the next close is higher: reads bar t+1 at bar t."""
    close = candles["close"]
    return np.sign(close.shift(-1) - close)


def full_sample_mean(candles: pd.DataFrame) -> pd.Series:
    """Long above the mean close of all bars (a later-bars statistic)."""
    close = candles["close"]
    return (close > close.mean()).astype(float)


def atr_stops_from_future(candles: pd.DataFrame) -> pd.DataFrame:
    """Honest targets, but the stop column reads the next bar's range."""
    rng = (candles["high"] - candles["low"]) / candles["close"]
    return pd.DataFrame(
        {"target": np.ones(len(candles)), "sl_stop": rng.shift(-1).clip(0.001, 0.5)},
        index=candles.index,
    )


def test_sma_cross_passes(candles) -> None:
    res = lookahead_check("sma_cross", candles, {"fast": 5, "slow": 20})
    assert res.passed
    assert res.first_mismatch is None
    assert len(res.bars_checked) == 20
    assert "match" in res.detail


def test_reading_the_next_close_fails_at_the_first_changed_bar(candles) -> None:
    res = lookahead_check(peek_next_close, candles, {}, samples=30, seed=2)
    assert not res.passed
    # Cut after bar t, the last signal is NaN and is forward-filled from bar t-1: the
    # prepared target differs from the full run's exactly where the full one changes.
    full = prepare(peek_next_close(candles).to_numpy(), "both")[:, 0]
    changed = [t for t in res.bars_checked if full[t] != full[t - 1]]
    assert changed
    assert res.first_mismatch == changed[0]
    assert f"bar {changed[0]}" in res.detail
    assert candles.index[changed[0]].isoformat() in res.detail


def test_full_sample_statistic_fails_early(candles) -> None:
    res = lookahead_check(full_sample_mean, candles, {})
    assert not res.passed
    assert res.first_mismatch is not None
    assert res.first_mismatch < res.bars_checked[-1]


def test_stop_column_is_compared(candles) -> None:
    res = lookahead_check(atr_stops_from_future, candles, {}, samples=5)
    assert not res.passed
    assert res.first_mismatch == res.bars_checked[0]
    assert "sl_stop" in res.detail


def test_deterministic_for_a_seed(candles) -> None:
    a = lookahead_check(peek_next_close, candles, {}, seed=9)
    b = lookahead_check(peek_next_close, candles, {}, seed=9)
    c = lookahead_check(peek_next_close, candles, {}, seed=10)
    assert a == b
    assert a.bars_checked != c.bars_checked


def test_sample_bars_spread_over_the_data() -> None:
    bars = sample_bars(1000, 10, seed=0)
    assert len(bars) == 10
    assert bars == sorted(set(bars))
    assert all(1 <= b <= 998 for b in bars)
    assert bars[0] < 101 and bars[-1] > 899  # one per stretch of ~100 bars
    assert sample_bars(5, 20, seed=0) == [1, 2, 3]
    assert sample_bars(2, 20, seed=0) == []


def test_errors(candles) -> None:
    with pytest.raises(StrategyError, match="unknown parameter"):
        lookahead_check("sma_cross", candles, {"fats": 3})
    with pytest.raises(ConfigError, match="samples"):
        lookahead_check("sma_cross", candles, {}, samples=0)


def test_strategy_failing_on_a_prefix_fails_the_check(candles) -> None:
    def needs_all(candles: pd.DataFrame) -> pd.Series:
        if len(candles) < 800:
            raise RuntimeError("not enough bars")
        return pd.Series(0.0, index=candles.index)

    res = lookahead_check(needs_all, candles, {}, samples=3)
    assert not res.passed
    assert "RuntimeError: not enough bars" in res.detail
    assert res.first_mismatch is None
    assert res.to_dict()["passed"] is False
