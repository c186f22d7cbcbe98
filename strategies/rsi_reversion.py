"""RSI mean reversion."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import rsi
from sparkbt.registry import Param, constraint


@constraint("lower < upper", "lower < upper")
def rsi_reversion(
    candles: pd.DataFrame,
    window: Annotated[int, Param(ge=2, le=10_000, help="RSI window, bars")] = 14,
    lower: Annotated[float, Param(ge=0, le=100, help="buy when RSI falls below this")] = 30.0,
    upper: Annotated[
        float, Param(ge=0, le=100, help="sell/short when RSI rises above this")
    ] = 70.0,
) -> pd.Series:
    """+1 when RSI < lower, -1 when RSI > upper, hold in between (NaN = no opinion)."""
    r = rsi(candles["close"].to_numpy(), window)
    target = np.where(r < lower, 1.0, np.where(r > upper, -1.0, np.nan))
    return pd.Series(target, index=candles.index)
