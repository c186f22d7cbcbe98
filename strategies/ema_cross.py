"""Exponential moving-average crossover."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import ema
from sparkbt.registry import Param, constraint
from sparkbt.sweeps.fast import crossover_rows, sweep_rows


@sweep_rows(crossover_rows(ema))  # sweeps: each EMA once per distinct window
@constraint("fast < slow", "fast < slow")
def ema_cross(
    candles: pd.DataFrame,
    fast: Annotated[int, Param(ge=1, le=100_000, help="fast EMA span, bars")] = 12,
    slow: Annotated[int, Param(ge=2, le=100_000, help="slow EMA span, bars")] = 26,
) -> pd.Series:
    """sign(EMA_fast - EMA_slow) of close; 0 until the slow EMA has `slow` bars."""
    close = candles["close"].to_numpy()
    diff = ema(close, fast) - ema(close, slow)
    return pd.Series(np.nan_to_num(np.sign(diff)), index=candles.index)
