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
    * the exits, one OCO group (its ``oco`` value: the number of the bar that decided
      it), stop listed first (a bar that reaches both takes the loss): a sell stop at
      entry * (1 - stop_loss) and a sell limit at entry * (1 + take_profit), entry
      being the buy stop's level. They rest from the next bar and stay good for
      `lookback` bars after the entry's last bar.

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
    above = np.zeros(n, dtype=bool)  # close above the prior bar's channel (NaN: False)
    np.greater(close[1:], channel[:-1], out=above[1:])
    edge = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    level = channel[edge]
    k = len(edge)
    legs = np.tile(np.arange(3), k)  # entry, stop_loss, take_profit of each edge, in that order
    last = np.minimum(edge + bars, n - 1)
    exit_last = np.minimum(edge + bars + lookback, n - 1)
    none = np.full(k, np.nan)

    def rows(entry: np.ndarray, loss: np.ndarray, profit: np.ndarray) -> np.ndarray:
        return np.column_stack((entry, loss, profit)).ravel()

    return pd.DataFrame(
        {
            "timestamp": candles.index[np.repeat(edge, 3)],
            "side": pd.Categorical.from_codes(np.minimum(legs, 1), ["buy", "sell"]),
            "qty": np.full(3 * k, float(qty)),
            "type": pd.Categorical.from_codes(legs // 2, ["stop", "limit"]),
            "price": rows(none, none, level * (1.0 + take_profit)),
            "stop": rows(level, level * (1.0 - stop_loss), none),
            "tif": pd.Categorical.from_codes(np.zeros(3 * k, np.int8), ["gtd"]),
            "expire": candles.index[rows(last, exit_last, exit_last)],
            "oco": pd.array(rows(none, edge, edge), dtype="Int64"),  # exits: their edge's bar
            "tag": pd.Categorical.from_codes(legs, ["entry", "stop_loss", "take_profit"]),
        }
    )
