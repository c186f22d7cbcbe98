"""The compiled portfolio kernel agrees with a plain per-bar loop of the rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sparkbt.engine.kernels import SimOptions
from sparkbt.engine.portfolio_kernels import simulate_portfolio
from tests.engine import portfolio_reference


def _case(seed: int, n: int, k: int, gaps: bool, shorts: bool):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, (n, k)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.01, (n, k)))
    if gaps:
        close[rng.random((n, k)) < 0.1] = np.nan
        close[0] = 100.0  # every symbol has a first candle
    open_[np.isnan(close)] = np.nan
    w = rng.random((n, k)) * (2 * rng.integers(0, 2, (n, k)) - 1 if shorts else 1)
    w /= np.maximum(np.abs(w).sum(axis=1, keepdims=True), 1.0) * rng.uniform(1.0, 1.5)
    w[rng.random((n, k)) < 0.5] = np.nan  # no order for that symbol on that bar
    high = np.fmax(open_, close) * 1.01
    low = np.fmin(open_, close) * 0.99
    return open_, high, low, close, w


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 5),
    gaps=st.booleans(),
    shorts=st.booleans(),
    next_open=st.booleans(),
    fees=st.sampled_from([0.0, 0.001, 0.01]),
    slippage=st.sampled_from([0.0, 0.0005]),
)
def test_kernel_equals_the_plain_loop(seed, k, gaps, shorts, next_open, fees, slippage):
    open_, high, low, close, w = _case(seed, 60, k, gaps, shorts)
    opts = SimOptions(cash=1000.0, fees=fees, slippage=slippage, next_open=next_open)
    out = simulate_portfolio(open_, high, low, close, np.zeros(60, np.int64), w, opts)
    ref = portfolio_reference.simulate(
        open_, close, w, cash=1000.0, fees=fees, slippage=slippage, next_open=next_open
    )
    np.testing.assert_allclose(out.equity, ref.equity, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.cash, ref.cash, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out.units, ref.units, rtol=1e-9, atol=1e-9)
    assert out.rejected == ref.rejected
    got = [(int(f["bar"]), int(f["col"])) for f in out.fills]
    assert got == [(b, c) for b, c, *_ in ref.orders]
    signed = out.fills["units"] * out.fills["side"]
    np.testing.assert_allclose(signed, [u for _, _, u, _, _ in ref.orders], rtol=1e-9)
    np.testing.assert_allclose(out.fills["price"], [p for *_, p, _ in ref.orders], rtol=1e-12)
    np.testing.assert_allclose(out.fills["fee"], [f for *_, f in ref.orders], atol=1e-9)


def test_no_trade_where_a_symbol_has_no_candle():
    open_, high, low, close, w = _case(3, 80, 3, True, False)
    out = simulate_portfolio(
        open_, high, low, close, np.zeros(80, np.int64), w, SimOptions(cash=1000.0)
    )
    assert len(out.fills)
    assert not np.isnan(close[out.fills["bar"], out.fills["col"]]).any()


@pytest.mark.parametrize("next_open", [False, True])
def test_cash_never_negative_without_shorts(next_open):
    for seed in range(20):
        open_, high, low, close, w = _case(seed, 100, 4, True, False)
        opts = SimOptions(cash=500.0, fees=0.002, slippage=0.001, next_open=next_open)
        out = simulate_portfolio(open_, high, low, close, np.zeros(100, np.int64), w, opts)
        assert out.cash.min() >= 0.0
