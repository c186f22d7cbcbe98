"""The built-in order strategies: their orders on hand-made candles, schemas, a sample run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.order_run import OrderRunResult
from sparkbt.engine.registry import get_strategy


def _candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1D", tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    return frame.assign(volume=1.0)


BREAKOUT = _candles(
    [
        (100.0, 101.0, 99.0, 100.0),
        (100.0, 102.0, 99.0, 101.0),
        (101.0, 102.0, 100.0, 101.0),
        (101.0, 105.0, 100.0, 104.0),  # 104 > 102, the prior 3-bar high: edge, entry 105
        (104.0, 106.0, 103.0, 105.5),  # above 105 again, no edge; the buy stop fills at 105
        (105.5, 109.0, 104.0, 105.0),  # high 109 >= 108.15: take-profit, the stop cancelled
        (105.0, 106.0, 103.0, 104.0),
        (104.0, 105.0, 100.0, 101.0),
        (101.0, 111.0, 100.0, 110.0),  # 110 > 109: edge, entry 111 (never reached)
        (109.0, 110.0, 106.0, 107.0),
        (107.0, 108.0, 104.0, 105.0),  # low 104 <= 105.45: a sell stop while flat; entry expires
        (105.0, 115.0, 104.0, 114.0),  # high 115 >= 114.33: a sell limit while flat; edge
    ]
)
BREAKOUT_PARAMS = {"lookback": 3, "take_profit": 0.03, "stop_loss": 0.05, "qty": 2.0, "bars": 2}


def test_breakout_stop_places_a_bracket_on_each_breakout_edge():
    orders = get_strategy("breakout_stop").func(BREAKOUT, **BREAKOUT_PARAMS)
    day = BREAKOUT.index
    assert list(orders["timestamp"]) == [day[3]] * 3 + [day[8]] * 3 + [day[11]] * 3
    assert list(orders["tag"]) == ["entry", "stop_loss", "take_profit"] * 3
    assert list(orders["side"]) == ["buy", "sell", "sell"] * 3
    assert list(orders["type"]) == ["stop", "stop", "limit"] * 3
    assert (orders["qty"] == 2.0).all() and (orders["tif"] == "gtd").all()
    np.testing.assert_allclose(orders["stop"].iloc[[0, 3, 6]], [105.0, 111.0, 115.0])
    np.testing.assert_allclose(orders["stop"].iloc[[1, 4, 7]], [99.75, 105.45, 109.25])
    np.testing.assert_allclose(orders["price"].iloc[[2, 5, 8]], [108.15, 114.33, 118.45])
    # the entry is good for 2 bars; the exits 3 (lookback) bars more, cut at the last bar
    assert (
        list(orders["expire"])
        == [day[5], day[8], day[8], day[10], day[11], day[11]] + [day[11]] * 3
    )
    assert orders["oco"].isna().tolist() == [True, False, False] * 3
    assert orders["oco"].iloc[1] == orders["oco"].iloc[2] != orders["oco"].iloc[4]


def test_breakout_stop_run_fills_the_entry_and_one_leg_and_rejects_exits_while_flat():
    res = sb.backtest(BREAKOUT, "breakout_stop", **BREAKOUT_PARAMS)
    assert isinstance(res, OrderRunResult)
    table = res.orders
    assert list(table["status"]) == [
        "filled",  # buy stop 105 at bar 4 (open 104 below it: at the stop)
        "cancelled",  # its stop-loss, by the take-profit
        "filled",  # take-profit 108.15 at bar 5, a maker fill
        "expired",  # the second entry: highs 110 and 108 never reach 111
        "rejected",  # its stop-loss reached at bar 10 with nothing to sell
        "rejected",  # its take-profit reached at bar 11, still flat
        "open",  # the last bar's bracket
        "open",
        "open",
    ]
    assert list(table["reason"].iloc[:6]) == [
        "none",
        "oco",
        "none",
        "expired",
        "reduce_only",
        "reduce_only",
    ]
    assert table.loc[0, "fill_price"] == 105.0 and table.loc[0, "fee_kind"] == "taker"
    assert table.loc[2, "fill_price"] == pytest.approx(108.15)
    assert table.loc[2, "fee_kind"] == "maker"
    assert list(table["fill_time"].iloc[[0, 2]]) == [BREAKOUT.index[4], BREAKOUT.index[5]]
    assert res.trades["pnl"].tolist() == pytest.approx([2.0 * (108.15 - 105.0)])
    assert (res.position >= 0).all()


PULLBACK = _candles(
    [
        (12.0, 12.5, 11.9, 12.0),
        (12.0, 12.5, 10.9, 11.0),
        (11.0, 11.5, 9.9, 10.0),
        (10.0, 13.0, 9.9, 12.5),  # SMA2 11.25 > SMA3 10.83: up edge, buy limit 12.25
        (12.5, 13.5, 12.2, 13.0),  # low 12.2: the limit fills at 12.25
        (13.0, 13.5, 10.9, 11.0),  # SMA2 12 < SMA3 12.17: down edge, market sell at 11
        (11.0, 11.5, 7.9, 8.0),
        (8.0, 8.5, 7.9, 8.0),
        (8.0, 12.5, 7.9, 12.0),  # up edge on the last bar: buy limit 11.76, left open
    ]
)


def test_limit_pullback_orders_on_crossover_edges():
    params = {"fast": 2, "slow": 3, "pullback": 0.02, "bars": 2, "qty": 3.0}
    orders = get_strategy("limit_pullback").func(PULLBACK, **params)
    day = PULLBACK.index
    assert list(orders["timestamp"]) == [day[3], day[5], day[8]]
    assert list(orders["side"]) == ["buy", "sell", "buy"]
    assert list(orders["type"]) == ["limit", "market", "limit"]
    np.testing.assert_allclose(orders["price"], [12.25, np.nan, 11.76])
    assert list(orders["tif"]) == ["gtd", "gtc", "gtd"]
    assert orders["expire"].iloc[0] == day[5] and orders["expire"].iloc[2] == day[8]
    res = sb.backtest(PULLBACK, "limit_pullback", **params)
    assert list(res.orders["status"]) == ["filled", "filled", "open"]
    assert list(res.orders["fill_price"].iloc[:2]) == [12.25, 11.0]
    assert list(res.orders["fee_kind"].iloc[:2]) == ["maker", "taker"]
    assert res.trades["pnl"].tolist() == pytest.approx([3.0 * (11.0 - 12.25)])


def test_schemas_declare_ranges_and_refuse_bad_values():
    params = {p["name"]: p for p in sb.get_strategy("breakout_stop").schema()["params"]}
    assert list(params) == ["lookback", "take_profit", "stop_loss", "qty", "bars"]
    assert (params["lookback"]["type"], params["lookback"]["default"]) == ("int", 20)
    assert (params["stop_loss"]["min"], params["stop_loss"]["max"]) == (0.0001, 0.99)
    pull = [p["name"] for p in sb.get_strategy("limit_pullback").schema()["params"]]
    assert pull == ["fast", "slow", "pullback", "bars", "qty"]
    with pytest.raises(sb.StrategyError, match="stop_loss"):
        sb.backtest(BREAKOUT, "breakout_stop", stop_loss=1.5)
    with pytest.raises(sb.StrategyError, match="fast < slow"):
        sb.backtest(PULLBACK, "limit_pullback", fast=5, slow=3)


def test_breakout_stop_on_the_packaged_sample():
    res = sb.backtest(sb.sample_candles(), "breakout_stop", fees=0.001, maker_fees=0.0005)
    table = res.orders
    assert res.stats["total_trades"] > 10 and not res.stats["ruined"]
    assert (res.position >= 0).all()  # long only: no exit ever opens a short
    entries = table[table["tag"] == "entry"]
    assert set(entries["status"]) <= {"filled", "partial", "expired", "rejected", "open"}
    filled = entries[entries["status"].isin(["filled", "partial"])]
    assert (filled["fill_price"] >= filled["stop"] - 1e-9).all()  # a buy stop never fills under
    assert (filled["fill_time"] > filled["timestamp"]).all()  # nor on its own bar
    assert (filled["fill_time"] <= filled["expire"]).all()
    profits = table[(table["tag"] == "take_profit") & (table["status"] == "filled")]
    assert (profits["fill_price"] >= profits["price"] - 1e-9).all()
    assert "maker" in set(profits["fee_kind"])
    # one leg of a pair filled: the other is never filled too
    done = table[table["status"].isin(["filled", "partial"]) & table["oco"].notna()]
    assert not done["oco"].duplicated().any()
    counts = table["status"].value_counts()
    assert res.stats["orders_filled"] == counts.get("filled", 0) + counts.get("partial", 0)
