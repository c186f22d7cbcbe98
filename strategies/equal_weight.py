"""Equal weight: the same share of the portfolio in every symbol, rebalanced each period."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.indicators import rebalance_bars
from sparkbt.registry import Param


def equal_weight(
    panel: Panel,
    every: Annotated[
        str, Param(help="rebalance on the first bar of each period: 1D, 1W, 1M, 3M, 1Y")
    ] = "1M",
) -> pd.DataFrame:
    """On the first bar of each calendar period `every` (UTC), each of the m symbols
    with a candle on that bar gets weight 1/m; a symbol without a candle there cannot
    trade and keeps its units (NaN), as does every symbol on the other bars."""
    close = panel.close
    priced = ~np.isnan(close.to_numpy())
    count = np.maximum(priced.sum(axis=1, keepdims=True), 1)
    weights = np.where(priced, 1.0 / count, np.nan)
    weights[~rebalance_bars(panel.index, every)] = np.nan
    return pd.DataFrame(weights, index=close.index, columns=close.columns)
