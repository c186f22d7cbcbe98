"""Kernels against hand computations and against the per-bar reference simulator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparkbt.engine import codes, kernels
from sparkbt.engine.options import Config
from sparkbt.engine.simulate import market_of
from tests.conftest import discrete_target, engine_options, fractional_target, ohlc
from tests.engine.reference import reference_simulate

DIRS = {"long": codes.LONG, "short": codes.SHORT, "both": codes.BOTH}


def run(close, targets, direction="long", fees=0.0, slippage=0.0, cash=10_000.0):
    t = kernels.prepare_targets(np.asarray(targets, dtype=float), DIRS[direction])
    market = kernels.Market.from_close(np.asarray(close, dtype=float))
    return kernels.simulate(market, t, kernels.SimOptions(cash, fees, slippage))


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
    assert not tr["is_open"] and codes.REASONS[tr["exit_reason"]] == "signal"
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
    assert codes.REASONS[long_["exit_reason"]] == "open"
    np.testing.assert_allclose(long_["pnl"], u_long * 90 - u_long * 80 - u_long * 80 * 0.001)


def test_ruined_short_stops_trading_in_both_kernels():
    # short 100 units at 100; at 250 equity is 20,000 - 25,000 = -5,000: ruin, closed there
    close = [100, 150, 250, 300, 320, 330]
    targets = [-1, -1, -1, 1, 1, 1]
    closed_form = run(close, targets, direction="both")
    t = kernels.prepare_targets(np.asarray(targets, float), codes.BOTH)
    loop = kernels.simulate_loop(
        kernels.Market.from_close(np.asarray(close, float)), t, kernels.SimOptions()
    )
    for out in (closed_form, loop):
        np.testing.assert_allclose(
            out.equity[:, 0], [10_000, 5_000, -5_000, -5_000, -5_000, -5_000]
        )
        (tr,) = out.trades
        assert tr["side"] == -1 and tr["exit_bar"] == 2 and tr["units"] == 100.0
        assert codes.REASONS[tr["exit_reason"]] == "ruin"
        assert out.units[3:, 0].tolist() == [0.0, 0.0, 0.0]


def test_nan_means_hold_and_direction_clips():
    t = kernels.prepare_targets(np.array([np.nan, 1, np.nan, -1, np.nan, 0]), codes.LONG)
    assert t[:, 0].tolist() == [0, 1, 1, 0, 0, 0]
    t = kernels.prepare_targets(np.array([np.nan, 1, np.nan, -1, np.nan, 0]), codes.SHORT)
    assert t[:, 0].tolist() == [0, 0, 0, -1, -1, 0]
    assert not np.any((t == 0) & np.signbit(t))  # no negative zeros


def simulate_like_backtest(candles, targets, opts):
    """The kernels exactly as ``backtest`` calls them, on raw targets and engine options."""
    cfg = Config(**opts)
    t = kernels.prepare_targets(np.asarray(targets, float), DIRS[cfg.direction])
    return kernels.simulate(market_of(candles), t, cfg.sim_options())


def assert_matches_reference(candles, targets, opts):
    out = simulate_like_backtest(candles, targets, opts)
    ref = reference_simulate(
        *(candles[k].to_numpy() for k in ("open", "high", "low", "close")),
        np.asarray(targets, float),
        day=candles.index.asi8 // (86_400 * 10**9),
        **opts,
    )
    np.testing.assert_allclose(out.equity[:, 0], ref["equity"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(out.units[:, 0], ref["units"], rtol=1e-9, atol=1e-9)
    # rounding dust (a fill worth < 1e-6 of quote currency, e.g. a 4e-12 residue one
    # side computes and the other rounds to zero) is not a meaningful difference
    got = out.fills[out.fills["units"] * out.fills["price"] > 1e-6]
    want = [f for f in ref["fills"] if f["units"] * f["price"] > 1e-6]
    assert got["bar"].tolist() == [f["bar"] for f in want]
    assert got["side"].tolist() == [f["side"] for f in want]
    assert [codes.REASONS[r] for r in got["reason"]] == [f["reason"] for f in want]
    np.testing.assert_allclose(got["price"], [f["price"] for f in want], rtol=1e-12)
    np.testing.assert_allclose(got["units"], [f["units"] for f in want], rtol=1e-9, atol=1e-6)
    trades = out.trades[out.trades["units"] * out.trades["entry_price"] > 1e-6]
    want_t = [t for t in ref["trades"] if t["units"] * t["entry_price"] > 1e-6]
    assert [(t["entry_bar"], t["exit_bar"]) for t in trades] == [
        (t["entry_bar"], t["exit_bar"]) for t in want_t
    ]
    assert [codes.REASONS[r] for r in trades["exit_reason"]] == [t["exit_reason"] for t in want_t]
    np.testing.assert_allclose(trades["pnl"], [t["pnl"] for t in want_t], rtol=1e-9, atol=1e-6)
    locks = [(codes.GATES[k["gate"]], k["first_bar"], k["last_bar"], k["limit"]) for k in out.locks]
    assert locks == [(k["gate"], k["first_bar"], k["last_bar"], k["limit"]) for k in ref["locks"]]
    np.testing.assert_allclose(
        out.locks["equity"], [k["equity"] for k in ref["locks"]], rtol=1e-9, atol=1e-6
    )
    if ref["ruined"]:  # ruin leaves equity at or below zero from then on
        assert np.min(out.equity[:, 0]) <= 0.0 and out.units[-1, 0] == 0.0


@given(data=st.data(), candles=ohlc(), opts=engine_options())
def test_loop_kernel_matches_reference(data, candles, opts):
    target = st.one_of(discrete_target, fractional_target)
    targets = data.draw(st.lists(target, min_size=len(candles), max_size=len(candles)))
    assert_matches_reference(candles, targets, opts)


@given(
    data=st.data(),
    candles=ohlc(),
    direction=st.sampled_from(["long", "short", "both"]),
    fees=st.sampled_from([0.0, 0.001, 0.01]),
    slippage=st.sampled_from([0.0, 0.0005]),
)
def test_closed_form_matches_reference(data, candles, direction, fees, slippage):
    targets = data.draw(st.lists(discrete_target, min_size=len(candles), max_size=len(candles)))
    opts = {"direction": direction, "fees": fees, "slippage": slippage}
    assert_matches_reference(candles, targets, opts)


@given(data=st.data(), candles=ohlc(), fees=st.sampled_from([0.0, 0.001]))
def test_both_paths_agree_on_all_in_targets(data, candles, fees):
    targets = data.draw(st.lists(discrete_target, min_size=len(candles), max_size=len(candles)))
    t = kernels.prepare_targets(np.asarray(targets, float), codes.BOTH)
    market = market_of(candles)
    a = kernels.simulate(market, t, kernels.SimOptions(1000.0, fees))
    b = kernels.simulate_loop(market, t, kernels.SimOptions(1000.0, fees))
    np.testing.assert_allclose(a.equity, b.equity, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(a.trades["pnl"], b.trades["pnl"], rtol=1e-9, atol=1e-9)
    assert a.trades["exit_reason"].tolist() == b.trades["exit_reason"].tolist()
    assert a.fills["bar"].tolist() == b.fills["bar"].tolist()


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"fill": "next_open", "sl_stop": 0.02, "tp_stop": 0.04, "sl_trail": True},
        {"gates": {"max_drawdown": 0.1, "cooldown": 5, "loss_streak": 2}},
    ],
)
def test_many_columns_equal_single_columns(opts):
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    market = kernels.Market(close * 1.001, close * 1.02, close * 0.98, close, np.arange(300) // 24)
    targets = rng.choice([-1.0, 0.0, 1.0, 0.5], size=(300, 7))
    t = kernels.prepare_targets(targets, codes.BOTH)
    sim = Config(cash=5_000.0, fees=0.001, slippage=0.0002, **opts).sim_options()
    wide = kernels.simulate(market, t, sim)
    for j in range(7):
        one = kernels.simulate(market, t[:, [j]], sim)
        np.testing.assert_array_equal(wide.equity[:, j], one.equity[:, 0])
        mine = wide.trades[wide.trades["col"] == j]
        np.testing.assert_array_equal(mine["pnl"], one.trades["pnl"])
        np.testing.assert_array_equal(
            wide.locks[wide.locks["col"] == j]["last_bar"], one.locks["last_bar"]
        )


def test_fractional_sizing_by_hand():
    # 0.5 of 10,000 at 100 -> 50 units; raising to 1 commits the other 5,000 at 110;
    # lowering to 0.25 sells 3/4 of the units at 120
    out = run([100.0, 110, 120], [0.5, 1.0, 0.25], direction="long")
    u1 = 5_000 / 100
    u2 = u1 + 5_000 / 110
    np.testing.assert_allclose(out.units[:, 0], [u1, u2, u2 / 4])
    np.testing.assert_allclose(out.equity[:, 0], [10_000, u2 * 110, u2 * 120])


def test_the_loop_kernel_counts_records_past_its_capacity():
    # with no room at all it writes nothing and returns how many rows it needed;
    # the wrapper then runs again with those counts
    from sparkbt.engine.loop import run_loop

    rng = np.random.default_rng(5)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 200)))
    t = kernels.prepare_targets(rng.choice([-1.0, 0.0, 1.0, 0.5], size=(200, 3)), codes.BOTH)
    market = kernels.Market(close, close * 1.02, close * 0.98, close, np.arange(200) // 24)
    opts = Config(fees=0.001, sl_stop=0.02, gates={"cooldown": 3, "loss_streak": 2})
    full = kernels.simulate_loop(market, t, opts.sim_options())
    *_, used = run_loop(
        *market[:4],
        market.day,
        np.ascontiguousarray(t.T),
        np.zeros((0, 0)),
        np.zeros((0, 0)),
        opts.sim_options().plain(),
        True,
        np.zeros(3, dtype=np.int64),
    )
    assert used.tolist() == [len(full.fills), len(full.trades), len(full.locks)]
    assert len(full.locks) > 0 and len(full.trades) > 10
