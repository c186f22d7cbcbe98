"""Inverse volatility: weight each symbol by the inverse of its recent volatility."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.indicators import rebalance_bars, rolling_std
from sparkbt.registry import Param


def inverse_volatility(
    panel: Panel,
    window: Annotated[int, Param(ge=2, le=100_000, help="volatility window, returns")] = 30,
    every: Annotated[
        str, Param(help="rebalance on the first bar of each period: 1D, 1W, 1M, 3M, 1Y")
    ] = "1W",
) -> pd.DataFrame:
    """On the first bar of each calendar period `every`, each symbol with a candle gets
    a weight proportional to 1 / the population standard deviation of its last `window`
    bar returns (close to close over its own candles), the weights summing to 1; a
    symbol with fewer than `window` returns or with flat prices (zero deviation) gets 0,
    one without a candle on the bar keeps its units (NaN), and no order is given before
    any symbol has `window` returns, nor between rebalance bars."""
    close = panel.close
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / _own_bar_volatility(close, window)
        inverse[~np.isfinite(inverse)] = np.nan  # flat prices (1/0) or no history yet
        total = np.nansum(inverse, axis=1, keepdims=True)
        weights = np.where(np.isnan(inverse), 0.0, inverse / total)
    weights[np.isnan(close.to_numpy())] = np.nan
    idle = ~rebalance_bars(panel.index, every) | (total[:, 0] == 0.0)
    weights[idle] = np.nan
    return pd.DataFrame(weights, index=close.index, columns=close.columns)


def _own_bar_volatility(close: pd.DataFrame, window: int) -> np.ndarray:
    """Rolling std of each symbol's returns over its own candles; NaN where it has none."""
    out = np.full(close.shape, np.nan)
    for j, (_, column) in enumerate(close.items()):
        rows = np.flatnonzero(column.notna().to_numpy())
        prices = column.to_numpy()[rows]
        returns = np.full(len(prices), np.nan)
        returns[1:] = prices[1:] / prices[:-1] - 1.0
        out[rows, j] = rolling_std(returns, window)
    return out
