"""Moving-average crossover entered by a buy limit on a pullback, left by a market sell."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import sma_many
from sparkbt.registry import Param, constraint


@constraint("fast < slow", "fast < slow")
def limit_pullback(
    candles: pd.DataFrame,
    fast: Annotated[int, Param(ge=1, le=100_000, help="fast SMA window, bars")] = 10,
    slow: Annotated[int, Param(ge=2, le=100_000, help="slow SMA window, bars")] = 30,
    pullback: Annotated[
        float, Param(ge=0.0, le=0.99, help="limit below the close, fraction")
    ] = 0.01,
    bars: Annotated[int, Param(ge=1, le=10_000, help="bars the buy limit stays good for")] = 5,
    qty: Annotated[float, Param(ge=1e-8, le=1e12, help="units per order")] = 1.0,
) -> pd.DataFrame:
    """Orders: when SMA_fast of the close crosses above SMA_slow (the edge bar only), a
    buy limit of `qty` at close * (1 - pullback), good for `bars` bars (gtd): it fills
    if the price comes back down to it, at the limit or at a lower open. When it
    crosses below, a market sell of `qty` (at that bar's close, or the next open with
    fill="next_open"). Under direction long the sell is reduce only: it closes what
    the buy opened, is cut to the position when less filled, and is rejected when the
    buy never filled (flat)."""
    close = candles["close"].to_numpy()
    fast_ma, slow_ma = sma_many(close, (fast, slow))
    gap = fast_ma - slow_ma
    before = np.concatenate([[np.nan], gap[:-1]])  # NaN comparisons are False: no warm-up edge
    up = (before <= 0) & (gap > 0)
    down = (before >= 0) & (gap < 0)
    down &= np.cumsum(up) > 0  # a sell before the first buy could only be rejected
    bar = np.flatnonzero(up | down)
    buy = up[bar]
    index = candles.index
    return pd.DataFrame(
        {
            "timestamp": index[bar],
            "side": np.where(buy, "buy", "sell"),
            "qty": float(qty),
            "type": np.where(buy, "limit", "market"),
            "price": np.where(buy, close[bar] * (1.0 - pullback), np.nan),
            "tif": np.where(buy, "gtd", "gtc"),
            "expire": np.where(buy, index[np.minimum(bar + bars, len(close) - 1)], pd.NaT),
        }
    )
