"""Strategies that return orders: the orders frame checked, run, tabled and saved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.order_run import ORDER_TABLE_COLUMNS, OrderRunResult
from sparkbt.engine.statspec import ORDER_STAT_KEYS


def _candles() -> pd.DataFrame:
    """Eight daily bars, prices chosen by hand."""
    index = pd.date_range("2024-01-01", periods=8, freq="1D", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {
            "open": [100.0, 101.0, 99.0, 97.0, 104.0, 106.0, 103.0, 108.0],
            "high": [102.0, 103.0, 100.0, 105.0, 107.0, 108.0, 109.0, 110.0],
            "low": [99.0, 98.0, 95.0, 96.0, 103.0, 102.0, 101.0, 107.0],
            "close": [101.0, 99.0, 97.0, 104.0, 106.0, 103.0, 108.0, 109.0],
            "volume": 1.0,
        },
        index=index,
    )


def orders_of(rows: list[dict]):
    def strategy(candles: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(rows)

    return strategy


def day(i: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i)


def test_a_bracket_fills_its_entry_and_one_leg():
    rows = [
        {"timestamp": day(0), "side": "buy", "qty": 10, "type": "limit", "price": 96.0},
        {"timestamp": day(2), "side": "sell", "qty": 10, "type": "stop", "stop": 94.0, "oco": 1},
        {"timestamp": day(2), "side": "sell", "qty": 10, "type": "limit", "price": 105.0, "oco": 1},
    ]
    res = sb.backtest(_candles(), orders_of(rows), cash=10_000.0)
    assert isinstance(res, OrderRunResult)
    orders = res.orders
    assert list(orders.columns) == list(ORDER_TABLE_COLUMNS)
    # the buy limit 96 rests from bar 1: bar 1's low 98 misses, bar 2's low 95 fills at 96
    assert orders.loc[0, "status"] == "filled" and orders.loc[0, "fill_price"] == 96.0
    assert orders.loc[0, "fill_time"] == day(2) and orders.loc[0, "fee_kind"] == "maker"
    # from bar 3 the pair rests: bar 3's high 105 takes the profit at 105; the stop is cancelled
    assert orders.loc[2, "status"] == "filled" and orders.loc[2, "fill_price"] == 105.0
    assert orders.loc[1, "status"] == "cancelled" and orders.loc[1, "reason"] == "oco"
    assert res.trades["pnl"].iloc[0] == pytest.approx(10 * (105.0 - 96.0))
    assert list(res.fills["order"]) == [0, 2]
    assert list(res.stats) == list(ORDER_STAT_KEYS)
    assert (res.stats["orders_filled"], res.stats["orders_expired"]) == (2, 0)


def test_the_minimal_shape_of_orders_with_epoch_milliseconds():
    ms = int(day(1).timestamp() * 1000)
    rows = [{"ts": ms, "side": "buy", "qty": 2}, {"ts": ms, "side": "sell", "qty": 1, "price": 104}]
    res = sb.backtest(_candles(), orders_of(rows))
    assert list(res.orders["type"]) == ["market", "limit"]
    # the market order fills at bar 1's close; the limit sell 104 from bar 2 on: bar 3 (high 105)
    assert res.orders.loc[0, "fill_price"] == 99.0
    assert res.orders.loc[1, "fill_time"] == day(3)
    assert res.orders.loc[1, "fill_price"] == 104.0


def test_evidence_has_the_orders_table_and_names_engine_v3(tmp_path):
    rows = [{"timestamp": day(1), "side": "buy", "qty": 1}]
    res = sb.backtest(_candles(), orders_of(rows))
    folder = res.save(tmp_path)
    assert (folder / "orders.parquet").is_file()
    back = pd.read_parquet(folder / "orders.parquet")
    assert list(back.columns) == list(ORDER_TABLE_COLUMNS)
    assert res.report["engine_version"] == "3" and res.report["kind"] == "orders"
    assert res.run_id == sb.backtest(_candles(), orders_of(rows)).run_id


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"timestamp": day(1), "side": "buy", "qty": 1, "colour": "red"}, "unknown order column"),
        ({"timestamp": day(1), "side": "buy", "qty": 1, "type": "iceberg"}, "row 1, column 'type'"),
        ({"timestamp": day(1), "side": "hold", "qty": 1}, "row 1, column 'side'"),
        ({"timestamp": day(1), "side": "buy", "qty": 0}, "row 1, column 'qty'"),
        ({"timestamp": day(1), "side": "buy", "qty": -2}, "row 1, column 'qty'"),
        ({"timestamp": day(1), "side": "buy", "qty": 1, "type": "limit"}, "column 'price'"),
        (
            {"timestamp": day(1), "side": "buy", "qty": 1, "type": "stop_limit", "price": 1},
            "column 'stop'",
        ),
        (
            {"timestamp": day(3), "side": "buy", "qty": 1, "tif": "gtd", "expire": day(1)},
            "column 'expire'",
        ),
        ({"timestamp": "yesterday", "side": "buy", "qty": 1}, "column 'timestamp'"),
        ({"timestamp": day(-3), "side": "buy", "qty": 1}, "before the first candle"),
    ],
)
def test_bad_orders_name_the_row_and_column(row, message):
    with pytest.raises(sb.StrategyError, match=message):
        sb.backtest(_candles(), orders_of([row]))


def test_unsorted_orders_are_refused_naming_the_row():
    rows = [
        {"timestamp": day(3), "side": "buy", "qty": 1},
        {"timestamp": day(1), "side": "sell", "qty": 1},
    ]
    with pytest.raises(sb.StrategyError, match="row 2, column 'timestamp'"):
        sb.backtest(_candles(), orders_of(rows))


def test_orders_decided_on_warmup_bars_are_dropped():
    rows = [
        {"timestamp": day(1), "side": "buy", "qty": 1},
        {"timestamp": day(4), "side": "buy", "qty": 2},
    ]
    res = sb.backtest(_candles(), orders_of(rows), trade_from=day(3))
    assert len(res.orders) == 1 and res.orders.loc[0, "qty"] == 2.0
    assert res.position.iloc[-1] == 2.0
    np.testing.assert_allclose(res.equity.iloc[0], res.config["cash"])


def test_categorical_columns_read_as_their_text():
    """side/type/tif as pandas categoricals: the same orders as plain text, and a bad
    category is named by its row."""
    rows = [
        {"timestamp": day(1), "side": "buy", "qty": 2, "type": "market", "tif": "gtc"},
        {"timestamp": day(1), "side": "sell", "qty": 1, "type": "limit", "price": 104},
    ]
    text = sb.backtest(_candles(), orders_of(rows))

    def categorical(candles: pd.DataFrame) -> pd.DataFrame:
        frame = pd.DataFrame(rows)
        return frame.astype({"side": "category", "type": "category", "tif": "category"})

    cats = sb.backtest(_candles(), categorical)
    pd.testing.assert_frame_equal(text.orders, cats.orders)
    bad = [rows[0], {**rows[1], "side": "hold"}]
    with pytest.raises(sb.StrategyError, match="row 2, column 'side': expected sell, buy"):
        sb.backtest(_candles(), lambda candles: pd.DataFrame(bad).astype({"side": "category"}))


def test_each_timestamp_belongs_to_the_last_bar_at_or_before_it():
    """On bars with gaps (hourly, two missing, then minutes), every order time maps to
    the bar a sorted search finds: a guess from the first spacing is only a shortcut."""
    from sparkbt.engine.orders import _bars

    hours = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC")
    index = hours.delete([2, 3]).append(pd.date_range(hours[-1], periods=5, freq="1min")[1:])
    ns = index.as_unit("ns").asi8
    rng = np.random.default_rng(5)
    lo, hi = ns[0] - 3_600 * 10**9, ns[-1] + 3_600 * 10**9
    picks = np.sort(np.concatenate([rng.integers(lo, hi, 200), ns, ns - 1]))
    stamps = pd.DatetimeIndex(picks, tz="UTC")
    expected = np.searchsorted(ns, picks, side="right") - 1
    assert np.array_equal(_bars(index, stamps), expected)
    assert _bars(index, index[[2]]).tolist() == [2]  # 04:00, right after the gap
    assert _bars(index, pd.DatetimeIndex([index[1] + pd.Timedelta("90min")])).tolist() == [1]
