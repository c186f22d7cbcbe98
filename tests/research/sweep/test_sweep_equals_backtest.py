"""Sweep rows equal single backtests, whatever the strategy, direction, chunking or workers."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.engine.stats import STAT_KEYS
from sparkbt.errors import ConfigError
from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_jobs import SweepJob, plan_chunks
from sparkbt.research.sweep_options import parse_memory

GRIDS = {
    "sma_cross": {"fast": "3:20:4", "slow": [10, 25, 60]},
    "ema_cross": {"fast": [3, 8], "slow": [12, 40]},
    "rsi_reversion": {"window": [7, 14], "lower": [25.0, 35.0], "upper": [65.0]},
    "bollinger": {"window": [10, 30], "k": [1.0, 2.0]},
    "donchian_breakout": {"window": [10, 40], "exit_window": [5, 10]},
    "buy_and_hold": {},
}


def assert_row_equals(row: pd.Series, stats: dict, what: str) -> None:
    for key in STAT_KEYS:
        want, got = stats[key], row[key]
        if want is None:
            assert math.isnan(got), f"{what} {key}: {got} != None"
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{what} {key}"


@pytest.mark.parametrize("name", sorted(GRIDS))
@pytest.mark.parametrize("direction", ["long", "short", "both"])
def test_sampled_rows_equal_backtest(candles, name, direction) -> None:
    cfg = {"fees": 0.001, "slippage": 0.0005, "direction": direction}
    out = sweep(candles, name, workers=1, chunk_size=3, **cfg, **GRIDS[name])
    params = out.attrs["sweep"]["params"]
    rng = np.random.default_rng(len(name))
    picks = sorted(set(rng.integers(0, len(out), size=min(3, len(out))).tolist()) | {len(out) - 1})
    for i in picks:
        row = out.iloc[i]
        p = {k: row[k].item() for k in params}
        res = sb.backtest(candles, name, **cfg, **p)
        assert_row_equals(row, res.stats, f"{name} {direction} {p}")


def test_fractional_user_strategy_takes_the_exact_path(candles) -> None:
    def scaled(frame: pd.DataFrame, w: int = 5, size: float = 0.5) -> pd.Series:
        up = frame["close"].pct_change(w).to_numpy() > 0
        return pd.Series(np.where(up, size, -size), index=frame.index)

    out = sweep(candles, scaled, w=[3, 9], size=[0.25, 1.0], direction="both", fees=0.002)
    assert len(out) == 4
    for i in range(4):
        p = {"w": int(out.w[i]), "size": float(out["size"][i])}
        res = sb.backtest(candles, scaled, direction="both", fees=0.002, **p)
        assert_row_equals(out.iloc[i], res.stats, str(p))


def test_results_do_not_depend_on_chunks_or_workers(candles) -> None:
    grid = {"fast": "2:30:2", "slow": "10:80:7"}
    a = sweep(candles, "sma_cross", fees=0.001, workers=1, chunk_size=1000, **grid)
    b = sweep(candles, "sma_cross", fees=0.001, workers=1, chunk_size=7, **grid)
    c = sweep(candles, "sma_cross", fees=0.001, workers=2, chunk_size=5, **grid)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(a, c, check_exact=True)
    assert list(a.columns) == ["fast", "slow", *STAT_KEYS]
    assert a.attrs["sweep"] == c.attrs["sweep"]


def test_progress_reports_every_combination(candles) -> None:
    seen: list[tuple[int, int]] = []
    out = sweep(
        candles,
        "sma_cross",
        fast="3:9",
        slow=[30],
        workers=2,
        chunk_size=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (len(out), len(out))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_memory_budget_bounds_the_chunks(candles) -> None:
    strat = sb.get_strategy("sma_cross")
    combos = pd.DataFrame({"fast": np.arange(1, 2001), "slow": np.full(2000, 5000)})
    frame = sb.synthetic_candles(200_000, timeframe="1h", seed=1)
    job = SweepJob(frame, strat, sb.Config(), combos, cache_bytes=16 * 2**20)
    budget = parse_memory("200MB")
    chunks = plan_chunks(job, 2, budget)
    rows = max(hi - lo for lo, hi in chunks)
    assert rows * job.bytes_per_row() <= budget // 2
    assert chunks[0][0] == 0 and chunks[-1][1] == 2000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    with pytest.raises(ConfigError, match="too small"):
        plan_chunks(job, 2, parse_memory("20MB"))


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GB", 2 * 2**30), ("500MB", 500 * 2**20), ("1.5g", int(1.5 * 2**30)), (1024, 1024)],
)
def test_parse_memory(text, size) -> None:
    assert parse_memory(text) == size


@pytest.mark.parametrize("text", ["lots", "2 XB", "-1", "0MB"])
def test_parse_memory_rejects_garbage(text) -> None:
    with pytest.raises(ConfigError, match="max_memory"):
        parse_memory(text)


def test_bad_config_fails_before_work(candles) -> None:
    with pytest.raises(ConfigError, match="fees"):
        sweep(candles, "sma_cross", fees=2, fast=[5])
    with pytest.raises(ConfigError, match="executor"):
        sweep(candles, "sma_cross", executor="spark", fast=[5])


def test_engine_options_are_swept_like_parameters(candles) -> None:
    out = sweep(
        candles,
        "sma_cross",
        fast=[5, 10],
        slow=[30],
        fees=0.001,
        sl_stop=[None, 0.01, 0.03],
        fill="close,next_open",
        gates={"cooldown": 2},
        workers=1,
        chunk_size=5,
    )
    assert len(out) == 2 * 3 * 2
    assert out.attrs["sweep"]["swept"] == ["fast", "fill", "sl_stop"]
    assert out.attrs["sweep"]["options"] == {
        "sl_stop": [None, 0.01, 0.03],
        "fill": ["close", "next_open"],
    }
    assert out["ruined"].dtype == bool
    for row in out.itertuples():
        sl = None if math.isnan(row.sl_stop) else row.sl_stop
        res = sb.backtest(
            candles,
            "sma_cross",
            fast=row.fast,
            slow=30,
            fees=0.001,
            sl_stop=sl,
            fill=row.fill,
            gates={"cooldown": 2},
        )
        assert_row_equals(out.iloc[row.Index], res.stats, f"{row}")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"seed": [1, 2], "samples": 2}, "seed: expected one whole number"),
        ({"samples": "many"}, "samples: expected one whole number"),
        ({"where": ["fast < slow"]}, "where: expected one condition"),
        ({"sl_stop": [0.01, 1.5]}, r"sl_stop: must be a fraction in \(0, 1\)"),
        ({"gates": {"max_drawdown": [0.1, 0.2]}}, "gate max_drawdown: expected a number"),
        ({"fill": []}, "fill: empty list"),
    ],
)
def test_sweep_options_are_single_values(candles, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        sweep(candles, "sma_cross", fast=[5, 10], workers=1, **kwargs)


def test_where_whitespace_does_not_change_the_sweep_id(candles) -> None:
    a = sweep(candles, "sma_cross", fast=[5, 10], slow=[30], where="fast<slow", workers=1)
    b = sweep(candles, "sma_cross", fast=[5, 10], slow=[30], where=" fast  <  slow ", workers=1)
    assert a.attrs["sweep"] == b.attrs["sweep"]
