"""Orders of a portfolio: one cash across symbols, each order against its own symbol's bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.order_run import ORDER_TABLE_COLUMNS
from sparkbt.engine.portfolio_orders import PORTFOLIO_ORDER_STAT_KEYS, PortfolioOrderResult
from sparkbt.errors import StrategyError


def day(i: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i)


def _frame(bars: dict[int, tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([day(i) for i in bars], name="timestamp")
    rows = np.array(list(bars.values()))
    return pd.DataFrame(
        {"open": rows[:, 0], "high": rows[:, 1], "low": rows[:, 2], "close": rows[:, 3]},
        index=index,
    ).assign(volume=1.0)


def two_symbols() -> dict[str, pd.DataFrame]:
    """A trades every day; B has no candle on day 2."""
    a = {
        0: (10.0, 10.0, 10.0, 10.0),
        1: (10.0, 11.0, 9.0, 10.0),
        2: (8.0, 9.0, 7.5, 8.5),
        3: (9.0, 9.0, 9.0, 9.0),
        4: (9.0, 9.0, 9.0, 9.0),
    }
    b = {
        0: (20.0, 20.0, 20.0, 20.0),
        1: (20.0, 21.0, 19.0, 20.0),
        3: (19.0, 20.0, 17.0, 18.0),
        4: (18.0, 18.0, 18.0, 18.0),
    }
    return {"A": _frame(a), "B": _frame(b)}


def portfolio_orders(rows: list[dict]):
    def strategy(panel) -> pd.DataFrame:
        return pd.DataFrame(rows)

    return strategy


def test_buys_share_one_cash_and_the_later_one_is_cut():
    rows = [
        {"timestamp": day(0), "symbol": "A", "side": "buy", "qty": 60},
        {"timestamp": day(0), "symbol": "B", "side": "buy", "qty": 30},
    ]
    res = sb.backtest(two_symbols(), portfolio_orders(rows), cash=1000.0)
    assert isinstance(res, PortfolioOrderResult)
    orders = res.orders
    assert list(orders.columns) == ["symbol", *ORDER_TABLE_COLUMNS]
    # A takes 60 x 10 = 600; the 400 left buy 20 of B's 30 at 20
    assert list(orders["status"]) == ["filled", "partial"]
    assert orders.loc[1, "filled"] == 20.0 and orders.loc[1, "reason"] == "no_cash"
    assert res.cash_curve.iloc[0] == 0.0
    assert list(res.stats) == list(PORTFOLIO_ORDER_STAT_KEYS)
    assert res.stats["orders_filled"] == 2 and res.stats["rejected_orders"] == 0
    # day 2: B has no candle and is valued at its last close 20
    assert res.equity.iloc[2] == pytest.approx(60 * 8.5 + 20 * 20.0)


def test_an_order_the_open_reaches_fills_before_an_older_one_inside_the_bar():
    rows = [
        {"timestamp": day(0), "symbol": "B", "side": "buy", "qty": 50, "price": 17.5},
        {"timestamp": day(2), "symbol": "A", "side": "buy", "qty": 100, "price": 9.5},
    ]
    res = sb.backtest(two_symbols(), portfolio_orders(rows), cash=1000.0)
    orders = res.orders
    # day 3: A opens at 9 <= 9.5 and fills at the open (step 3): 900 spent; B's older
    # limit 17.5 is reached inside the bar (low 17) and buys what 100 of cash buys
    assert list(res.fills["symbol"]) == ["A", "B"]
    assert orders.loc[1, "fill_price"] == 9.0 and orders.loc[1, "fee_kind"] == "taker"
    assert orders.loc[0, "status"] == "partial" and orders.loc[0, "fee_kind"] == "maker"
    assert orders.loc[0, "filled"] == pytest.approx(100.0 / 17.5)
    assert (orders["fill_time"] == day(3)).all()


def test_a_symbol_without_a_candle_takes_no_fill_and_its_orders_wait():
    rows = [
        {"timestamp": day(1), "symbol": "A", "side": "buy", "qty": 10},
        {"timestamp": day(1), "symbol": "B", "side": "buy", "qty": 10},
        {"timestamp": day(1), "symbol": "B", "side": "buy", "qty": 5, "price": 19.5, "tif": "ioc"},
        {
            "timestamp": day(1),
            "symbol": "B",
            "side": "buy",
            "qty": 5,
            "price": 30.0,
            "tif": "gtd",
            "expire": day(2),
        },
    ]
    res = sb.backtest(two_symbols(), portfolio_orders(rows), cash=1000.0, fill="next_open")
    o = res.orders.set_index("id")
    # A's market order fills at day 2's open; B's waits for B's next candle (day 3's open)
    assert (o.loc[0, "fill_time"], o.loc[0, "fill_price"]) == (day(2), 8.0)
    assert (o.loc[1, "fill_time"], o.loc[1, "fill_price"]) == (day(3), 19.0)
    # the IOC's one bar is B's next candle: the open 19 reaches its limit 19.5
    assert (o.loc[2, "status"], o.loc[2, "fill_time"], o.loc[2, "fill_price"]) == (
        "filled",
        day(3),
        19.0,
    )
    # the GTD order could fill up to day 2, when B had no candle: it expired unfilled
    assert (o.loc[3, "status"], o.loc[3, "reason"]) == ("expired", "expired")
    assert list(res.fills["order"]) == [0, 1, 2]


def test_a_drawdown_gate_closes_every_symbol_and_locks_new_buys():
    rows = [
        {"timestamp": day(0), "symbol": "A", "side": "buy", "qty": 50},
        {"timestamp": day(0), "symbol": "B", "side": "buy", "qty": 25},
        {"timestamp": day(3), "symbol": "A", "side": "buy", "qty": 1},
    ]
    res = sb.backtest(
        two_symbols(), portfolio_orders(rows), cash=1000.0, gates={"max_drawdown": 0.05}
    )
    # day 2: 50 x 8.5 + 25 x 20 (B's last close) = 925, 7.5% under 1000: the gate fires;
    # A closes at that close, B (no candle) at its next close, day 3
    gate = res.fills[res.fills["reason"] == "gate"]
    assert list(gate["symbol"]) == ["A", "B"]
    assert list(gate["timestamp"]) == [day(2), day(3)]
    assert list(gate["price"]) == [8.5, 18.0]
    assert res.orders.loc[2, "status"] == "rejected" and res.orders.loc[2, "reason"] == "locked"
    assert res.equity.iloc[-1] == pytest.approx(1000 - 50 * 1.5 - 25 * 2.0)
    assert len(res.locks) == 1


def test_orders_of_several_symbols_need_known_symbols():
    rows = [{"timestamp": day(0), "side": "buy", "qty": 1}]
    with pytest.raises(StrategyError, match="'symbol' column"):
        sb.backtest(two_symbols(), portfolio_orders(rows))
    rows = [{"timestamp": day(0), "side": "buy", "qty": 1, "symbol": "A"}] * 2
    rows = [*rows, {"timestamp": day(1), "side": "buy", "qty": 1, "symbol": "XRP"}]
    with pytest.raises(StrategyError, match="order row 3, column 'symbol': 'XRP'"):
        sb.backtest(two_symbols(), portfolio_orders(rows))


def test_a_single_symbol_orders_strategy_runs_on_each_symbol():
    def buy_first_bar(candles: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"timestamp": [candles.index[0]], "side": ["buy"], "qty": [10.0]})

    res = sb.backtest(two_symbols(), buy_first_bar, cash=1000.0)
    assert list(res.orders["symbol"]) == ["A", "B"]
    assert list(res.orders["fill_price"]) == [10.0, 20.0]
    assert res.positions.iloc[-1].tolist() == [10.0, 10.0]


def test_evidence_has_the_orders_table(tmp_path):
    rows = [{"timestamp": day(0), "symbol": "B", "side": "buy", "qty": 1}]
    res = sb.backtest(two_symbols(), portfolio_orders(rows))
    folder = res.save(tmp_path)
    back = pd.read_parquet(folder / "orders.parquet")
    assert list(back.columns) == ["symbol", *ORDER_TABLE_COLUMNS]
    assert res.report["kind"] == "portfolio" and res.report["orders"] is True
    assert "order" in pd.read_parquet(folder / "fills.parquet").columns


def _random_orders(seed: int, candles: pd.DataFrame):
    rng = np.random.default_rng(seed)
    m = 40
    close = candles["close"].to_numpy()
    bars = np.sort(rng.integers(0, len(candles), m))
    kinds = rng.choice(["market", "limit", "stop", "stop_limit"], m)
    level = close[bars] * rng.uniform(0.93, 1.07, m)
    frame = pd.DataFrame(
        {
            "timestamp": candles.index[bars],
            "side": rng.choice(["buy", "sell"], m),
            "qty": rng.uniform(1.0, 40.0, m).round(3),
            "type": kinds,
            "price": np.where(kinds == "stop", np.nan, level),
            "stop": np.where(np.isin(kinds, ["stop", "stop_limit"]), level, np.nan),
            "tif": rng.choice(["gtc", "ioc"], m),
            "oco": np.where(rng.random(m) < 0.3, rng.integers(0, 4, m), np.nan),
        }
    )

    def strategy(candles: pd.DataFrame) -> pd.DataFrame:
        return frame

    return strategy


@pytest.mark.parametrize(
    "options",
    [
        {"fees": 0.001},
        {"fees": 0.002, "maker_fees": 0.0005, "fill": "next_open", "slippage": 0.001},
        {"direction": "both", "gates": {"max_drawdown": 0.15}},
        {"direction": "both", "gates": {"daily_loss": 0.03}, "lot_size": 0.5, "tick_size": 0.01},
    ],
)
def test_one_symbol_as_a_portfolio_is_the_single_symbol_run(options):
    candles = sb.synthetic_candles(n=300, seed=3, timeframe="4h")
    strategy = _random_orders(7, candles)
    one = sb.backtest(candles, strategy, cash=2000.0, **options)
    many = sb.backtest({"X": candles}, strategy, cash=2000.0, **options)
    assert np.array_equal(one.equity.to_numpy(), many.equity.to_numpy())
    pd.testing.assert_frame_equal(one.fills, many.fills.drop(columns="symbol"))
    pd.testing.assert_frame_equal(one.trades, many.trades.drop(columns="symbol"))
    pd.testing.assert_frame_equal(one.orders, many.orders.drop(columns="symbol"))
    assert (one.orders["status"] != "rejected").sum() > 5
    for key in ("orders_filled", "orders_expired", "orders_rejected", "total_trades"):
        assert one.stats[key] == many.stats[key]


def test_each_symbols_oco_groups_are_its_own():
    """A single-symbol bracket strategy on two symbols: a fill on one symbol cancels only
    its own bracket's partner, so with cash to spare each symbol's orders end as in its
    own run. B is A at twice the price: both place their brackets on the same bars."""
    a = sb.synthetic_candles(n=600, seed=1, timeframe="1h")
    b = a.assign(**{c: a[c] * 2.0 for c in ("open", "high", "low", "close")})
    options = {"cash": 1e9, "fees": 0.001}
    both = sb.backtest({"A": a, "B": b}, "breakout_stop", **options)
    cancelled = 0
    for symbol, candles in (("A", a), ("B", b)):
        alone = sb.backtest(candles, "breakout_stop", **options).orders
        mine = both.orders[both.orders["symbol"] == symbol].drop(columns=["symbol", "id"])
        pd.testing.assert_frame_equal(
            mine.reset_index(drop=True), alone.drop(columns="id"), check_dtype=False
        )
        cancelled += int((alone["reason"] == "oco").sum())
    assert cancelled > 4  # the groups did act


def test_a_portfolio_frames_oco_group_may_span_symbols():
    """Buy limits on A (9.5) and B (19.5) in one group, decided on day 0: on day 1 A's low
    9 reaches its limit first (A's rows come first), so B's is cancelled though its low
    19 reached it too."""
    rows = [
        {"timestamp": day(0), "symbol": "A", "side": "buy", "qty": 1, "price": 9.5, "oco": 7},
        {"timestamp": day(0), "symbol": "B", "side": "buy", "qty": 1, "price": 19.5, "oco": 7},
    ]
    res = sb.backtest(two_symbols(), portfolio_orders(rows), cash=1000.0)
    assert res.orders["status"].tolist() == ["filled", "cancelled"]
    assert res.orders["reason"].tolist()[1] == "oco"
    assert res.orders["fill_price"].tolist()[0] == 9.5
