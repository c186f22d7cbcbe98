"""Long-short momentum: long the recent best performers, short the worst."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.indicators import rebalance_bars, top_k
from sparkbt.registry import Param


def momentum_ls(
    panel: Panel,
    lookback: Annotated[int, Param(ge=1, le=100_000, help="return lookback, bars")] = 30,
    k: Annotated[int, Param(ge=1, le=10_000, help="symbols in each leg")] = 1,
    every: Annotated[
        str, Param(help="rebalance on the first bar of each period: 1D, 1W, 1M, 3M, 1Y")
    ] = "1W",
) -> pd.DataFrame:
    """On the first bar of each calendar period `every`, rank the symbols by their
    return over the last `lookback` bars (as momentum_rotation): the top k get +0.5/k
    each and the bottom k -0.5/k each, so each leg is 0.5 and the row's gross 1 (with
    fewer than 2k ranked, each leg takes half of them and the rest stays cash); the
    others get 0. Shorting needs direction="both": under "long" the short leg is
    clipped to 0 and only the long half is invested. A symbol without a candle on the
    bar keeps its units (NaN); no orders before `lookback` bars of history, nor between
    rebalance bars."""
    close = panel.close
    ret = _lookback_return(close, lookback)
    per_leg = np.minimum(k, (~np.isnan(ret)).sum(axis=1) // 2)
    weights = np.zeros(ret.shape)
    weights[top_k(ret, per_leg)] = 0.5 / k
    weights[top_k(-ret, per_leg)] = -0.5 / k
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
