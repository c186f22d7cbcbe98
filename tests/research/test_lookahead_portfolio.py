"""The look-ahead check on portfolios: weights at bar t may use candles up to t only."""

from __future__ import annotations

import numpy as np
import pandas as pd

import sparkbt as sb
from sparkbt.data.panel import Panel
from sparkbt.research.lookahead import lookahead_check


def _frames() -> dict[str, pd.DataFrame]:
    a = sb.synthetic_candles(240, timeframe="1d", seed=4)
    b = sb.synthetic_candles(240, timeframe="1d", seed=5, price=20.0)
    return {"AAA": a, "BBB": b.iloc[60:]}  # BBB is listed later


def honest(panel: Panel, lookback: int = 10) -> pd.DataFrame:
    """All in the symbol with the best past return, every 5 bars."""
    mom = panel.close.pct_change(lookback, fill_method=None)
    w = pd.DataFrame(np.nan, index=panel.index, columns=panel.symbols)
    for t in range(lookback, len(panel), 5):
        row = mom.iloc[t].dropna()
        if len(row):
            w.iloc[t] = 0.0
            w.iloc[t, panel.symbols.index(row.idxmax())] = 1.0
    return w


def peeking(panel: Panel, lookback: int = 10) -> pd.DataFrame:
    """The same, ranked on the next bar's return: it reads the future."""
    ahead = panel.close.shift(-1) / panel.close - 1.0
    w = pd.DataFrame(np.nan, index=panel.index, columns=panel.symbols)
    for t in range(lookback, len(panel) - 1, 5):
        row = ahead.iloc[t].dropna()
        if len(row):
            w.iloc[t] = 0.0
            w.iloc[t, panel.symbols.index(row.idxmax())] = 1.0
    return w


def test_an_honest_weights_strategy_passes():
    result = lookahead_check(honest, _frames(), samples=15)
    assert result.passed, result.detail


def test_a_weights_strategy_reading_the_next_bar_fails_naming_symbol_and_bar():
    result = lookahead_check(peeking, _frames(), samples=15)
    assert not result.passed
    assert "weight of" in result.detail and "look-ahead" in result.detail
    assert result.first_mismatch is not None


def test_a_targets_strategy_on_several_symbols_is_checked_per_slot():
    result = lookahead_check("sma_cross", _frames(), {"fast": 5, "slow": 20}, samples=10)
    assert result.passed, result.detail
