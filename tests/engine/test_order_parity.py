"""The order kernel against backtesting.py 0.6.6 on its own GOOG (daily) and EURUSD (hourly) data.

A backtesting.py strategy places orders from simple rules (an SMA cross
entry by market, by limit under the close, by stop above the recent high or by
stop-limit; then a stop-loss and a take-profit exit as backtesting.py's
contingent SL/TP orders, which cancel each other) and logs each one as an order
row. The same rows run through sparkbt, and every trade's bars and prices,
its PnL and every order's final status must agree.

The declared differences (docs/semantics.md "Orders") are kept out of these
runs and checked to be absent: a stop-limit whose stop the open gaps through,
an exit bar on which the open reaches the take-profit while the low reaches the
stop-loss, and stop orders under ``trade_on_close``. Each has a hand-computed
test of sparkbt's rule at the end of this file.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sparkbt.engine.codes import ORDER_STATUSES
from sparkbt.engine.kernels import Market, SimOptions
from sparkbt.engine.order_kernels import simulate_orders
from tests.engine.order_helpers import market as make_market
from tests.engine.order_helpers import order, orders, run

bt = pytest.importorskip("backtesting")
from backtesting import Backtest, Strategy  # noqa: E402
from backtesting.lib import crossover  # noqa: E402
from backtesting.test import EURUSD, GOOG, SMA  # noqa: E402

FEES = 0.002


class OrderRules(Strategy):
    """SMA-cross entries of ``kind``; each trade gets a stop-loss and a take-profit (OCO)."""

    kind = "market"
    size = 5
    n_bars = 0  # bars of the data (no entry is decided on the last one)
    dip = 0.01  # limit entries: this fraction under the close
    lookback = 10  # stop entries: the high of the last bars
    reach = 0.01  # stop-limit entries: the limit this fraction above the stop
    life = 5  # bars an entry order rests before the strategy cancels it
    opens = None  # stop-limit entries: given all opens, only where the next stays under the stop
    sl = 0.04
    tp = 0.06

    def init(self):
        self.fast = self.I(SMA, self.data.Close, 10)
        self.slow = self.I(SMA, self.data.Close, 30)
        self.rows: list[tuple] = []  # the order rows, in the order they were placed
        self.entry = None  # (row, backtesting.py order, last bar) of a resting entry
        self.expired: set[int] = set()
        self.exits: dict[int, tuple[int, float, int, float]] = {}  # entry row: sl row, level, ..
        self.seen: set[int] = set()

    def next(self):
        t = len(self.data) - 1
        if self.entry is not None:
            row, o, last = self.entry
            if o not in self.orders:
                self.entry = None
            elif t >= last:
                o.cancel()
                self.expired.add(row)
                self.entry = None
        for trade in self.trades:
            if trade.tag not in self.seen:  # a new trade: its OCO exits, decided now
                self.seen.add(trade.tag)
                sl, tp = trade.entry_price * (1 - self.sl), trade.entry_price * (1 + self.tp)
                trade.sl, trade.tp = sl, tp
                k = len(self.rows)
                self.rows.append(order(t, -1, self.size, "stop", stop=sl, oco=trade.tag))
                self.rows.append(order(t, -1, self.size, "limit", price=tp, oco=trade.tag))
                self.exits[trade.tag] = (k, sl, k + 1, tp)
        if self.position or self.entry is not None or t >= self.n_bars - 1:
            return
        if crossover(self.fast, self.slow):
            self.place(t)

    def place(self, t):
        k = len(self.rows)
        close = self.data.Close[-1]
        if self.kind == "market":
            self.buy(size=self.size, tag=k)
            self.rows.append(order(t, 1, self.size))
            return
        last = t + self.life
        gtd = {"tif": "gtd", "expire": last}
        if self.kind == "limit":
            price = close * (1 - self.dip)
            o = self.buy(size=self.size, limit=price, tag=k)
            self.rows.append(order(t, 1, self.size, "limit", price=price, **gtd))
        else:
            stop = float(np.max(self.data.High[-self.lookback :]))
            if self.kind == "stop":
                o = self.buy(size=self.size, stop=stop, tag=k)
                self.rows.append(order(t, 1, self.size, "stop", stop=stop, **gtd))
            else:
                # a test device that reads the next open (daily data gaps through often):
                # with ``life=1`` it keeps the declared difference out of the run
                if self.opens is not None and self.opens[t + 1] >= stop:
                    return
                price = stop * (1 + self.reach)
                o = self.buy(size=self.size, stop=stop, limit=price, tag=k)
                self.rows.append(
                    order(t, 1, self.size, "stop_limit", price=price, stop=stop, **gtd)
                )
        self.entry = (k, o, last)


def run_bt(data: pd.DataFrame, on_close: bool, **params):
    """backtesting.py's run: (closed trades, open trades, the strategy with its order log)."""
    bt_ = Backtest(
        data,
        OrderRules,
        cash=10_000,
        commission=FEES,
        margin=1.0,
        trade_on_close=on_close,
        exclusive_orders=False,
        hedging=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt_.run(n_bars=len(data), **params)
    strat = stats._strategy
    return stats._trades, list(strat.trades), strat


def bt_statuses(strat, closed: pd.DataFrame, open_trades) -> list[str]:
    """Each logged order's final status in backtesting.py's run."""
    out = ["open"] * len(strat.rows)
    for k in strat.expired:
        out[k] = "expired"
    for tag in set(closed["Tag"]) | {t.tag for t in open_trades}:
        out[int(tag)] = "filled"
    for _, tr in closed.iterrows():
        sl_k, sl, tp_k, _tp = strat.exits[int(tr["Tag"])]
        hit_sl = tr["ExitPrice"] <= sl
        out[sl_k], out[tp_k] = ("filled", "cancelled") if hit_sl else ("cancelled", "filled")
    return out


def as_market(data: pd.DataFrame) -> Market:
    day = (data.index.asi8 // 86_400_000_000).astype(np.int64)  # microsecond timestamps
    return Market(*(data[c].to_numpy(np.float64) for c in ("Open", "High", "Low", "Close")), day)


def declared_differences(mkt: Market, strat, res: np.ndarray) -> int:
    """Bars where a declared difference would bite (checked to be none in the parity runs)."""
    bites = 0
    for k, row in enumerate(strat.rows):
        bar, _, _, typ, _, stop, *_ = row
        if typ == 3:  # stop-limit: the first bar reaching the stop must not open through it
            last = res["fill_bar"][k] if res["fill_bar"][k] >= 0 else row[7]
            for b in range(bar + 1, min(last, len(mkt.close) - 1) + 1):
                if mkt.open[b] >= stop:
                    bites += 1
                if mkt.high[b] >= stop:
                    break
    for sl_k, sl, tp_k, tp in strat.exits.values():
        b = max(res["fill_bar"][sl_k], res["fill_bar"][tp_k])
        if b >= 0 and mkt.open[b] >= tp and mkt.low[b] <= sl:
            bites += 1
    return bites


CASES = [
    ("GOOG", "market", False, {}),
    ("GOOG", "market", True, {}),
    ("GOOG", "limit", False, {}),
    ("GOOG", "limit", True, {}),
    ("GOOG", "stop", False, {}),
    ("GOOG", "stop_limit", False, {"life": 1, "opens": GOOG.Open.to_numpy()}),
    ("EURUSD", "market", False, {"size": 5000, "sl": 0.004, "tp": 0.006}),
    ("EURUSD", "market", True, {"size": 5000, "sl": 0.004, "tp": 0.006}),
    ("EURUSD", "limit", False, {"size": 5000, "sl": 0.004, "tp": 0.006, "dip": 0.001}),
    ("EURUSD", "limit", True, {"size": 5000, "sl": 0.004, "tp": 0.006, "dip": 0.001}),
    ("EURUSD", "stop", False, {"size": 5000, "sl": 0.004, "tp": 0.006}),
    ("EURUSD", "stop_limit", False, {"size": 5000, "sl": 0.004, "tp": 0.006, "reach": 0.001}),
]


@pytest.mark.parametrize(("name", "kind", "on_close", "params"), CASES)
def test_orders_match_backtesting_py(name, kind, on_close, params):
    data = {"GOOG": GOOG, "EURUSD": EURUSD}[name]
    closed, open_trades, strat = run_bt(data, on_close, kind=kind, **params)
    mkt = as_market(data)
    opts = SimOptions(fees=FEES, next_open=not on_close)
    out = simulate_orders(mkt, orders(*strat.rows), opts)
    assert len(closed) >= 5
    assert declared_differences(mkt, strat, out.orders) == 0
    mine = out.trades[~out.trades["is_open"]]
    assert len(mine) == len(closed)
    assert mine["entry_bar"].tolist() == closed["EntryBar"].tolist()
    assert mine["exit_bar"].tolist() == closed["ExitBar"].tolist()
    np.testing.assert_allclose(mine["entry_price"], closed["EntryPrice"], rtol=1e-15)
    np.testing.assert_allclose(mine["exit_price"], closed["ExitPrice"], rtol=1e-15)
    # exactly, as the fill prices of the orders (a trade's price is its value / units)
    res = out.orders
    for _, tr in closed.iterrows():
        e = int(tr["Tag"])
        sl_k, _, tp_k, _ = strat.exits[e]
        x = sl_k if res["status"][sl_k] == 1 else tp_k
        assert (res["fill_bar"][e], res["fill_price"][e]) == (tr["EntryBar"], tr["EntryPrice"])
        assert (res["fill_bar"][x], res["fill_price"][x]) == (tr["ExitBar"], tr["ExitPrice"])
    np.testing.assert_allclose(mine["pnl"], closed["PnL"], rtol=1e-9, atol=1e-9)
    assert int(out.trades["is_open"].sum()) == len(open_trades)
    statuses = [ORDER_STATUSES[s] for s in out.orders["status"]]
    assert statuses == bt_statuses(strat, closed, open_trades)


# ------------------------------------------------------------------ declared differences
# open, high, low, close
BARS = [
    (100.0, 101.0, 99.0, 100.0),  # 0
    (100.0, 101.0, 99.0, 100.0),  # 1
    (104.0, 106.0, 100.0, 105.0),  # 2: opens through 102, high 106
    (105.0, 106.0, 101.0, 102.0),  # 3
]
MKT = make_market(BARS)


def test_stop_limit_whose_stop_the_open_gaps_through_is_a_limit_from_the_open():
    # stop 102, limit 105: bar 2 opens 104 >= 102 and <= 105: fills at the open, 104
    # (backtesting.py fills at the stop, 102, a price the bar never traded at before 104)
    out = run(MKT, order(1, 1, 1, "stop_limit", price=105.0, stop=102.0))
    assert out.orders["fill_bar"][0] == 2 and out.orders["fill_price"][0] == 104.0
    # limit 101 <= stop 102: a limit 101 from the open; low 100 <= 101: fills at 101 on bar 2
    # (backtesting.py waits a bar)
    out = run(MKT, order(1, 1, 1, "stop_limit", price=101.0, stop=102.0))
    assert out.orders["fill_bar"][0] == 2 and out.orders["fill_price"][0] == 101.0


def test_a_resting_order_the_open_reaches_fills_first_at_the_open():
    # long 1 from bar 0's close (100); OCO: stop 100.5 listed first, take-profit 103.
    # bar 2 opens 104 >= 103 (take-profit at the open, 104) and its low 100 <= 100.5;
    # the open comes first: take-profit at 104 (backtesting.py takes its SL first: 100.5)
    out = run(
        MKT,
        order(0, 1, 1),
        order(1, -1, 1, "stop", stop=100.5, oco=1),
        order(1, -1, 1, "limit", price=103.0, oco=1),
    )
    assert [ORDER_STATUSES[s] for s in out.orders["status"]] == ["filled", "cancelled", "filled"]
    assert out.trades["exit_price"][0] == 104.0
    assert out.trades["pnl"][0] == 4.0


def test_stop_orders_keep_the_open_rule_under_fill_close():
    # buy stop 102 decided on bar 1: bar 2 opens 104 >= 102: fills at the open, 104, with
    # fill="close" as with next_open (backtesting.py with trade_on_close: bar 1's close, 100)
    for next_open in (False, True):
        out = run(MKT, order(1, 1, 1, "stop", stop=102.0), next_open=next_open)
        assert out.orders["fill_bar"][0] == 2 and out.orders["fill_price"][0] == 104.0
