"""The lean sweep pass gives the numbers of kernels.simulate + compute_stats."""

from __future__ import annotations

import numpy as np
import pytest

import sparkbt as sb
from sparkbt import kernels
from sparkbt.simulate import period_ns
from sparkbt.stats import STAT_KEYS, compute_stats
from sparkbt.sweep.kernel import discrete_rows, sweep_stats


def reference(close, pos, ts, pn, cash, fees, slippage):
    sim = kernels.simulate_discrete(close, np.ascontiguousarray(pos.T), cash, fees, slippage)
    return compute_stats(sim.equity, sim.units, sim.trades, cash=cash, close=close, ts_ns=ts,
                         period_ns=pn)


def targets(n: int, m: int, seed: int, direction: int) -> np.ndarray:
    """Random all-in rows with runs of every length, plus hand-made edge rows."""
    rng = np.random.default_rng(seed)
    hold = rng.integers(1, 40, size=(m, n))
    raw = rng.choice([-1.0, 0.0, 1.0], size=(m, n))
    keep = (np.cumsum(hold, axis=1) % 7) != 0
    for j in range(1, n):  # hold the previous target most of the time
        raw[:, j] = np.where(keep[:, j], raw[:, j - 1], raw[:, j])
    raw[0] = 0.0  # never trades
    raw[1] = 1.0  # always long
    raw[2] = -1.0  # always short
    raw[3] = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # reverses every bar
    raw[4, :] = 0.0
    raw[4, -1] = 1.0  # enters on the last bar
    return kernels.prepare_targets(raw.T, direction).T.copy()


@pytest.mark.parametrize("direction", [kernels.LONG, kernels.SHORT, kernels.BOTH])
@pytest.mark.parametrize(("fees", "slippage"), [(0.0, 0.0), (0.001, 0.0), (0.002, 0.001)])
def test_lean_pass_equals_reference(direction, fees, slippage) -> None:
    c = sb.synthetic_candles(700, timeframe="4h", seed=direction + 1)
    close, ts, pn = c["close"].to_numpy(), c.index.asi8, period_ns(c)
    pos = targets(len(c), 24, seed=direction, direction=direction)
    assert discrete_rows(pos)
    want = reference(close, pos, ts, pn, 1000.0, fees, slippage)
    got = sweep_stats(close, pos, cash=1000.0, fees=fees, slippage=slippage, ts_ns=ts,
                      period_ns=pn)
    for key in STAT_KEYS:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_repeated_prices_keep_drawdown_ties() -> None:
    """Flat prices make exact ties with the running peak: durations must still agree."""
    c = sb.synthetic_candles(300, timeframe="1h", seed=2)
    close = np.round(c["close"].to_numpy(), 0)  # many equal closes
    ts, pn = c.index.asi8, period_ns(c)
    pos = targets(len(c), 12, seed=9, direction=kernels.LONG)
    want = reference(close, pos, ts, pn, 10_000.0, 0.0, 0.0)
    got = sweep_stats(close, pos, cash=10_000.0, fees=0.0, slippage=0.0, ts_ns=ts, period_ns=pn)
    np.testing.assert_array_equal(got["max_drawdown_duration"], want["max_drawdown_duration"])
    np.testing.assert_allclose(got["max_drawdown"], want["max_drawdown"], rtol=1e-9, atol=1e-15)


def test_rows_are_independent_of_their_chunk() -> None:
    c = sb.synthetic_candles(500, timeframe="1h", seed=4)
    close, ts, pn = c["close"].to_numpy(), c.index.asi8, period_ns(c)
    pos = targets(len(c), 10, seed=5, direction=kernels.BOTH)
    whole = sweep_stats(close, pos, cash=1.0, fees=0.001, slippage=0.0, ts_ns=ts, period_ns=pn)
    for j in (0, 3, 9):
        one = sweep_stats(close, pos[j : j + 1].copy(), cash=1.0, fees=0.001, slippage=0.0,
                          ts_ns=ts, period_ns=pn)
        for key in STAT_KEYS:
            np.testing.assert_array_equal(one[key], whole[key][j : j + 1], err_msg=key)
