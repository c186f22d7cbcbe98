"""Sweep jobs: chunks of combinations → target rows → stats, under a memory budget.

Combinations are cut into chunks of rows; a chunk is one ``(rows, n)`` matrix
of targets, built by the strategy's fast path (indicators once per window) or
by one ``signals`` call per combination, and reduced to one stats row per
combination by the core kernels and statistics, which work on many columns at
once (the same code as a single backtest). The chunk height is the smaller of a
cache-friendly size and what ``max_memory`` allows per worker, so memory stays
bounded whatever the grid size. Each row's numbers depend only on its own
combination, so results are identical for any chunk size, worker count or
executor. :mod:`.orchestrate` builds the job and hands its chunks to
:mod:`.executors`; this module imports neither.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import period_ns
from sparkbt.engine.options import Config
from sparkbt.engine.order_run import checked_orders, simulate_order_table
from sparkbt.engine.registry import Strategy, builtin_dir, get_strategy
from sparkbt.engine.simulate import prepare, simulate_targets
from sparkbt.engine.stats import COUNT_KEYS, STAT_KEYS
from sparkbt.engine.statspec import ORDER_STAT_KEYS
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.fast_rows import IndicatorCache, fast_path, generic_rows

__all__ = [
    "StrategyPickle",
    "SweepJob",
    "assemble_rows",
    "plan_chunks",
    "returns_orders",
    "run_chunk",
    "run_order_chunk",
]


class StrategyPickle:
    """Pickling of a job naming its strategy by reference: workers load strategy files
    themselves (functions in them live in modules only the registry can import), and
    refuse a file whose source differs from the one the job was planned with."""

    strategy: Strategy

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        ref = _strategy_ref(self.strategy)
        if ref is not None:
            state["strategy"] = ref
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        ref = state["strategy"]
        if isinstance(ref, tuple):
            strat = get_strategy(ref[0])
            if strat.source_sha256 != ref[1]:
                raise StrategyError(f"{ref[0]}: strategy source differs on this worker")
            state["strategy"] = strat
        self.__dict__.update(state)


@dataclass
class SweepJob(StrategyPickle):
    """Everything a worker needs to turn rows ``[lo, hi)`` of ``combos`` into stats."""

    frame: pd.DataFrame
    strategy: Strategy
    config: Config  # year_days resolved; swept options override it per row
    combos: pd.DataFrame  # parameters, then the swept engine options
    start: int = 0  # first simulated bar (signals see the bars before it: warm-up)
    cache_bytes: int = 256 * 2**20
    orders: bool = False  # the strategy returns orders: one combination at a time
    _cache: IndicatorCache | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_cache"] = None
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.Lock()

    def run(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Stats of combinations ``lo..hi-1`` (:func:`run_chunk`)."""
        return run_chunk(self, lo, hi)

    @property
    def close(self) -> np.ndarray:
        return self.frame["close"].to_numpy()

    def target_rows(
        self, params: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Raw target rows ``(m, n)`` of combinations ``params``, and stop rows if any.

        The strategy's fast path fills them from the job's indicator cache,
        which the threads of one worker share (one at a time); otherwise one
        signals call per combination (:func:`.fast.generic_rows`).
        """
        rows = fast_path(self.strategy)
        if rows is None:
            # the columns are the strategy's parameter names
            combos = cast(list[dict[str, Any]], params.to_dict("records"))
            return generic_rows(self.strategy, self.frame, combos)
        with self._lock:
            if self._cache is None:
                self._cache = IndicatorCache(self.close, self.cache_bytes)
            return rows(self._cache, {k: params[k].to_numpy() for k in params.columns}), None, None

    @property
    def option_names(self) -> list[str]:
        """The swept engine options: the combination columns that are not parameters."""
        params = set(self.strategy.param_names)
        return [c for c in self.combos.columns if c not in params]

    def fixed_bytes(self) -> int:
        """Memory a worker holds whatever the chunk height: the candles and the indicator cache."""
        return int(self.frame.memory_usage(deep=False).sum()) + self.cache_bytes

    def bytes_per_row(self) -> int:
        """Peak working memory of one combination in a chunk (measured, with margin).

        Per bar and combination: the raw target row, its prepared copy, equity
        and units, and the statistics' temporaries, whose drawdown-duration
        pass keeps two int64 indexes for every bar at a running peak (16 bytes
        a bar when a column never leaves its peak: flat or steadily rising).
        The closed form with fast rows peaks near 76 bytes, hence 96; the
        per-bar loop adds a transposed copy of the targets and per-bar stop
        rows, and the generic rows a signals call each, up to about 95, hence
        160. ``tests/research/sweep/test_chunk_memory.py`` measures both.
        """
        n = len(self.frame)
        closed_form = self.config.sim_options().path_free and not self.option_names
        return n * (96 if fast_path(self.strategy) and closed_form else 160)


def _strategy_ref(strategy: Strategy) -> tuple[str, str] | None:
    """``(reference, source sha)`` for a strategy defined in a file, else None."""
    origin = Path(strategy.origin) if strategy.origin else None
    if origin is None or origin.suffix != ".py" or not origin.is_file():
        return None
    if origin.resolve() == (builtin_dir() / f"{strategy.name}.py").resolve():
        return strategy.name, strategy.source_sha256
    return f"{origin}:{strategy.name}", strategy.source_sha256


def returns_orders(strategy: Strategy, frame: pd.DataFrame, params: dict[str, Any]) -> bool:
    """Whether the strategy returns orders (judged on one combination; fast paths never do)."""
    if fast_path(strategy) is not None:
        return False
    return strategy.evaluate(frame, strategy.validate(params)).orders is not None


def run_order_chunk(job: SweepJob, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Stats (ORDER_STAT_KEYS) of combinations ``lo..hi-1`` of a strategy that returns orders.

    One combination at a time, by the step a backtest of orders takes
    (:func:`sparkbt.engine.order_run.simulate_order_table`), so a worker holds one
    combination's orders and kernel output at a time.
    """
    combos = job.combos.iloc[lo:hi]
    strat, frame, s = job.strategy, job.frame, job.start
    traded = frame.iloc[s:] if s else frame
    params = cast(list[dict[str, Any]], combos[strat.param_names].to_dict("records"))
    options = cast(list[dict[str, Any]], combos[job.option_names].to_dict("records"))
    pn = period_ns(frame)
    out = {k: np.empty(len(combos)) for k in ORDER_STAT_KEYS}
    for i, (p, o) in enumerate(zip(params, options, strict=True)):
        raw = strat.evaluate(frame, strat.validate(p)).orders
        if raw is None:
            raise StrategyError(f"{strat.name}: returned targets for {p} but orders for others")
        table = checked_orders(strat.name, raw, frame, s)
        cfg = job.config.replace(**{k: _option_value(v) for k, v in o.items()})
        _, stats = simulate_order_table(traded, table, cfg, bar_period_ns=pn)
        for k in ORDER_STAT_KEYS:
            out[k][i] = stats[k][0]
    return out


def _option_value(value: Any) -> Any:
    """A swept option's value as ``Config`` takes it (the grid holds None as NaN)."""
    return None if isinstance(value, float) and value != value else value


def run_chunk(job: SweepJob, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Stats of combinations ``lo..hi-1`` of the job (one value per combination).

    Target rows are built once for the chunk; rows that share engine options
    are simulated together by :func:`sparkbt.engine.simulate.simulate_targets`, the
    same step a single backtest takes. Orders go through :func:`run_order_chunk`.
    """
    if job.orders:
        return run_order_chunk(job, lo, hi)
    combos = job.combos.iloc[lo:hi]
    params = combos[job.strategy.param_names]
    raw, sl, tp = job.target_rows(params)
    s = job.start
    frame = job.frame.iloc[s:] if s else job.frame
    pn = period_ns(job.frame)
    names = job.option_names
    groups = (
        combos.groupby(names, sort=False, dropna=False).indices
        if names
        else {(): np.arange(len(combos))}
    )
    out = {k: np.empty(len(combos)) for k in STAT_KEYS}
    for key, rows in groups.items():
        values = key if isinstance(key, tuple) else (key,)
        cfg = job.config.replace(**dict(zip(names, values, strict=True)))
        # (bars, combinations) with each combination contiguous: the kernels and
        # stats reduce along memory in this layout
        pos = prepare(raw[rows, s:].T, cfg.direction)
        _, stats = simulate_targets(
            frame,
            pos,
            cfg,
            None if sl is None else sl[rows, s:].T,
            None if tp is None else tp[rows, s:].T,
            want_fills=False,
            bar_period_ns=pn,
        )
        for k in STAT_KEYS:
            out[k][rows] = stats[k]
    return out


def plan_chunks(
    job: SweepJob, workers: int, max_memory: int, chunk_size: int | None = None
) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` whose working memory fits ``max_memory`` across workers."""
    total = len(job.combos)
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size: must be >= 1 (got {chunk_size!r})")
        rows = int(chunk_size)
    else:
        n = len(job.frame)
        per_worker = max_memory // max(workers, 1)
        fixed = job.fixed_bytes()
        room = per_worker - fixed
        need = job.bytes_per_row()
        if room < need:
            raise ConfigError(
                f"max_memory {max_memory / 2**20:,.0f} MiB is too small for {n:,} candles "
                f"with {workers} worker(s): one combination needs about "
                f"{(need + fixed) / 2**20:,.0f} MiB per worker"
            )
        cache_rows = max(2, 3_000_000 // max(n, 1))  # keep a chunk's arrays near the CPU caches
        rows = max(1, min(room // need, cache_rows))
        # enough chunks to keep every worker busy
        rows = max(1, min(rows, -(-total // max(workers * 4, 1))))
    return [(lo, min(lo + rows, total)) for lo in range(0, total, rows)]


def assemble_rows(
    combos: pd.DataFrame, parts: list[dict[str, np.ndarray]], keys: tuple[str, ...] = STAT_KEYS
) -> pd.DataFrame:
    """One frame: the combinations, then one column per stat (counts int64, ``ruined`` bool)."""
    out = combos.reset_index(drop=True).copy()
    for key in keys:
        col = np.concatenate([p[key] for p in parts]) if parts else np.zeros(0)
        if key == "ruined":
            out[key] = col.astype(bool)
        else:
            out[key] = col.astype(np.int64) if key in COUNT_KEYS else col.astype(np.float64)
    return out
