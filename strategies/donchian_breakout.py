"""Donchian channel breakout."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import rolling_max, rolling_min
from sparkbt.registry import Param, constraint


def _shift(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], x[:-1]])


@constraint("exit_window <= window", "exit_window <= window")
def donchian_breakout(
    candles: pd.DataFrame,
    window: Annotated[int, Param(ge=2, le=10_000, help="breakout channel, bars")] = 20,
    exit_window: Annotated[int, Param(ge=1, le=10_000, help="exit channel, bars")] = 10,
) -> pd.Series:
    """+1 on a close above the prior `window` high, -1 below the prior low; exit on the
    opposite `exit_window` channel; hold otherwise."""
    close = candles["close"].to_numpy()
    hi = _shift(rolling_max(candles["high"].to_numpy(), window))
    lo = _shift(rolling_min(candles["low"].to_numpy(), window))
    exit_hi = _shift(rolling_max(candles["high"].to_numpy(), exit_window))
    exit_lo = _shift(rolling_min(candles["low"].to_numpy(), exit_window))
    entry = np.where(close > hi, 1.0, np.where(close < lo, -1.0, np.nan))
    # exits: a long leaves below the exit low, a short above the exit high; with the
    # target held as NaN otherwise, 0 here only matters for the side that is open
    exit_long = close < exit_lo
    exit_short = close > exit_hi
    target = pd.Series(entry).ffill().to_numpy()
    held = np.nan_to_num(target)
    out = entry.copy()
    out[np.isnan(entry) & (((held > 0) & exit_long) | ((held < 0) & exit_short))] = 0.0
    return pd.Series(out, index=candles.index)
