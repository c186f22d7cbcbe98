"""Momentum rotation: hold the recent best performers, rotated each period."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.indicators import rebalance_bars, top_k
from sparkbt.registry import Param


def momentum_rotation(
    panel: Panel,
    lookback: Annotated[int, Param(ge=1, le=100_000, help="return lookback, bars")] = 30,
    k: Annotated[int, Param(ge=1, le=10_000, help="symbols held at once")] = 1,
    every: Annotated[
        str, Param(help="rebalance on the first bar of each period: 1D, 1W, 1M, 3M, 1Y")
    ] = "1W",
) -> pd.DataFrame:
    """On the first bar of each calendar period `every`, the k symbols with the highest
    return over the last `lookback` bars (close against the last close at or before
    `lookback` bars back, ties to the earlier symbol) get 1/k each and every other
    symbol 0 (with fewer than k ranked, the rest stays cash); a symbol without a candle
    on the bar keeps its units (NaN), and no order is given before any symbol has
    `lookback` bars of history, nor between rebalance bars."""
    close = panel.close
    ret = _lookback_return(close, lookback)
    weights = np.where(top_k(ret, k), 1.0 / k, 0.0)
    weights[np.isnan(close.to_numpy())] = np.nan
    idle = ~rebalance_bars(panel.index, every) | np.isnan(ret).all(axis=1)
    weights[idle] = np.nan
    return pd.DataFrame(weights, index=close.index, columns=close.columns)


def _lookback_return(close: pd.DataFrame, lookback: int) -> np.ndarray:
    """close / last close `lookback` union bars back - 1; NaN without a price or history."""
    past = close.ffill().shift(lookback).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ret: np.ndarray = close.to_numpy() / past - 1.0
    ret[~np.isfinite(ret)] = np.nan
    return ret
