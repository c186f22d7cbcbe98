"""Golden numbers on the packaged sample (always runs, no vectorbt needed).

The pinned values were produced by vectorbt 1.2 ``Portfolio.from_signals``
(close price, size=inf, fees 0.001, slippage 0.0005) on the same signals, and
agree with sparkbt to ~1e-14; ``test_parity_vectorbt`` re-checks the method
on real candles whenever vectorbt is installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb

VECTORBT = {
    "long": {
        "total_return": -0.40066265621693103,
        "total_trades": 121,
        "win_rate": 0.3333333333333333,
        "max_drawdown": 0.7413794253388759,
        "sharpe": -0.10191917317872487,
        "sortino": -0.14505125053459098,
        "profit_factor": 0.8884638286033373,
        "expectancy": -29.26612247286039,
        "total_fees": 2330.9839232029767,
    },
    "both": {
        "total_return": -0.7314519966395386,
        "total_trades": 242,
        "win_rate": 0.3112033195020747,
        "max_drawdown": 0.8330674468812804,
        "sharpe": -0.40742044936834343,
        "sortino": -0.5706657670396964,
        "profit_factor": 0.8259411828915817,
        "expectancy": -29.43095839134122,
        "total_fees": 3161.8342615245983,
    },
}


@pytest.mark.parametrize("direction", ["long", "both"])
def test_sma_cross_golden_stats(sample, direction):
    res = sb.backtest(
        sample, "sma_cross", fast=10, slow=30, fees=0.001, slippage=0.0005, direction=direction
    )
    for key, want in VECTORBT[direction].items():
        assert res.stats[key] == pytest.approx(want, rel=1e-9), key
    s = res.stats
    # the rest follow from the definitions, recomputed here independently
    assert s["final_equity"] == pytest.approx(10_000 * (1 + s["total_return"]), rel=1e-12)
    days = (sample.index[-1] - sample.index[0]) / pd.Timedelta(days=1)
    assert s["cagr"] == pytest.approx((1 + s["total_return"]) ** (365.25 / days) - 1, rel=1e-12)
    assert s["calmar"] == pytest.approx(s["cagr"] / s["max_drawdown"], rel=1e-12)
    assert s["exposure"] == pytest.approx(np.mean(res.targets.to_numpy() != 0), rel=1e-12)
    assert s["benchmark_return"] == pytest.approx(
        sample["close"].iloc[-1] / sample["close"].iloc[0] - 1, rel=1e-12
    )
    assert s["closed_trades"] == s["total_trades"] - 1  # the last trade is still open
