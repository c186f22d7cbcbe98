"""The order kernel's rules on a hand-computed 8-bar table (docs/semantics.md "Orders").

Every expected number is worked out by hand in the comment next to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparkbt.engine.codes import (
    BOTH,
    ORDER_REASONS,
    ORDER_STATUSES,
    REASONS,
)
from sparkbt.engine.kernels import SimOptions
from sparkbt.engine.order_kernels import OrderOptions, order_book, simulate_orders
from tests.engine.order_helpers import market as make_market
from tests.engine.order_helpers import order, orders, run

#        open   high   low   close
BARS = [
    (100.0, 102.0, 98.0, 101.0),  # 0
    (101.0, 105.0, 100.0, 104.0),  # 1
    (95.0, 97.0, 93.0, 96.0),  # 2  gap down
    (96.0, 99.0, 94.0, 98.0),  # 3
    (104.0, 108.0, 103.0, 107.0),  # 4  gap up
    (107.0, 110.0, 101.0, 102.0),  # 5
    (102.0, 104.0, 99.0, 100.0),  # 6
    (100.0, 103.0, 97.0, 99.0),  # 7
]
MKT = make_market(BARS)
BUY, SELL = 1, -1


def status(out, k):
    """Status name and reason name of order ``k``."""
    r = out.orders[k]
    return ORDER_STATUSES[r["status"]], ORDER_REASONS[r["reason"]]


def fill(out, k):
    """(fill bar, fill price, filled qty) of order ``k``."""
    r = out.orders[k]
    return int(r["fill_bar"]), float(r["fill_price"]), float(r["filled"])


def test_gap_through_a_limit_fills_at_the_open():
    # buy limit 97 decided on bar 1; bar 2 opens at 95 <= 97: filled at the open, 95 (taker)
    out = run(MKT, order(1, BUY, 10, "limit", price=97.0))
    assert fill(out, 0) == (2, 95.0, 10.0)
    assert not out.orders[0]["maker"]
    # cash 10000 - 950 = 9050; equity at bar 2 = 9050 + 10 * 96 = 10010
    assert out.equity[2] == 10010.0


def test_limit_inside_the_bar_fills_at_its_price_as_maker():
    # buy limit 94 decided on bar 1: bar 2 opens 95 > 94, low 93 <= 94: 94, maker
    out = run(MKT, order(1, BUY, 10, "limit", price=94.0))
    assert fill(out, 0) == (2, 94.0, 10.0)
    assert out.orders[0]["maker"]


def test_gap_through_a_stop_fills_at_the_open_and_inside_at_the_stop():
    out = run(
        MKT,
        order(3, BUY, 1, "stop", stop=103.0),  # bar 4 opens 104 >= 103: at the open, 104
        order(3, BUY, 1, "stop", stop=106.0),  # bar 4: open 104 < 106 <= high 108: at 106
        rules=OrderOptions(direction=BOTH),
    )
    assert fill(out, 0) == (4, 104.0, 1.0)
    assert fill(out, 1) == (4, 106.0, 1.0)


def test_stop_limit_triggered_at_the_open():
    out = run(
        MKT,
        # bar 4 opens 104 >= stop 103 and <= limit 105: a limit from the open, fills at 104
        order(3, BUY, 1, "stop_limit", price=105.0, stop=103.0),
        # open 104 > limit 103.5: rests as limit 103.5, low 103 reaches it: 103.5 (maker)
        order(3, BUY, 1, "stop_limit", price=103.5, stop=103.0),
    )
    assert fill(out, 0) == (4, 104.0, 1.0)
    assert fill(out, 1) == (4, 103.5, 1.0)
    assert not out.orders[0]["maker"] and out.orders[1]["maker"]


def test_stop_limit_triggered_inside_the_bar():
    out = run(
        MKT,
        # bar 5: open 107 < stop 109 <= high 110, limit 109.5 above the stop: fills at 109
        order(4, BUY, 1, "stop_limit", price=109.5, stop=109.0),
        # limit equal to the stop: rests as limit 109 from bar 6; bar 6 opens 102 <= 109: 102
        order(4, BUY, 1, "stop_limit", price=109.0, stop=109.0),
        # limit 100 below the stop: rests from bar 6; bar 6 opens 102 > 100, low 99: 100 (maker)
        order(4, BUY, 1, "stop_limit", price=100.0, stop=109.0),
    )
    assert fill(out, 0) == (5, 109.0, 1.0)
    assert fill(out, 1) == (6, 102.0, 1.0)
    assert fill(out, 2) == (6, 100.0, 1.0)
    assert [bool(m) for m in out.orders["maker"]] == [False, False, True]


def test_ioc_only_on_its_first_eligible_bar():
    out = run(
        MKT,
        order(0, BUY, 1, "limit", price=90.0, tif="ioc"),  # bar 1 low 100 > 90: expires at bar 1
        order(0, BUY, 1, "limit", price=101.0, tif="ioc"),  # bar 1 opens 101 <= 101: fills, 101
        order(0, BUY, 1, "limit", price=96.0, tif="ioc"),  # bar 1 misses; bar 2 would fill: no
    )
    assert status(out, 0) == ("expired", "expired")
    assert fill(out, 1) == (1, 101.0, 1.0)
    assert status(out, 2) == ("expired", "expired") and fill(out, 2)[0] == -1


def test_gtd_fills_on_its_last_bar_and_expires_after_it():
    out = run(
        MKT,
        order(0, BUY, 1, "limit", price=94.0, tif="gtd", expire=2),  # bar 2 low 93: fills at 94
        order(0, BUY, 1, "limit", price=94.0, tif="gtd", expire=1),  # bar 1 low 100: expired
    )
    assert fill(out, 0) == (2, 94.0, 1.0)
    assert status(out, 1) == ("expired", "expired")


def test_oco_without_a_gap():
    out = run(
        MKT,
        order(0, BUY, 10, "market"),  # bar 0 close: 10 at 101
        order(0, SELL, 10, "stop", stop=99.0, oco=1),  # bar 1 low 100 > 99: not reached
        order(0, SELL, 10, "limit", price=103.0, oco=1),  # bar 1 high 105 >= 103: 103, maker
    )
    assert fill(out, 2) == (1, 103.0, 10.0)
    assert status(out, 1) == ("cancelled", "oco")
    # PnL 10 * (103 - 101) = 20
    assert out.trades["pnl"][0] == 20.0


def test_oco_with_a_gap_takes_the_profit_at_the_open():
    out = run(
        MKT,
        order(2, BUY, 10, "market"),  # bar 2 close: 10 at 96
        order(3, SELL, 10, "stop", stop=90.0, oco=1),
        order(3, SELL, 10, "limit", price=100.0, oco=1),  # bar 4 opens 104 >= 100: at 104
    )
    assert fill(out, 2) == (4, 104.0, 10.0)
    assert not out.orders[2]["maker"]
    assert status(out, 1) == ("cancelled", "oco")
    assert out.trades["pnl"][0] == 80.0  # 10 * (104 - 96)


def test_oco_both_reached_inside_the_bar_the_first_row_wins():
    out = run(
        MKT,
        order(4, BUY, 10, "market"),  # bar 4 close: 10 at 107
        order(4, SELL, 10, "stop", stop=103.0, oco=7),  # bar 5: open 107, low 101 <= 103: 103
        order(4, SELL, 10, "limit", price=109.0, oco=7),  # high 110 >= 109 too, listed second
    )
    assert fill(out, 1) == (5, 103.0, 10.0)
    assert status(out, 2) == ("cancelled", "oco")
    assert out.trades["pnl"][0] == -40.0  # 10 * (103 - 107)


def test_maker_and_taker_fees_and_slippage():
    out = run(
        MKT,
        order(
            0, BUY, 10, "market"
        ),  # taker at close 101 * 1.01 = 102.01, fee 10*102.01*.002 = 2.0402
        order(1, BUY, 10, "limit", price=94.0),  # bar 2 inside: 94 maker, fee 10*94*0.001 = 0.94
        order(1, BUY, 10, "limit", price=97.0),  # bar 2 open 95: 95*1.01 = 95.95 taker, 1.919
        order(1, BUY, 10, "limit", price=95.5),  # 95.95 past the limit: 95.5, fee 1.91
        fees=0.002,
        slippage=0.01,
        rules=OrderOptions(maker_fees=0.001),
    )
    r = out.orders
    assert r["fill_price"].tolist() == pytest.approx([102.01, 94.0, 95.95, 95.5], abs=1e-12)
    assert r["fee"].tolist() == pytest.approx([2.0402, 0.94, 1.919, 1.91], abs=1e-12)
    assert r["maker"].tolist() == [False, True, False, False]
    # cash = 10000 - (1020.1 + 940 + 959.5 + 955) - (2.0402 + .94 + 1.919 + 1.91) = 6118.5908
    assert out.cash[-1] == pytest.approx(6118.5908, abs=1e-9)


def test_a_buy_larger_than_the_cash_is_cut_then_rejected():
    out = run(MKT, order(0, BUY, 20, "market"), order(1, BUY, 1, "market"), cash=1000.0)
    # 20 * 101 = 2020 > 1000: cut to 1000 / 101 = 9.900990099... units, cash ~0
    assert status(out, 0) == ("partial", "no_cash")
    assert fill(out, 0)[2] == pytest.approx(1000.0 / 101.0, rel=1e-15)
    assert abs(out.cash[0]) < 1e-9
    assert status(out, 1) == ("rejected", "no_cash")


def test_reduce_only_sell_is_cut_and_a_sell_while_flat_rejected():
    out = run(
        MKT,
        order(0, SELL, 5, "market"),  # flat under direction long: rejected
        order(0, BUY, 10, "market"),  # 10 at 101
        order(1, SELL, 15, "market"),  # cut to the 10 held, at 104
    )
    assert status(out, 0) == ("rejected", "reduce_only")
    assert status(out, 2) == ("partial", "reduce_only")
    assert fill(out, 2) == (1, 104.0, 10.0)
    assert out.cash[-1] == 10030.0  # 10000 - 1010 + 1040
    assert out.units[-1] == 0.0


def test_a_sell_while_flat_opens_a_short_with_both():
    out = run(MKT, order(0, SELL, 5, "market"), rules=OrderOptions(direction=BOTH))
    assert status(out, 0) == ("filled", "none")
    assert out.units[0] == -5.0
    assert out.equity[1] == 10000.0 + 5 * (101.0 - 104.0)  # 9985


def test_an_order_under_the_minimum_value_is_rejected():
    rules = OrderOptions(min_notional=500.0)
    out = run(MKT, order(0, BUY, 4, "market"), order(0, BUY, 5, "market"), rules=rules)
    assert status(out, 0) == ("rejected", "min_notional")  # 4 * 101 = 404 < 500
    assert fill(out, 1) == (0, 101.0, 5.0)  # 505 >= 500


def test_lot_truncation_and_tick_rounding():
    rules = OrderOptions(tick_size=0.5, lot_size=0.1)
    rows = orders(
        order(1, BUY, 1.25, "limit", price=97.3),  # qty 1.2, buy limit down to 97.0
        order(1, SELL, 1.0, "limit", price=103.2),  # sell limit up to 103.5
        order(1, BUY, 1.0, "stop", stop=106.2),  # buy stop up to 106.5
        order(1, SELL, 1.0, "stop", stop=98.7),  # sell stop down to 98.5
        order(1, BUY, 0.05, "market"),  # below one lot: rejected
    )
    ob = order_book(rows, 8, rules)
    assert ob["qty"].tolist() == pytest.approx([1.2, 1.0, 1.0, 1.0, 0.0])
    assert ob["price"][:2].tolist() == [97.0, 103.5]
    assert ob["stop"][2:4].tolist() == [106.5, 98.5]
    out = run(MKT, order(0, BUY, 20, "market"), cash=1000.0, rules=rules)
    # cut to 1000 / 101 = 9.90099 units, truncated to 9.9: cash 1000 - 999.9 = 0.1
    assert fill(out, 0)[2] == pytest.approx(9.9, abs=1e-12)
    assert out.cash[0] == pytest.approx(0.1, abs=1e-9)
    res = simulate_orders(MKT, rows, SimOptions(), rules)
    assert status(res, 4) == ("rejected", "lot")
    # the buy limit 97 fills when bar 2 opens at 95, for 1.2 units
    assert fill(res, 0) == (2, 95.0, pytest.approx(1.2))


def test_market_orders_with_fill_close_and_next_open():
    rows = (order(2, BUY, 10, "market"), order(7, BUY, 1, "market"))
    close = run(MKT, *rows)
    assert fill(close, 0) == (2, 96.0, 10.0)  # bar 2's close
    assert fill(close, 1) == (7, 99.0, 1.0)
    nxt = run(MKT, *rows, next_open=True)
    assert fill(nxt, 0) == (3, 96.0, 10.0)  # bar 3's open
    assert status(nxt, 1) == ("open", "none")  # decided on the last bar: stays open


def test_engine_stops_on_a_position_opened_by_a_limit():
    row = order(1, BUY, 10, "limit", price=97.0)  # fills at bar 2's open, 95; reference close 96
    # take-profit 10%: 96 * 1.1 = 105.6; bar 4 opens 104, high 108: exit at 105.6
    out = run(MKT, row, sl_stop=0.05, tp_stop=0.1)
    t = out.trades[0]
    assert (t["entry_bar"], t["exit_bar"], t["exit_price"]) == (2, 4, pytest.approx(105.6))
    assert REASONS[t["exit_reason"]] == "take_profit"
    assert t["pnl"] == pytest.approx(106.0)  # 10 * (105.6 - 95)
    # stop-loss 2%: 96 * 0.98 = 94.08; bar 3 low 94 <= 94.08: exit at 94.08
    out = run(MKT, row, sl_stop=0.02)
    t = out.trades[0]
    assert (t["exit_bar"], REASONS[t["exit_reason"]]) == (3, "stop_loss")
    assert t["pnl"] == pytest.approx(-9.2)  # 10 * (94.08 - 95)
    assert out.fills["order"].tolist() == [0, -1]


def test_a_gate_lock_rejects_an_opening_order():
    out = run(
        MKT,
        order(1, BUY, 90, "market"),  # 90 at 104: cash 640, equity 10000
        order(3, BUY, 1, "market"),  # during the lock: rejected
        max_drawdown=0.05,
    )
    # bar 2: equity 640 + 90 * 96 = 9280, drawdown 7.2% >= 5%: closed at 96, locked
    assert out.equity[2] == 9280.0
    assert out.units[2] == 0.0
    assert out.locks["first_bar"].tolist() == [2]
    assert status(out, 1) == ("rejected", "locked")
    assert np.all(out.equity[2:] == 9280.0)
