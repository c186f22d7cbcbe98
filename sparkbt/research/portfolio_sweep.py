"""``sweep()`` of a portfolio: the grid over a panel, one shared-cash backtest per combination.

:func:`sparkbt.research.sweep.run_sweep` hands a mapping, a ``Panel`` or a
weights strategy here; the options, grid, ``where``, samples and executors are
those of a single-symbol sweep, and the rows add ``turnover`` and
``rejected_orders``. The identity names every symbol's data fingerprint and
engine version 3, as a portfolio run id does.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.engine.exchange import resolve_portfolio_rules
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio import resolved
from sparkbt.engine.registry import Strategy
from sparkbt.engine.statspec import PORTFOLIO_STAT_KEYS
from sparkbt.evidence import data_fingerprint
from sparkbt.research.executors import Progress, run_chunks
from sparkbt.research.grid import normalise_grid
from sparkbt.research.portfolio_jobs import (
    PortfolioJob,
    check_portfolio_options,
    plan_portfolio_chunks,
)
from sparkbt.research.sweep_jobs import assemble_rows
from sparkbt.research.sweep_options import SweepOptions
from sparkbt.version import ENGINE_VERSION

__all__ = ["portfolio_sweep_identity", "run_portfolio_sweep"]


def portfolio_sweep_identity(
    panel: Panel,
    strategy: Strategy,
    grid: Mapping[str, list[Any]],
    config: Config,
    *,
    where: str | None,
    samples: int | None,
    seed: int | None,
    options: Mapping[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """Everything that determines a portfolio sweep's numbers: its evidence id hashes this."""
    return {
        "kind": "sweep",
        "run_kind": "portfolio",
        "engine_version": ENGINE_VERSION,
        "data_sha256": {s: data_fingerprint(f) for s, f in panel.frames.items()},
        "symbols": panel.symbols,
        "timeframe": panel.timeframe,
        "strategy": strategy.name,
        "strategy_sha256": strategy.source_sha256,
        "grid": {k: list(v) for k, v in grid.items()},
        "where": where or None,
        "samples": None if samples is None else int(samples),
        "seed": None if samples is None else (0 if seed is None else int(seed)),
        "config": config.to_dict(),
        "options": {k: list(v) for k, v in (options or {}).items() if len(v) > 1},
    }


def portfolio_config(
    opts: SweepOptions, panel: Panel, data_dir: str | Path | None = None
) -> Config:
    """The sweep's base config on ``panel`` (year length inferred there, exchange rules
    resolved from the store at ``data_dir``), stops refused."""
    config = resolved(opts.base_config(), panel)
    check_portfolio_options(config, opts.engine)
    return resolve_portfolio_rules(config, panel.symbols, data_dir)[0]


def run_portfolio_sweep(
    panel: Panel,
    strat: Strategy,
    opts: SweepOptions,
    grid: Mapping[str, Any],
    combos: pd.DataFrame,
    progress: Progress | None = None,
    started: float | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """One row per combination of ``combos`` with every stat of ``PORTFOLIO_STAT_KEYS``."""
    started = time.perf_counter() if started is None else started
    config = portfolio_config(opts, panel, data_dir)
    values = normalise_grid(strat, grid)
    budget = opts.memory_budget()
    n_workers = opts.worker_count()
    job = PortfolioJob(panel, strat, config, combos)
    chunks = plan_portfolio_chunks(job, n_workers, budget, opts.chunk_size)
    job.warm()
    parts = run_chunks(
        job,
        chunks,
        executor=opts.executor,
        workers=n_workers,
        scheduler=opts.scheduler,
        progress=progress,
    )
    out = assemble_rows(combos, parts, tuple(parts[0]) if parts else PORTFOLIO_STAT_KEYS)
    seconds = time.perf_counter() - started
    out.attrs["sweep"] = portfolio_sweep_identity(
        panel,
        strat,
        values,
        config,
        where=opts.where,
        samples=opts.samples,
        seed=opts.seed,
        options=opts.engine,
    )
    out.attrs["sweep"]["params"] = list(combos.columns)
    out.attrs["sweep"]["swept"] = [k for k in grid if len(values[k]) > 1] + list(opts.swept)
    out.attrs["timing"] = {
        "seconds": round(seconds, 6),
        "combinations": len(out),
        "candles": len(panel),
        "symbols": len(panel.symbols),
        "combinations_per_second": round(len(out) / seconds, 3) if seconds > 0 else None,
        "executor": opts.executor,
        "workers": n_workers,
        "chunks": len(chunks),
        "max_memory": budget,
    }
    return out
