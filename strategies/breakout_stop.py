"""Channel breakout entered by a buy stop, with an OCO take-profit / stop-loss bracket."""

from typing import Annotated

import numpy as np
import pandas as pd

from sparkbt.indicators import rolling_max
from sparkbt.registry import Param


def breakout_stop(
    candles: pd.DataFrame,
    lookback: Annotated[int, Param(ge=2, le=10_000, help="breakout channel, bars")] = 20,
    take_profit: Annotated[
        float, Param(ge=0.0001, le=10.0, help="take-profit above the entry, fraction")
    ] = 0.05,
    stop_loss: Annotated[
        float, Param(ge=0.0001, le=0.99, help="stop-loss below the entry, fraction")
    ] = 0.02,
    qty: Annotated[float, Param(ge=1e-8, le=1e12, help="units per entry")] = 1.0,
    bars: Annotated[int, Param(ge=1, le=10_000, help="bars the entry stop stays good for")] = 5,
) -> pd.DataFrame:
    """Orders: on a bar whose close crosses above the high of the `lookback` bars before
    it (the edge only, not every bar above), three orders decided on that bar:

    * a buy stop of `qty` at the channel high including that bar (the breakout bar's
      high at least), good for `bars` bars (gtd): it fills once the price trades at or
      through it again, at that level or at a gapping open;
    * the exits, one OCO group, stop listed first (a bar that reaches both takes the
      loss): a sell stop at entry * (1 - stop_loss) and a sell limit at
      entry * (1 + take_profit), entry being the buy stop's level. They rest from the
      next bar and stay good for `lookback` bars after the entry's last bar.

    The strategy cannot see fills, so the exits are placed with the entry. If the entry
    never fills, an exit whose level is reached is a sell while flat: rejected under
    direction long (reduce only) and its partner stays until it expires. Run it long
    only: under `both` such a sell would open a short. A position still open when its
    exits expire stays open until a later bracket's exit closes it or the run ends.
    """
    high = candles["high"].to_numpy()
    close = candles["close"].to_numpy()
    n = len(close)
    channel = rolling_max(high, lookback)
    prior = np.concatenate([[np.nan], channel[:-1]])
    above = close > prior  # NaN during warm-up compares False
    edge = np.flatnonzero(above & ~np.concatenate([[False], above[:-1]]))
    level = channel[edge]
    index = candles.index
    entry_end = index[np.minimum(edge + bars, n - 1)]
    exit_end = index[np.minimum(edge + bars + lookback, n - 1)]
    group = [f"bracket {i}" for i in range(len(edge))]
    entries = pd.DataFrame(
        {
            "timestamp": index[edge],
            "side": "buy",
            "type": "stop",
            "price": np.nan,
            "stop": level,
            "expire": entry_end,
            "oco": None,
            "tag": "entry",
        }
    )
    stops = pd.DataFrame(
        {
            "timestamp": index[edge],
            "side": "sell",
            "type": "stop",
            "price": np.nan,
            "stop": level * (1.0 - stop_loss),
            "expire": exit_end,
            "oco": group,
            "tag": "stop_loss",
        }
    )
    profits = pd.DataFrame(
        {
            "timestamp": index[edge],
            "side": "sell",
            "type": "limit",
            "price": level * (1.0 + take_profit),
            "stop": np.nan,
            "expire": exit_end,
            "oco": group,
            "tag": "take_profit",
        }
    )
    frame = pd.concat([entries, stops, profits], keys=(0, 1, 2), names=["leg", "row"])
    order = np.lexsort((frame.index.get_level_values("leg"), frame.index.get_level_values("row")))
    out = frame.iloc[order].reset_index(drop=True)
    out["qty"] = float(qty)
    out["tif"] = "gtd"
    return out[["timestamp", "side", "qty", "type", "price", "stop", "tif", "expire", "oco", "tag"]]
