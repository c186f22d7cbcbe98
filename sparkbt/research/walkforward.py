"""Walk-forward evaluation: pick on a training window, judge on the window after it.

Folds roll through the candles: train on bars ``[s, s+train)``, test on
``[s+train, s+train+test)``, then move ``s`` by ``step`` (default ``test``, so
test windows tile the data). On each training window the full sweep runs and
the best combination by ``metric`` is kept; it is then simulated on the test
window alone (starting with fresh cash at the first test bar; its indicators
are warmed up on the training bars before it, which only look back in time).
The fold table puts in-sample and out-of-sample figures side by side, and the
summary says how much of the in-sample edge survived. ``save()`` stores it as
``walkforward/<id>/`` evidence (:func:`.evidence.save_walk_forward`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.data.timeframes import parse_timeframe, period_ns
from sparkbt.engine.exchange import RULE_OPTIONS, resolve_exchange_rules
from sparkbt.engine.option_spec import with_option_keywords
from sparkbt.engine.options import OPTIONS, Config
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.engine.stats import STAT_KEYS, json_safe
from sparkbt.errors import CandleError, ConfigError
from sparkbt.research.grid import build_grid, normalise_grid
from sparkbt.research.portfolio_jobs import is_portfolio, portfolio_input
from sparkbt.research.portfolio_sweep import portfolio_config, portfolio_sweep_identity
from sparkbt.research.portfolio_walkforward import bars_frame, oos_portfolio_fold, panel_window
from sparkbt.research.sweep import SWEEP_KEYWORDS, run_sweep, sweep_identity
from sparkbt.research.sweep_evidence import rank, save_walk_forward
from sparkbt.research.sweep_jobs import SweepJob, returns_orders, run_chunk
from sparkbt.research.sweep_options import SweepOptions

__all__ = ["WalkForwardResult", "parse_bars", "walk_forward"]

_SHOWN = ("total_return", "sharpe", "max_drawdown", "total_trades")


def parse_bars(value: int | str, frame: pd.DataFrame, what: str) -> int:
    """Bars from a count (``720``) or a duration (``"180d"``, ``"12h"``) at the candles' period."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        bars = int(value)
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d+", text):
            bars = int(text)
        else:
            try:
                td = parse_timeframe(text)  # 180d, 12h, 2w (pandas deprecates lower-case d)
            except CandleError:
                td = None
            try:
                td = td if td is not None else pd.Timedelta(text)
            except (ValueError, TypeError, OverflowError):
                raise ConfigError(
                    f"{what}: expected a number of bars or a duration like 180d or 12h "
                    f"(got {value!r})"
                ) from None
            bars = round(td.value / period_ns(frame))
    if bars < 2:
        raise ConfigError(f"{what}: must span at least 2 bars (got {value!r})")
    return bars


@dataclass
class WalkForwardResult:
    """Per-fold table, out-of-sample stats per fold, and an in- vs out-of-sample summary.

    ``identity`` is everything that determines the numbers (its hash is the
    evidence id); ``timing`` is kept apart. :meth:`save` writes the evidence.
    """

    folds: pd.DataFrame
    oos: pd.DataFrame = field(repr=False)
    summary: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict, repr=False)
    timing: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def params(self) -> list[str]:
        """The strategy's parameters (columns of ``folds`` and ``oos``)."""
        return list(self.identity.get("grid", {}))

    def save(self, evidence_dir: str | Path | None = None) -> Path:
        """Write ``<evidence_dir>/walkforward/<id>/`` atomically; return the folder."""
        return save_walk_forward(self, evidence_dir)

    def to_dict(self) -> dict[str, Any]:
        rows = [
            {
                k: v.isoformat() if isinstance(v, pd.Timestamp) else json_safe(v)
                for k, v in r.items()
            }
            for r in self.folds.to_dict("records")
        ]
        return {"summary": {k: json_safe(v) for k, v in self.summary.items()}, "folds": rows}


def _summary(folds: pd.DataFrame, metric: str) -> dict[str, Any]:
    is_m = folds[f"is_{metric}"].to_numpy(dtype=float)
    oos_m = folds[f"oos_{metric}"].to_numpy(dtype=float)
    oos_tr = folds["oos_total_return"].to_numpy(dtype=float)
    is_mean = float(np.nanmean(is_m)) if np.isfinite(is_m).any() else float("nan")
    oos_mean = float(np.nanmean(oos_m)) if np.isfinite(oos_m).any() else float("nan")
    return {
        "folds": len(folds),
        "metric": metric,
        "in_sample_mean": is_mean,
        "out_of_sample_mean": oos_mean,
        "efficiency": oos_mean / is_mean if np.isfinite(is_mean) and is_mean != 0 else None,
        "oos_compounded_return": float(np.prod(1.0 + oos_tr) - 1.0),
        "oos_positive_share": float(np.mean(oos_tr > 0)),
    }


@with_option_keywords(OPTIONS, SWEEP_KEYWORDS)
def walk_forward(
    candles: pd.DataFrame | Mapping[str, Any] | Panel,
    strategy: str | Callable[..., pd.Series] | Strategy = "sma_cross",
    *,
    train: int | str,
    test: int | str,
    step: int | str | None = None,
    metric: str = "sharpe",
    progress: Callable[[int, int], None] | None = None,
    timeframe: str | None = None,
    symbol: str | None = None,
    data_dir: str | Path | None = None,
    **keywords: Any,
) -> WalkForwardResult:
    """Best parameters per training window (by ``metric``), evaluated on the next test window.

    Keywords are the options and the grid, as :func:`sweep` takes them; engine
    options are fixed for the whole walk-forward (one value each). A mapping or
    ``Panel`` walks a portfolio forward on the union of its bars
    (:mod:`.portfolio_walkforward`). ``exchange_rules`` are resolved once, from the
    store at ``data_dir``, and every fold runs with the values resolved.
    """
    started = time.perf_counter()
    opts, grid = SweepOptions.split(keywords)
    config = opts.single_config("walk-forward")
    strat = get_strategy(strategy)
    rank(pd.DataFrame(columns=list(STAT_KEYS)), metric)  # unknown metric fails early
    combos = build_grid(strat, grid, where=opts.where, samples=opts.samples, seed=opts.seed)
    values = normalise_grid(strat, grid)
    if is_portfolio(candles, strat):
        panel = portfolio_input(candles, timeframe, symbol)
        config = portfolio_config(opts, panel, data_dir)
        frame = bars_frame(panel)
        base = portfolio_sweep_identity(
            panel, strat, values, config, where=opts.where, samples=opts.samples, seed=opts.seed
        )
    else:
        frame = load_candles(cast(pd.DataFrame, candles), timeframe=timeframe, symbol=symbol)
        config = config.resolved(frame)
        config, _ = resolve_exchange_rules(config, frame.attrs.get("symbol"), data_dir)
        params = cast(dict[str, Any], combos[strat.param_names].iloc[0].to_dict())
        base = sweep_identity(
            frame,
            strat,
            values,
            config,
            where=opts.where,
            samples=opts.samples,
            seed=opts.seed,
            orders=returns_orders(strat, frame, params),
        )
        panel = None
    n_train, n_test, n_step, starts = _fold_starts(frame, train, test, step)
    # every fold sweeps with the year length of the whole data, not of its window
    rules = {k: getattr(config, k) for k in RULE_OPTIONS if getattr(config, k) is not None}
    fold_opts = opts.replace(year_days=config.year_days, exchange_rules=None, **rules)
    rows, oos_rows = [], []
    for k, s in enumerate(starts):
        fold = _Fold(k, s, n_train, n_test)
        fold_progress = _fold_progress(progress, k, len(starts))
        if panel is None:
            ins = run_sweep(
                frame.iloc[s : s + n_train], strat, fold_opts, grid, progress=fold_progress
            )
            row, oos_row = _test_fold(frame, strat, config, fold, ins, metric)
        else:
            window = panel_window(panel, s, s + n_train)
            ins = run_sweep(window, strat, fold_opts, grid, progress=fold_progress)
            row, oos_row = _test_portfolio_fold(panel, strat, config, fold, ins, metric)
        rows.append(row)
        oos_rows.append(oos_row)
    folds = pd.DataFrame(rows)
    identity = {
        **base,
        "kind": "walkforward",
        "train": n_train,
        "test": n_test,
        "step": n_step,
        "metric": metric,
    }
    timing = {
        "seconds": round(time.perf_counter() - started, 6),
        "folds": len(folds),
        "candles": len(frame),
        "executor": opts.executor,
        "workers": opts.worker_count(),
    }
    return WalkForwardResult(
        folds=folds,
        oos=pd.DataFrame(oos_rows),
        summary=_summary(folds, metric),
        identity=identity,
        timing=timing,
    )


@dataclass(frozen=True)
class _Fold:
    """Fold ``k``: training bars ``[start, start+train)``, test bars the ``test`` after them."""

    k: int
    start: int
    train: int
    test: int


def _fold_starts(
    frame: pd.DataFrame, train: int | str, test: int | str, step: int | str | None
) -> tuple[int, int, int, list[int]]:
    """Train, test and step in bars, and the first bar of each fold; ConfigError if none fits."""
    n_train = parse_bars(train, frame, "train")
    n_test = parse_bars(test, frame, "test")
    n_step = parse_bars(step, frame, "step") if step is not None else n_test
    starts = list(range(0, len(frame) - n_train - n_test + 1, n_step))
    if not starts:
        raise ConfigError(
            f"walk-forward: {len(frame):,} candles are fewer than train + test "
            f"({n_train:,} + {n_test:,} bars)"
        )
    return n_train, n_test, n_step, starts


def _fold_progress(
    progress: Callable[[int, int], None] | None, k: int, n_folds: int
) -> Callable[[int, int], None] | None:
    """Progress of fold ``k``'s sweep, reported as progress of the whole walk-forward."""
    if progress is None:
        return None

    def fold_progress(done: int, total: int) -> None:
        progress(k * total + done, n_folds * total)

    return fold_progress


def _best(ins: pd.DataFrame, metric: str) -> tuple[pd.Series, dict[str, Any]]:
    """The training sweep's best row by ``metric`` and its parameters."""
    best = rank(ins, metric).iloc[0]
    return best, {p: best[p] for p in ins.attrs["sweep"]["params"]}


def _fold_row(
    idx: pd.Index,
    fold: _Fold,
    params: dict[str, Any],
    best: pd.Series,
    oos: dict[str, np.ndarray],
    metric: str,
) -> dict[str, Any]:
    """One row of the fold table: windows, chosen parameters, in- and out-of-sample figures."""
    s, n_train, n_test = fold.start, fold.train, fold.test
    row: dict[str, Any] = {
        "fold": fold.k,
        "train_start": idx[s],
        "train_end": idx[s + n_train - 1],
        "test_start": idx[s + n_train],
        "test_end": idx[s + n_train + n_test - 1],
        **{p: (v.item() if isinstance(v, np.generic) else v) for p, v in params.items()},
        f"is_{metric}": float(best[metric]),
        f"oos_{metric}": float(oos[metric][0]),
    }
    for key in _SHOWN:
        if key != metric:
            row[f"is_{key}"] = float(best[key])
            row[f"oos_{key}"] = float(oos[key][0])
    return row


def _test_fold(
    frame: pd.DataFrame,
    strat: Strategy,
    config: Config,
    fold: _Fold,
    ins: pd.DataFrame,
    metric: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The best training combination run on the test window: its fold row and its stats row.

    The test run starts (fresh cash) at the first test bar; the training bars
    before it warm the indicators up.
    """
    s, n_train, n_test = fold.start, fold.train, fold.test
    best, params = _best(ins, metric)
    # one row, even for a strategy without parameters
    combo = pd.DataFrame({p: [v] for p, v in params.items()}, index=[0])
    window = frame.iloc[s : s + n_train + n_test]
    orders = "orders_filled" in ins.columns  # the training sweep ran orders
    job = SweepJob(window, strat, config, combo, start=n_train, orders=orders)
    oos = run_chunk(job, 0, 1)
    row = _fold_row(frame.index, fold, params, best, oos, metric)
    return row, {"fold": fold.k, **params, **{key: oos[key][0] for key in oos}}


def _test_portfolio_fold(
    panel: Panel,
    strat: Strategy,
    config: Config,
    fold: _Fold,
    ins: pd.DataFrame,
    metric: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`_test_fold` of a portfolio; the fold row names the symbols traded in the test."""
    best, params = _best(ins, metric)
    oos, symbols = oos_portfolio_fold(
        panel, strat, config, params, fold.start, fold.train, fold.test
    )
    row = _fold_row(panel.index, fold, params, best, oos, metric)
    row["symbols"] = ",".join(symbols)
    return row, {"fold": fold.k, **params, **{key: oos[key][0] for key in oos}}
