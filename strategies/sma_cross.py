"""Simple moving-average crossover."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import sma, sma_many
from sparkbt.registry import Param, constraint
from sparkbt.sweeps.fast import crossover_rows, sweep_rows


@sweep_rows(crossover_rows(sma))  # sweeps: each SMA once per distinct window
@constraint("fast < slow", "fast < slow")
def sma_cross(
    candles: pd.DataFrame,
    fast: Annotated[int, Param(ge=1, le=100_000, help="fast SMA window, bars")] = 10,
    slow: Annotated[int, Param(ge=2, le=100_000, help="slow SMA window, bars")] = 30,
) -> pd.Series:
    """sign(SMA_fast - SMA_slow) of close: long while fast > slow; 0 during warm-up."""
    close = candles["close"].to_numpy()
    fast_ma, slow_ma = sma_many(close, (fast, slow))
    target = np.sign(fast_ma - slow_ma)
    target[np.isnan(target)] = 0.0  # warm-up: flat
    return pd.Series(target, index=candles.index)
