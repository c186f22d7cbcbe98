"""Properties of the portfolio kernel, and its gates and ruin on hand-checked tables."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sparkbt.engine.codes import (
    GATE_DAILY_LOSS,
    GATE_MAX_DRAWDOWN,
    LONG,
    REASON_GATE,
    REASON_OPEN,
    REASON_RUIN,
    REASON_SIGNAL,
)
from sparkbt.engine.kernels import Market, SimOptions, prepare_targets, simulate
from sparkbt.engine.portfolio_kernels import PortfolioOutput, simulate_portfolio

NAN = np.nan


def run(close, weights, open_=None, day=None, **kw) -> PortfolioOutput:
    close = np.asarray(close, dtype=float)
    open_ = close if open_ is None else np.asarray(open_, dtype=float)
    day = np.zeros(len(close), np.int64) if day is None else np.asarray(day, np.int64)
    w = np.asarray(weights, dtype=float)
    return simulate_portfolio(open_, open_, close, close, day, w, SimOptions(**kw))


@st.composite
def walks(draw, k: int | None = None, gaps: bool = False):
    """(open, close, day) ``(n, k)`` random walks; with ``gaps`` some cells have no candle."""
    n = draw(st.integers(2, 60))
    k = k or draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.05, (n, k)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.01, (n, k)))
    if gaps:
        holes = rng.random((n, k)) < 0.2
        close[holes] = NAN
        open_[holes] = NAN
    day = np.cumsum(rng.random(n) < 0.3).astype(np.int64)
    return open_, close, day, rng


def random_weights(rng, shape, *, shorts: bool) -> np.ndarray:
    """Rows of weights with gross at most 1, about half the cells NAN (no order)."""
    w = rng.random(shape) * (rng.choice([-1.0, 1.0], shape) if shorts else 1.0)
    w /= np.maximum(np.abs(w).sum(axis=1, keepdims=True), 1.0) * rng.uniform(1.0, 1.5)
    w[rng.random(shape) < 0.5] = NAN
    return w


fees_st = st.sampled_from([0.0, 0.001, 0.01])
gates_st = st.sampled_from([{}, {"max_drawdown": 0.1}, {"daily_loss": 0.05}])


@given(walks(k=1), fees_st, fees_st, st.booleans(), gates_st, st.data())
def test_one_symbol_all_in_equals_the_single_symbol_kernel(
    walk, fees, slip, next_open, gates, data
):
    """Weights 1 / 0 on the bars where an all-in long target changes give one symbol's run."""
    open_, close, day, _ = walk
    n = len(close)
    raw = data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    targets = prepare_targets(np.array(raw), LONG)
    prev = np.r_[0.0, targets[:-1, 0]]
    w = np.where(targets[:, 0] != prev, targets[:, 0], NAN)[:, None]
    kw = {"fees": fees, "slippage": slip, "next_open": next_open, **gates}
    out = run(close, w, open_, day, **kw)
    c1, o1 = close[:, 0], open_[:, 0]
    ref = simulate(Market(o1, o1, o1, c1, day), targets, SimOptions(**kw))
    np.testing.assert_allclose(out.equity, ref.equity[:, 0], rtol=1e-9)
    np.testing.assert_allclose(out.units[:, 0], ref.units[:, 0], rtol=1e-9, atol=1e-12)
    for name in ("entry_bar", "exit_bar", "exit_reason", "side"):
        np.testing.assert_array_equal(out.trades[name], ref.trades[name])
    np.testing.assert_allclose(out.trades["pnl"], ref.trades["pnl"], rtol=1e-9, atol=1e-9)
    for name in ("gate", "first_bar", "last_bar"):
        np.testing.assert_array_equal(out.locks[name], ref.locks[name])


@given(walks())
def test_weights_set_once_without_fees_hold_the_basket(walk):
    """1/k of the cash in each symbol at the first close, then held: the basket's value."""
    _, close, _, _ = walk
    n, k = close.shape
    w = np.full((n, k), NAN)
    w[0] = 1.0 / k
    out = run(close, w, cash=1000.0)
    basket = (1000.0 / k * close / close[0]).sum(axis=1)
    np.testing.assert_allclose(out.equity, basket, rtol=1e-9)
    assert len(out.fills) == k and out.rejected == 0


@given(walks(gaps=True), fees_st, fees_st, st.booleans(), gates_st)
def test_cash_is_never_negative_without_shorts(walk, fees, slip, next_open, gates):
    open_, close, day, rng = walk
    w = random_weights(rng, close.shape, shorts=False)
    out = run(close, w, open_, day, fees=fees, slippage=slip, next_open=next_open, **gates)
    assert (out.cash >= 0.0).all()
    assert (out.units >= 0.0).all()


@given(walks(gaps=True), fees_st, fees_st, st.booleans())
def test_orders_keep_the_value_but_for_fees_and_slippage(walk, fees, slip, shorts):
    """Marked at the close, a bar's orders change the value by their fees and slippage only."""
    _, close, _, rng = walk
    n, k = close.shape
    w = random_weights(rng, close.shape, shorts=shorts)
    out = run(close, w, fees=fees, slippage=slip)
    last = np.zeros(k)  # last close (0 for a symbol never priced: it holds no units)
    cash, units = 10_000.0, np.zeros(k)
    f = out.fills
    for t in range(n):
        last = np.where(np.isnan(close[t]), last, close[t])
        before = cash + units @ last
        at = f[f["bar"] == t]
        cost = at["fee"].sum() + (at["units"] * np.abs(at["price"] - last[at["col"]])).sum()
        np.testing.assert_allclose(out.equity[t], before - cost, rtol=1e-9, atol=1e-9)
        flow = -(at["side"] * at["units"] * at["price"]).sum() - at["fee"].sum()
        np.testing.assert_allclose(out.cash[t], cash + flow, rtol=1e-9, atol=1e-9 * before)
        cash, units = out.cash[t], out.units[t]


@given(walks(gaps=True), st.booleans(), gates_st)
def test_a_symbol_without_a_candle_never_trades_there(walk, next_open, gates):
    open_, close, day, rng = walk
    w = random_weights(rng, close.shape, shorts=True)
    out = run(close, w, open_, day, fees=0.001, next_open=next_open, **gates)
    f = out.fills
    at_open = next_open & (f["reason"] == REASON_SIGNAL)  # gate exits are at the close
    seen = np.where(at_open, open_[f["bar"], f["col"]], close[f["bar"], f["col"]])
    assert not np.isnan(seen).any()
    held = np.vstack([np.zeros(close.shape[1]), out.units])
    gap = np.isnan(close)  # the walks leave open and close out together
    assert (held[1:][gap] == held[:-1][gap]).all()


# ----------------------------------------------------------------------- hand-checked tables
def test_max_drawdown_closes_everything_sells_first_and_locks():
    """B has no candle on the gate bar: it is closed at its next close."""
    close = [[10.0, 10.0], [10.0, 10.0], [8.0, NAN], [8.0, 12.0], [9.0, 10.0]]
    w = [[0.5, 0.5], [NAN, NAN], [NAN, NAN], [0.5, 0.5], [0.6, 0.4]]
    out = run(close, w, cash=1000.0, max_drawdown=0.09)
    # bar 2: 50 * 8 + 50 * 10 (B at its last close) = 900, 10% under the peak of 1000
    np.testing.assert_allclose(out.equity, [1000.0, 1000.0, 900.0, 1000.0, 1000.0])
    f = out.fills
    assert list(zip(f["bar"], f["col"], f["side"], strict=True))[2:] == [(2, 0, -1), (3, 1, -1)]
    assert (f["reason"][2:] == REASON_GATE).all()
    np.testing.assert_allclose(f["price"][2:], [8.0, 12.0])
    assert out.trades["exit_reason"].tolist() == [REASON_GATE, REASON_GATE]
    lk = out.locks
    assert (lk["gate"][0], lk["first_bar"][0], lk["last_bar"][0]) == (GATE_MAX_DRAWDOWN, 2, 4)
    assert lk["equity"][0] == 900.0 and lk["limit"][0] == 0.09
    assert (out.units[2:, 0] == 0).all() and (out.units[3:, 1] == 0).all()


def test_a_gate_sells_the_largest_long_first_and_buys_shorts_back_last():
    close = [[10.0, 10.0, 10.0], [9.0, 9.0, 11.0]]
    w = [[0.2, 0.4, -0.3], [NAN, NAN, NAN]]
    out = run(close, w, cash=1000.0, max_drawdown=0.05)
    f = out.fills[out.fills["bar"] == 1]
    assert f["col"].tolist() == [1, 0, 2] and f["side"].tolist() == [-1, -1, 1]


def test_daily_loss_locks_the_day_then_orders_run_again():
    close = [[100.0], [100.0], [90.0], [95.0], [100.0], [100.0], [100.0]]
    day = [0, 0, 1, 1, 2, 2, 2]
    w = [[1.0], [NAN], [NAN], [1.0], [1.0], [0.5], [NAN]]
    out = run(close, w, day=day, cash=1000.0, daily_loss=0.05)
    lk = out.locks
    assert (lk["gate"][0], lk["first_bar"][0], lk["last_bar"][0]) == (GATE_DAILY_LOSS, 2, 3)
    f = out.fills
    # bought 10 at 100 on bar 0, closed by the gate at 90 on bar 2 (cash 900); bar 3's
    # weight falls in the lock; bar 4's 1.0 buys 9 at 100, bar 5's 0.5 sells half of them
    assert f["bar"].tolist() == [0, 2, 4, 5]
    np.testing.assert_allclose(f["units"][2:], [9.0, 4.5])
    assert out.trades["exit_reason"].tolist() == [REASON_GATE, REASON_OPEN]


def test_ruin_closes_all_and_nothing_trades_again():
    close = [[10.0, 10.0], [15.0, 10.0], [21.0, 10.0], [5.0, 10.0]]
    w = [[-1.0, NAN], [NAN, NAN], [NAN, NAN], [0.0, 0.5]]
    out = run(close, w, cash=1000.0)
    # short 100 A for 1000: equity 2000 - 100 * 21 = -100 at bar 2
    np.testing.assert_allclose(out.equity, [1000.0, 500.0, -100.0, -100.0])
    f = out.fills
    assert f["bar"].tolist() == [0, 2] and f["reason"].tolist() == [REASON_SIGNAL, REASON_RUIN]
    assert out.trades["exit_reason"].tolist() == [REASON_RUIN]
    assert (out.units[2:] == 0).all()


def test_a_buy_beyond_the_cash_is_cut_and_then_rejected():
    close = [[10.0, 10.0, 10.0]]
    w = [[0.5, 0.5, 0.5]]  # gross beyond 1: not what a strategy may give, but the cash rules hold
    out = run(close, w, cash=1000.0, fees=0.01)
    f = out.fills
    # 50 units cost 505 with the fee; the rest, 495, buys 495 / 1.01 / 10 units
    np.testing.assert_allclose(f["units"], [50.0, 495.0 / 1.01 / 10.0])
    assert out.cash[0] == 0.0 and out.rejected == 1
