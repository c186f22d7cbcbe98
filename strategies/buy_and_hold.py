"""Buy and hold: the benchmark every strategy should beat."""

import numpy as np
import pandas as pd


def buy_and_hold(candles: pd.DataFrame) -> pd.Series:
    """Long all equity from the first bar to the last."""
    return pd.Series(np.ones(len(candles)), index=candles.index)
