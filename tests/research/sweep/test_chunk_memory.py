"""A chunk's measured peak memory stays within what the chunk planner budgets for it.

``plan_chunks`` sizes chunks from ``SweepJob.bytes_per_row()`` (per combination)
and ``SweepJob.fixed_bytes()`` (candles and indicator cache). Here one chunk
runs under tracemalloc, which sees numpy's buffers and numba's (the per-bar
loop allocates through the Python allocator), and its peak is compared with
that budget on every path: the closed form with the fast rows, the per-bar
loop (stops, next-open fills, gates, per-bar stop columns, fractional
targets), swept options and one signals call per combination. A one-row
chunk also needs about two arrays of the candles whatever its height; the
indicator cache's share of ``fixed_bytes`` (eight arrays, of which one
combination's fast rows use two) covers that.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.research.grid import build_grid
from sparkbt.research.sweep_jobs import SweepJob, run_chunk
from sparkbt.research.sweep_options import SweepOptions

N = 10_000  # bars: large enough that per-call overheads are small next to the arrays


def _candles(kind: str) -> pd.DataFrame:
    if kind == "random":
        return sb.synthetic_candles(N, timeframe="1h", seed=3)
    # a steady rise: every column is flat or always long, so equity sits at a running
    # peak on every bar (the drawdown-duration pass then keeps an index per bar)
    close = 100.0 * np.exp(np.linspace(0.0, 2.0, N))
    idx = pd.date_range("2021-01-01", periods=N, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close},
        index=idx,
    )
    return sb.load_candles(frame.assign(volume=1.0))


def stops_and_sizes(candles: pd.DataFrame, w: int = 5) -> pd.DataFrame:
    """Fractional targets with per-bar stop-loss and take-profit columns."""
    up = candles["close"].pct_change(w).to_numpy()
    return pd.DataFrame(
        {
            "target": np.where(up > 0, 0.5, -0.5),
            "sl_stop": 0.02,
            "tp_stop": np.where(up > 0.001, 0.05, np.nan),
        },
        index=candles.index,
    )


def _windows(rows: int) -> list[int]:
    return list(range(2, 2 + rows))


CASES = {
    "closed form, fast rows, flat equity": (
        "rising",
        "sma_cross",
        lambda r: {"fast": _windows(r), "slow": [400]},
        {"direction": "both"},
    ),
    "closed form, fast rows": (
        "random",
        "sma_cross",
        lambda r: {"fast": _windows(r), "slow": [400]},
        {},
    ),
    "per-bar loop: next open, stop": (
        "rising",
        "ema_cross",
        lambda r: {"fast": _windows(r), "slow": [400]},
        {"fill": "next_open", "sl_stop": 0.02, "sl_trail": True},
    ),
    "swept stop": (
        "random",
        "sma_cross",
        lambda r: {"fast": _windows(max(1, r // 2)), "slow": [400]},
        {"sl_stop": [None, 0.02]},
    ),
    "signals per combination": (
        "rising",
        "rsi_reversion",
        lambda r: {"window": _windows(r)},
        {},
    ),
    "stop columns, fractions, gates": (
        "random",
        stops_and_sizes,
        lambda r: {"w": _windows(r)},
        {
            "direction": "both",
            "fill": "next_open",
            "gates": {"max_drawdown": 0.3, "cooldown": 3},
        },
    ),
}


def _job(kind, strategy, grid, options, rows) -> SweepJob:
    frame = _candles(kind)
    strat = sb.get_strategy(strategy)
    opts = SweepOptions.parse(fees=0.001, **options)
    combos = build_grid(strat, grid(rows), options=opts.engine).iloc[:rows]
    config = opts.base_config().resolved(frame)
    # the smallest indicator cache a sweep gives a worker: 8 arrays of the candles
    return SweepJob(frame, strat, config, combos.reset_index(drop=True), cache_bytes=8 * 8 * N)


@pytest.mark.parametrize("rows", [1, 64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_chunk_stays_within_its_planned_memory(case, rows) -> None:
    kind, strategy, grid, options = CASES[case]
    run_chunk(_job(kind, strategy, grid, options, 2), 0, 2)  # numba loaded, caches warm
    job = _job(kind, strategy, grid, options, rows)
    assert len(job.combos) == rows
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run_chunk(job, 0, rows)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    budget = job.bytes_per_row() * rows + job.fixed_bytes()
    assert peak <= budget, (
        f"{case}: {peak / rows / N:.1f} bytes a bar per combination measured, "
        f"{job.bytes_per_row() / N:.0f} planned"
    )
