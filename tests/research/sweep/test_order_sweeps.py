"""Sweeps and walk-forward of strategies that return orders: rows equal ``backtest``."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.portfolio_orders import PORTFOLIO_ORDER_STAT_KEYS
from sparkbt.engine.statspec import ORDER_STAT_KEYS
from sparkbt.registry import Param


def dip_buyer(
    candles: pd.DataFrame,
    dip: Annotated[float, Param(gt=0, lt=1)] = 0.02,
    hold: Annotated[int, Param(ge=1)] = 5,
) -> pd.DataFrame:
    """Every ``hold`` bars: a buy limit ``dip`` under the close, a sell limit as far above."""
    close = candles["close"].to_numpy()
    bars = np.arange(0, len(candles), hold)
    buys = pd.DataFrame(
        {
            "timestamp": candles.index[bars],
            "side": "buy",
            "qty": 1.0,
            "price": close[bars] * (1 - dip),
            "tif": "gtd",
            "expire": candles.index[np.minimum(bars + hold, len(candles) - 1)],
        }
    )
    sells = buys.assign(side="sell", price=close[bars] * (1 + dip))
    return pd.concat([buys, sells]).sort_values("timestamp", kind="stable")


def pair_dips(
    panel,
    dip: Annotated[float, Param(gt=0, lt=1)] = 0.02,
    hold: Annotated[int, Param(ge=1)] = 5,
) -> pd.DataFrame:
    """dip_buyer on each symbol of the panel, as one orders frame with a symbol column."""
    parts = [
        dip_buyer(frame, dip, hold).assign(symbol=symbol) for symbol, frame in panel.frames.items()
    ]
    return pd.concat(parts).sort_values("timestamp", kind="stable")


def assert_row_equals(row: pd.Series, stats: dict, keys: tuple[str, ...]) -> None:
    for key in keys:
        a, b = row[key], stats[key]
        assert (a != a and b is None) or a == b, f"{key}: sweep {a!r} != backtest {b!r}"


@pytest.fixture(scope="module")
def candles() -> pd.DataFrame:
    return sb.synthetic_candles(n=600, seed=11, timeframe="4h")


def test_single_symbol_rows_equal_backtest(candles) -> None:
    grid = {"dip": [0.01, 0.03], "hold": [4]}
    fees = {"fees": [0.0, 0.002], "maker_fees": [0.0005, 0.001]}
    out = sb.sweep(candles, dip_buyer, workers=1, cash=5000.0, **fees, **grid)
    assert list(out.columns[-len(ORDER_STAT_KEYS) :]) == list(ORDER_STAT_KEYS)
    assert len(out) == 8 and out["orders_filled"].min() > 0
    assert out["total_fees"].nunique() == 4  # maker fees swept; every fill here is a maker
    for _, row in out.iterrows():
        res = sb.backtest(
            candles,
            dip_buyer,
            dip=row["dip"],
            hold=int(row["hold"]),
            fees=row["fees"],
            maker_fees=row["maker_fees"],
            cash=5000.0,
        )
        assert_row_equals(row, res.stats, ORDER_STAT_KEYS)


def test_portfolio_rows_equal_backtest(candles) -> None:
    other = sb.synthetic_candles(n=600, seed=12, timeframe="4h")
    frames = {"A": candles, "B": other.iloc[50:]}
    out = sb.sweep(frames, pair_dips, workers=1, dip=[0.01, 0.03], hold=[4, 9], cash=500.0)
    assert list(out.columns[-len(PORTFOLIO_ORDER_STAT_KEYS) :]) == list(PORTFOLIO_ORDER_STAT_KEYS)
    for _, row in out.iterrows():
        res = sb.backtest(frames, pair_dips, dip=row["dip"], hold=int(row["hold"]), cash=500.0)
        assert_row_equals(row, res.stats, PORTFOLIO_ORDER_STAT_KEYS)
    # a single-symbol orders strategy on several symbols sweeps too
    one = sb.sweep(frames, dip_buyer, workers=1, dip=[0.02], hold=[5], cash=500.0)
    res = sb.backtest(frames, dip_buyer, dip=0.02, hold=5, cash=500.0)
    assert_row_equals(one.iloc[0], res.stats, PORTFOLIO_ORDER_STAT_KEYS)


def test_walk_forward_of_orders(candles) -> None:
    wf = sb.walk_forward(
        candles, dip_buyer, train=300, test=100, dip=[0.01, 0.03], hold=[4, 9], workers=1
    )
    assert "orders_filled" in wf.oos.columns and len(wf.oos) == 3
    fold = wf.folds.iloc[0]
    res = sb.backtest(
        candles.iloc[: 300 + 100],
        dip_buyer,
        dip=fold["dip"],
        hold=int(fold["hold"]),
        trade_from=fold["test_start"],
    )
    assert_row_equals(wf.oos.iloc[0], res.stats, ORDER_STAT_KEYS)
