"""Parity with vectorbt 1.2 ``Portfolio.from_signals`` on real daily and hourly candles.

Real data: daily GOOG and hourly EURUSD shipped inside backtesting.py. Skipped
when vectorbt or backtesting.py is not installed (the test extra installs both).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import sparkbt as sb

vbt = pytest.importorskip("vectorbt")
bt_test = pytest.importorskip("backtesting.test")

KEYS = (
    "total_return",
    "total_trades",
    "win_rate",
    "max_drawdown",
    "sharpe",
    "sortino",
    "profit_factor",
    "expectancy",
    "total_fees",
)


def vectorbt_stats(close, targets, direction, fees, slippage, freq):
    kw = dict(size=np.inf, fees=fees, slippage=slippage, init_cash=10_000.0, freq=freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if direction == "long":
            pf = vbt.Portfolio.from_signals(close, targets > 0, targets <= 0, **kw)
        elif direction == "short":
            pf = vbt.Portfolio.from_signals(
                close, targets < 0, targets >= 0, direction="shortonly", **kw
            )
        else:
            pf = vbt.Portfolio.from_signals(
                close,
                targets > 0,
                targets == 0,
                short_entries=targets < 0,
                short_exits=targets == 0,
                **kw,
            )
        closed = pf.trades.closed
        return {
            "total_return": pf.total_return(),
            "total_trades": pf.trades.count(),
            "win_rate": closed.win_rate(),
            "max_drawdown": -pf.max_drawdown(),
            "sharpe": pf.sharpe_ratio(),
            "sortino": pf.sortino_ratio(),
            "profit_factor": closed.profit_factor(),
            "expectancy": closed.expectancy(),
            "total_fees": pf.orders.fees.sum(),
        }, pf.value().to_numpy()


@pytest.mark.parametrize("dataset,timeframe", [("GOOG", "1d"), ("EURUSD", "1h")])
@pytest.mark.parametrize("direction", ["long", "short", "both"])
@pytest.mark.parametrize("fast,slow", [(10, 30), (5, 50)])
def test_sma_cross_matches_vectorbt(dataset, timeframe, direction, fast, slow):
    candles = sb.load_candles(getattr(bt_test, dataset), timeframe=timeframe)
    res = sb.backtest(
        candles, "sma_cross", fast=fast, slow=slow, fees=0.001, slippage=0.0005, direction=direction
    )
    ref, ref_equity = vectorbt_stats(
        candles["close"], res.targets, direction, 0.001, 0.0005, timeframe
    )
    assert res.stats["closed_trades"] > 5  # a meaningful comparison
    np.testing.assert_allclose(res.equity.to_numpy(), ref_equity, rtol=1e-9)
    for key in KEYS:
        assert res.stats[key] == pytest.approx(float(ref[key]), rel=1e-9), key


def test_fee_free_all_in_matches_vectorbt_equity():
    candles = sb.load_candles(bt_test.GOOG, timeframe="1d")
    res = sb.backtest(candles, "ema_cross", fast=8, slow=21, direction="both")
    _, ref_equity = vectorbt_stats(candles["close"], res.targets, "both", 0.0, 0.0, "1d")
    np.testing.assert_allclose(res.equity.to_numpy(), ref_equity, rtol=1e-9)
