"""Bollinger-band mean reversion."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import rolling_std, sma
from sparkbt.registry import Param


def bollinger(
    candles: pd.DataFrame,
    window: Annotated[int, Param(ge=2, le=10_000, help="band window, bars")] = 20,
    k: Annotated[float, Param(ge=0.1, le=10, help="band width in standard deviations")] = 2.0,
) -> pd.Series:
    """+1 below the lower band, -1 above the upper band, flat when close crosses the middle."""
    close = candles["close"].to_numpy()
    mid = sma(close, window)
    width = k * rolling_std(close, window)
    side = np.sign(close - mid)
    prev_side = np.concatenate([[np.nan], side[:-1]])
    crossed = (side != prev_side) & ~np.isnan(prev_side) & ~np.isnan(side)
    target = np.where(
        close < mid - width,
        1.0,
        np.where(close > mid + width, -1.0, np.where(crossed, 0.0, np.nan)),
    )
    return pd.Series(target, index=candles.index)
