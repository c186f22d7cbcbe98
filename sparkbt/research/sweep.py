"""``sweep()``: check the inputs, build the job, run its chunks, assemble one frame.

This module sits on top of :mod:`.engine` (the job, chunk planning, one
chunk's stats) and :mod:`.executors` (where chunks run); both import only
downwards, so the imports of the package point one way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, cast

import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.engine.exchange import resolve_exchange_rules
from sparkbt.engine.option_spec import with_option_keywords
from sparkbt.engine.options import OPTIONS, SWEEP_OPTION_SPECS, Config, contract_version
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.engine.statspec import ORDER_STAT_KEYS, STAT_KEYS
from sparkbt.evidence import data_fingerprint
from sparkbt.research.executors import Progress, run_chunks
from sparkbt.research.grid import build_grid, normalise_grid
from sparkbt.research.portfolio_jobs import is_portfolio, portfolio_input
from sparkbt.research.portfolio_sweep import run_portfolio_sweep
from sparkbt.research.sweep_jobs import SweepJob, assemble_rows, plan_chunks, returns_orders
from sparkbt.research.sweep_options import SweepOptions

__all__ = ["identity_version", "run_sweep", "sweep", "sweep_identity"]

SWEEP_KEYWORDS = tuple(s for s in SWEEP_OPTION_SPECS if s.kind != "callable")
"""The sweep options taken through ``**keywords`` (``progress`` is a parameter of its own)."""


def sweep_identity(
    frame: pd.DataFrame,
    strategy: Strategy,
    grid: Mapping[str, list[Any]],
    config: Config,
    *,
    where: str | None,
    samples: int | None,
    seed: int | None,
    options: Mapping[str, list[Any]] | None = None,
    orders: bool = False,
) -> dict[str, Any]:
    """Everything that determines a sweep's numbers: its evidence id is a hash of this.

    A sweep of a strategy that returns orders says so (``run_kind``); its engine
    version is the contract its runs are made under (:func:`identity_version`).
    """
    ident: dict[str, Any] = {"kind": "sweep"}
    if orders:
        ident["run_kind"] = "orders"
    ident |= {
        "engine_version": "",
        "data_sha256": data_fingerprint(frame),
        "symbol": frame.attrs.get("symbol"),
        "timeframe": frame.attrs.get("timeframe"),
        "strategy": strategy.name,
        "strategy_sha256": strategy.source_sha256,
        "grid": {k: list(v) for k, v in grid.items()},
        "where": where or None,
        "samples": None if samples is None else int(samples),
        "seed": None if samples is None else (0 if seed is None else int(seed)),
        "config": config.to_dict(),
        "options": {k: list(v) for k, v in (options or {}).items() if len(v) > 1},
    }
    ident["engine_version"] = identity_version(ident)
    return ident


def identity_version(ident: Mapping[str, Any]) -> str:
    """The engine contract of a single-symbol sweep identity's runs (orders, v3 options: v3)."""
    config = {**(ident.get("config") or {}), **(ident.get("options") or {})}
    return contract_version(config, v3=ident.get("run_kind") == "orders")


@with_option_keywords(OPTIONS, SWEEP_KEYWORDS)
def sweep(
    candles: pd.DataFrame | Mapping[str, Any] | Panel,
    strategy: str | Callable[..., pd.Series] | Strategy = "sma_cross",
    *,
    progress: Progress | None = None,
    timeframe: str | None = None,
    symbol: str | None = None,
    data_dir: str | Path | None = None,
    **keywords: Any,
) -> pd.DataFrame:
    """Backtest every combination of a parameter grid; one row per combination.

    Keywords named in ``OPTIONS`` and ``SWEEP_OPTION_SPECS`` (docs/options.md)
    are options; the others are the grid, mapping parameter names to values
    (scalar, range, list, or text ``"5:50"`` / ``"20:200:5"`` / ``"5,8,13"``).
    Engine options that sweep take values the same way
    (``sl_stop=[0.01, 0.02, 0.05]``) and are swept too. ``where`` filters
    combinations (``"fast < slow"``); ``samples``/``seed`` draw a seeded subset.
    Each row holds the parameters, the swept options and every stat of
    ``STAT_KEYS``, equal to ``backtest`` for that combination. A mapping
    ``{symbol: frame or file}`` or a ``Panel`` (or a weights strategy on one
    frame) sweeps a portfolio: rows add ``turnover`` and ``rejected_orders``.
    ``executor="dask"`` with ``scheduler="tcp://host:8786"`` (or a
    ``distributed.Client``) spreads chunks over a cluster. ``df.attrs["sweep"]``
    carries the identity (what determines the numbers), ``df.attrs["timing"]`` the timing.
    ``exchange_rules`` are resolved once, from the store at ``data_dir``.
    """
    started = time.perf_counter()
    opts, grid = SweepOptions.split(keywords)
    return run_sweep(
        candles,
        strategy,
        opts,
        grid,
        progress=progress,
        timeframe=timeframe,
        symbol=symbol,
        started=started,
        data_dir=data_dir,
    )


def run_sweep(
    candles: pd.DataFrame | Mapping[str, Any] | Panel,
    strategy: str | Callable[..., pd.Series] | Strategy,
    opts: SweepOptions,
    grid: Mapping[str, Any],
    *,
    progress: Progress | None = None,
    timeframe: str | None = None,
    symbol: str | None = None,
    started: float | None = None,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`sweep` with its options checked already (``SweepOptions``)."""
    started = time.perf_counter() if started is None else started
    strat = get_strategy(strategy)
    values = normalise_grid(strat, grid)
    combos = build_grid(
        strat, grid, where=opts.where, samples=opts.samples, seed=opts.seed, options=opts.engine
    )
    if is_portfolio(candles, strat):
        panel = portfolio_input(candles, timeframe, symbol)
        return run_portfolio_sweep(panel, strat, opts, grid, combos, progress, started, data_dir)
    frame = load_candles(cast(pd.DataFrame, candles), timeframe=timeframe, symbol=symbol)
    config = opts.base_config().resolved(frame)
    config, _ = resolve_exchange_rules(config, frame.attrs.get("symbol"), data_dir)
    budget = opts.memory_budget()
    n_workers = opts.worker_count()
    first = cast(dict[str, Any], combos[strat.param_names].iloc[0].to_dict())
    job = SweepJob(
        frame,
        strat,
        config,
        combos,
        cache_bytes=_cache_bytes(budget, n_workers, frame),
        orders=returns_orders(strat, frame, first),
    )
    chunks = plan_chunks(job, n_workers, budget, opts.chunk_size)
    parts = run_chunks(
        job,
        chunks,
        executor=opts.executor,
        workers=n_workers,
        scheduler=opts.scheduler,
        progress=progress,
    )
    out = assemble_rows(combos, parts, ORDER_STAT_KEYS if job.orders else STAT_KEYS)
    seconds = time.perf_counter() - started
    out.attrs["sweep"] = sweep_identity(
        frame,
        strat,
        values,
        config,
        where=opts.where,
        samples=opts.samples,
        seed=opts.seed,
        options=opts.engine,
        orders=job.orders,
    )
    out.attrs["sweep"]["params"] = list(combos.columns)
    out.attrs["sweep"]["swept"] = [k for k in grid if len(values[k]) > 1] + list(opts.swept)
    out.attrs["timing"] = {
        "seconds": round(seconds, 6),
        "combinations": len(out),
        "candles": len(frame),
        "combinations_per_second": round(len(out) / seconds, 3) if seconds > 0 else None,
        "executor": opts.executor,
        "workers": n_workers,
        "chunks": len(chunks),
        "max_memory": budget,
    }
    return out


def _cache_bytes(budget: int, workers: int, frame: pd.DataFrame) -> int:
    """A quarter of each worker's share for cached indicators (at least 8 arrays)."""
    return max(budget // max(workers, 1) // 4, 8 * len(frame) * 8)
