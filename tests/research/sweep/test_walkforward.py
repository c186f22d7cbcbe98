"""Walk-forward: the best in-sample combination, re-run on the next window out of sample."""

from __future__ import annotations

import numpy as np
import pytest

from sparkbt.data.timeframes import period_ns
from sparkbt.engine import codes, kernels
from sparkbt.engine.options import infer_year_days
from sparkbt.engine.registry import get_strategy
from sparkbt.engine.simulate import market_of
from sparkbt.engine.stats import STAT_KEYS, compute_stats
from sparkbt.errors import ConfigError
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_evidence import rank
from sparkbt.research.walkforward import walk_forward

GRID = {"fast": [3, 6, 12], "slow": [20, 40]}


def test_folds_pick_in_sample_best_and_report_out_of_sample(candles) -> None:
    wf = walk_forward(
        candles, "sma_cross", train="20d", test=120, metric="sharpe", fees=0.001, workers=1, **GRID
    )
    n_train = 480  # 20 days of hourly bars
    assert len(wf.folds) == (len(candles) - n_train - 120) // 120 + 1
    strat = get_strategy("sma_cross")
    for k, fold in wf.folds.iterrows():
        s = k * 120
        ins = sweep(candles.iloc[s : s + n_train], "sma_cross", fees=0.001, workers=1, **GRID)
        best = rank(ins, "sharpe").iloc[0]
        assert (fold.fast, fold.slow) == (best.fast, best.slow)
        assert fold.is_sharpe == best.sharpe
        # out of sample: signals warmed up on the training bars, simulation from the test bar
        window = candles.iloc[s : s + n_train + 120]
        raw = strat.signals(window, {"fast": int(fold.fast), "slow": int(fold.slow)})
        pos = kernels.prepare_targets(raw.to_numpy(), codes.LONG)[n_train:]
        test = window.iloc[n_train:]
        close = test["close"].to_numpy()
        sim = kernels.simulate(market_of(test), pos, kernels.SimOptions(10_000.0, 0.001))
        want = compute_stats(
            sim.equity,
            sim.units,
            sim.trades,
            cash=10_000.0,
            close=close,
            ts_ns=test.index.asi8,
            period_ns=period_ns(candles),
            year_days=infer_year_days(candles.index),
        )
        got = wf.oos.iloc[k]
        for key in STAT_KEYS:
            np.testing.assert_allclose(got[key], want[key][0], rtol=1e-9, err_msg=key)
        assert fold.test_start == test.index[0]
    s = wf.summary
    assert s["folds"] == len(wf.folds)
    assert s["out_of_sample_mean"] == pytest.approx(wf.folds.oos_sharpe.mean())
    assert s["oos_compounded_return"] == pytest.approx(np.prod(1 + wf.folds.oos_total_return) - 1)
    assert set(wf.to_dict()) == {"summary", "folds"}


def test_walk_forward_rejects_bad_windows(candles) -> None:
    with pytest.raises(ConfigError, match="fewer than train"):
        walk_forward(candles, "sma_cross", train=1400, test=200, **GRID)
    with pytest.raises(ConfigError, match="train"):
        walk_forward(candles, "sma_cross", train="soon", test=200, **GRID)
    with pytest.raises(ConfigError, match="metric"):
        walk_forward(candles, "sma_cross", train=500, test=200, metric="sharp", **GRID)


def test_walk_forward_of_a_strategy_without_parameters(candles) -> None:
    wf = walk_forward(candles, "buy_and_hold", train=500, test=200, workers=1)
    assert len(wf.folds) >= 1 and wf.oos["total_trades"].eq(1).all()
