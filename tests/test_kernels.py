"""Kernels against a hand computation and against the per-bar reference simulator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparkbt import kernels
from tests.conftest import closes, discrete_target, fractional_target
from tests.reference import reference_simulate

DIRS = {"long": kernels.LONG, "short": kernels.SHORT, "both": kernels.BOTH}


def run(close, targets, direction="long", fees=0.0, slippage=0.0, cash=10_000.0):
    t = kernels.prepare_targets(np.asarray(targets, dtype=float), DIRS[direction])
    return kernels.simulate(np.asarray(close, dtype=float), t, cash, fees, slippage)


def test_hand_computed_long_round_trip_with_fees_and_slippage():
    # buy at bar 1 (close 100), sell at bar 3 (close 120); fees 1%, slippage 0.5%
    out = run([90, 100, 110, 120, 130], [0, 1, 1, 0, 0], fees=0.01, slippage=0.005)
    buy = 100 * 1.005
    units = 10_000 / (buy * 1.01)
    sell = 120 * 0.995
    cash_after = units * sell * (1 - 0.01)
    np.testing.assert_allclose(
        out.equity[:, 0], [10_000, units * 100, units * 110, cash_after, cash_after], rtol=1e-13
    )
    (tr,) = out.trades
    assert tr["side"] == 1 and tr["entry_bar"] == 1 and tr["exit_bar"] == 3
    assert not tr["is_open"]
    np.testing.assert_allclose(
        tr["pnl"], units * sell - units * buy - units * buy * 0.01 - units * sell * 0.01, rtol=1e-12
    )
    np.testing.assert_allclose(tr["pnl"], cash_after - 10_000, rtol=1e-12)
    assert list(out.fills["side"]) == [1, -1]
    np.testing.assert_allclose(out.fills["price"], [buy, sell])


def test_hand_computed_short_then_reversal():
    # short at 100, reverse to long at 80 (two fills on that bar), still open at the end
    out = run([100, 80, 90], [-1, 1, 1], direction="both", fees=0.001)
    u_short = 10_000 / (100 * 1.001)
    cash = 10_000 + u_short * 100 * (1 - 0.001)
    cash -= u_short * 80 * 1.001  # buy back
    u_long = cash / (80 * 1.001)
    np.testing.assert_allclose(
        out.equity[:, 0],
        [10_000 + u_short * 100 * 0.999 - u_short * 100, u_long * 80, u_long * 90],
        rtol=1e-13,
    )
    assert [(f["bar"], f["side"]) for f in out.fills] == [(0, -1), (1, 1), (1, 1)]
    short, long_ = out.trades
    assert short["side"] == -1 and short["exit_bar"] == 1 and not short["is_open"]
    assert long_["side"] == 1 and long_["is_open"] and long_["exit_fee"] == 0.0
    np.testing.assert_allclose(long_["pnl"], u_long * 90 - u_long * 80 - u_long * 80 * 0.001)


def test_nan_means_hold_and_direction_clips():
    t = kernels.prepare_targets(np.array([np.nan, 1, np.nan, -1, np.nan, 0]), kernels.LONG)
    assert t[:, 0].tolist() == [0, 1, 1, 0, 0, 0]
    t = kernels.prepare_targets(np.array([np.nan, 1, np.nan, -1, np.nan, 0]), kernels.SHORT)
    assert t[:, 0].tolist() == [0, 0, 0, -1, -1, 0]
    assert not np.any((t == 0) & np.signbit(t))  # no negative zeros


def _compare_with_reference(close, targets, direction, fees, slippage):
    out = run(close, targets, direction, fees, slippage)
    eq, units, fills, trades = reference_simulate(
        close, np.asarray(targets, float), 10_000.0, fees, slippage, direction
    )
    np.testing.assert_allclose(out.equity[:, 0], eq, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(out.units[:, 0], units, rtol=1e-9, atol=1e-9)
    # rounding dust (a fill worth < 1e-6 of quote currency, e.g. a 4e-12 residue one
    # side computes and the other rounds to zero) is not a meaningful difference
    got_fills = out.fills[out.fills["units"] * out.fills["price"] > 1e-6]
    fills = [f for f in fills if f[2] * f[3] > 1e-6]
    assert len(got_fills) == len(fills)
    np.testing.assert_allclose(got_fills["units"], [f[2] for f in fills], rtol=1e-9, atol=1e-6)
    assert got_fills["side"].tolist() == [f[1] for f in fills]
    got_trades = out.trades[out.trades["units"] * out.trades["entry_price"] > 1e-6]
    trades = [t for t in trades if t["in_value"] > 1e-6]
    assert len(got_trades) == len(trades)
    np.testing.assert_allclose(got_trades["pnl"], [t["pnl"] for t in trades], rtol=1e-9, atol=1e-6)
    assert got_trades["is_open"].tolist() == [t["is_open"] for t in trades]
    assert got_trades["exit_bar"].tolist() == [t["exit_bar"] for t in trades]


@given(
    data=st.data(),
    close=closes(),
    direction=st.sampled_from(["long", "short", "both"]),
    fees=st.sampled_from([0.0, 0.001, 0.01]),
    slippage=st.sampled_from([0.0, 0.0005]),
)
def test_discrete_kernel_matches_reference(data, close, direction, fees, slippage):
    targets = data.draw(st.lists(discrete_target, min_size=len(close), max_size=len(close)))
    _compare_with_reference(close, targets, direction, fees, slippage)


@given(
    data=st.data(),
    close=closes(),
    direction=st.sampled_from(["long", "short", "both"]),
    fees=st.sampled_from([0.0, 0.002]),
    slippage=st.sampled_from([0.0, 0.001]),
)
def test_fractional_kernel_matches_reference(data, close, direction, fees, slippage):
    targets = data.draw(st.lists(fractional_target, min_size=len(close), max_size=len(close)))
    _compare_with_reference(close, targets, direction, fees, slippage)


@given(data=st.data(), close=closes(), fees=st.sampled_from([0.0, 0.001]))
def test_both_paths_agree_on_all_in_targets(data, close, fees):
    targets = data.draw(st.lists(discrete_target, min_size=len(close), max_size=len(close)))
    t = kernels.prepare_targets(np.asarray(targets, float), kernels.BOTH)
    a = kernels.simulate_discrete(close, t, 1000.0, fees, 0.0)
    b = kernels.simulate_fractional(close, t, 1000.0, fees, 0.0)
    np.testing.assert_allclose(a.equity, b.equity, rtol=1e-10)
    np.testing.assert_allclose(a.trades["pnl"], b.trades["pnl"], rtol=1e-9, atol=1e-9)
    assert a.fills["bar"].tolist() == b.fills["bar"].tolist()


def test_many_columns_equal_single_columns():
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    targets = rng.choice([-1.0, 0.0, 1.0], size=(300, 7))
    t = kernels.prepare_targets(targets, kernels.BOTH)
    wide = kernels.simulate(close, t, 5_000.0, 0.001, 0.0002)
    for j in range(7):
        one = kernels.simulate(close, t[:, [j]], 5_000.0, 0.001, 0.0002)
        np.testing.assert_array_equal(wide.equity[:, j], one.equity[:, 0])
        mine = wide.trades[wide.trades["col"] == j]
        np.testing.assert_array_equal(mine["pnl"], one.trades["pnl"])


@pytest.mark.parametrize("targets", [[0.5, 0.5, 1.0, 0.25, -0.5, 0.0], [1, 0.3, 0.3, 0.9]])
def test_fractional_sizing_rules(targets):
    close = np.array([100.0, 110, 120, 90, 95, 100])[: len(targets)]
    _compare_with_reference(close, targets, "both", 0.001, 0.0)
