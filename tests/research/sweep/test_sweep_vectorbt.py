"""A sweep equals vectorbt 1.2 ``from_signals`` on the same grid (skipped without vectorbt)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sparkbt.indicators import sma
from sparkbt.research.sweep import sweep

vbt = pytest.importorskip("vectorbt")


def test_sma_grid_matches_vectorbt(candles) -> None:
    fast, slow = [3, 7, 12], [20, 45]
    out = sweep(candles, "sma_cross", fast=fast, slow=slow, fees=0.001, workers=1)
    close = candles["close"]
    c = close.to_numpy()
    cols = {(f, s): np.nan_to_num(np.sign(sma(c, f) - sma(c, s))) for f in fast for s in slow}
    targets = pd.DataFrame(cols, index=candles.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pf = vbt.Portfolio.from_signals(
            close, targets > 0, targets <= 0, size=np.inf, fees=0.001, init_cash=10_000.0, freq="1h"
        )
        want = {
            "total_return": pf.total_return().to_numpy(),
            "max_drawdown": -pf.max_drawdown().to_numpy(),
            "total_trades": pf.trades.count().to_numpy(),
            "win_rate": pf.trades.closed.win_rate().to_numpy(),
            "sharpe": pf.sharpe_ratio().to_numpy(),
        }
    for key, values in want.items():
        np.testing.assert_allclose(out[key].to_numpy(), values, rtol=1e-9, err_msg=key)
