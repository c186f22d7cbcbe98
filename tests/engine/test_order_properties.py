"""Invariants of the order kernel (docs/semantics.md "Orders", "Exchange rules") as properties."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sparkbt.engine.codes import (
    BOTH,
    LONG,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    REASON_SIGNAL,
    SHORT,
    STATUS_FILLED,
    STATUS_PARTIAL,
)
from sparkbt.engine.kernels import Market, SimOptions, prepare_targets, simulate, simulate_loop
from sparkbt.engine.order_kernels import OrderOptions, Orders, order_book, simulate_orders
from tests.conftest import ohlc


def as_market(frame) -> Market:
    return Market(
        *(frame[c].to_numpy() for c in ("open", "high", "low", "close")),
        frame.index.asi8 // 86_400_000_000_000,
    )


@st.composite
def random_orders(draw, close: np.ndarray) -> Orders:
    """Orders of every type and time in force at prices around the decision bar's close."""
    n = len(close)
    k = draw(st.integers(1, 12))
    bar = np.sort(np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k))))
    side = np.array(draw(st.lists(st.sampled_from([-1, 1]), min_size=k, max_size=k)), np.int8)
    qty = np.array(draw(st.lists(st.floats(0.01, 50.0), min_size=k, max_size=k)))
    typ = draw(st.lists(st.sampled_from([0, 1, 2, 3]), min_size=k, max_size=k))
    off = np.array(draw(st.lists(st.floats(-0.15, 0.15), min_size=2 * k, max_size=2 * k)))
    price = close[bar] * (1.0 + off[:k])
    stop = close[bar] * (1.0 + off[k:])
    tif = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=k, max_size=k)), np.int8)
    expire = bar + np.array(draw(st.lists(st.integers(0, 5), min_size=k, max_size=k)))
    oco = np.array(draw(st.lists(st.integers(-1, 2), min_size=k, max_size=k)))
    typ = np.array(typ, np.int8)
    price[typ == ORDER_MARKET] = np.nan
    price[typ == ORDER_STOP] = np.nan
    stop[(typ == ORDER_MARKET) | (typ == ORDER_LIMIT)] = np.nan
    return Orders(bar, side, qty, typ, price, stop, tif, expire, oco)


@st.composite
def order_runs(draw):
    """A market, random orders and options (no slippage: fills are raw bar prices)."""
    frame = draw(ohlc(min_size=3, max_size=40))
    mkt = as_market(frame)
    ords = draw(random_orders(mkt.close))
    opts = SimOptions(
        cash=draw(st.sampled_from([100.0, 10_000.0])),
        fees=draw(st.sampled_from([0.0, 0.001])),
        next_open=draw(st.booleans()),
    )
    rules = OrderOptions(direction=draw(st.sampled_from([LONG, SHORT, BOTH])))
    return mkt, ords, opts, rules


@given(run=order_runs())
def test_fills_respect_limits_bars_and_timing(run):
    mkt, ords, opts, rules = run
    out = simulate_orders(mkt, ords, opts, rules)
    res = out.orders
    done = np.isin(res["status"], (STATUS_FILLED, STATUS_PARTIAL))
    b = res["fill_bar"][done]
    px = res["fill_price"][done]
    # a fill price lies within its bar's [low, high] (the open is inside it too)
    assert np.all((px >= mkt.low[b] * (1 - 1e-12)) & (px <= mkt.high[b] * (1 + 1e-12)))
    # a limit buy never fills above its price, a limit sell never below
    typ, side, price = ords.type[done], ords.side[done], ords.price[done]
    limited = (typ == ORDER_LIMIT) | (typ == ORDER_STOP_LIMIT)
    assert np.all(px[limited & (side > 0)] <= price[limited & (side > 0)])
    assert np.all(px[limited & (side < 0)] >= price[limited & (side < 0)])
    # no order fills on its decision bar unless a market order with fill="close"
    same = b == ords.bar[done]
    assert np.all(~same | ((typ == ORDER_MARKET) & (not opts.next_open)))
    assert np.all(b >= ords.bar[done])
    # every fill row belongs to an order that filled, on that order's bar
    mine = out.fills[out.fills["order"] >= 0]
    assert np.all(done[mine["order"]])
    assert np.all(res["fill_bar"][mine["order"]] == mine["bar"])


@st.composite
def target_runs(draw):
    frame = draw(ohlc(min_size=2, max_size=50))
    n = len(frame)
    direction = draw(st.sampled_from([LONG, SHORT, BOTH]))
    raw = draw(st.lists(st.sampled_from([-1.0, 0.0, 1.0, np.nan]), min_size=n, max_size=n))
    opts = SimOptions(
        fees=draw(st.sampled_from([0.0, 0.001, 0.01])),
        slippage=draw(st.sampled_from([0.0, 0.0005])),
        next_open=draw(st.booleans()),
    )
    return as_market(frame), prepare_targets(np.array(raw), direction), opts, direction


@given(run=target_runs())
def test_market_orders_at_a_targets_fills_give_its_equity(run):
    mkt, targets, opts, direction = run
    ref = simulate_loop(mkt, targets, opts)
    f = ref.fills[ref.fills["reason"] == REASON_SIGNAL]  # a ruin exit is the engine's own
    bar = f["bar"] - 1 if opts.next_open else f["bar"]
    k = len(f)
    ords = Orders(
        bar.astype(np.int64),
        f["side"],
        f["units"],
        np.zeros(k, np.int8),
        np.full(k, np.nan),
        np.full(k, np.nan),
        np.zeros(k, np.int8),
        np.zeros(k, np.int64),
        np.full(k, -1),
    )
    out = simulate_orders(mkt, ords, opts, OrderOptions(direction=direction))
    assert np.array_equal(out.equity, ref.equity[:, 0])
    assert np.array_equal(out.units, ref.units[:, 0])
    np.testing.assert_allclose(out.equity, simulate(mkt, targets, opts).equity[:, 0], rtol=1e-9)
    assert np.array_equal(out.trades, ref.trades)


@given(run=order_runs(), lot=st.sampled_from([0.01, 0.1, 1.0]), tick=st.sampled_from([0.01, 0.5]))
def test_exchange_rules_hold_for_every_fill(run, lot, tick):
    mkt, ords, opts, rules = run
    rules = rules._replace(lot_size=lot, tick_size=tick, min_notional=50.0)
    out = simulate_orders(mkt, ords, opts, rules)
    fills = out.fills[out.fills["order"] >= 0]  # a ruin exit closes whatever is left
    steps = fills["units"] / lot
    assert np.allclose(steps, np.round(steps), rtol=0, atol=1e-6)
    assert np.all(fills["units"] * fills["price"] >= 50.0)
    ob = order_book(ords, len(mkt.close), rules)
    for col in ("price", "stop"):
        p = ob[col][~np.isnan(ob[col])] / tick
        assert np.allclose(p, np.round(p), rtol=0, atol=1e-6)
