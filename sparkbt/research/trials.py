"""The trials behind a proposed version when a stored sweep picked it: check, re-run.

:func:`trials_from_sweep` reads a stored sweep and checks it is of the proposed
version's strategy, code and candles; :func:`sweep_returns` re-runs (up to a cap
of) its combinations on those candles for the per-bar returns PBO by CSCV needs,
and :func:`sweep_pbo` estimates PBO from them. The candles are one pair's frame
or, for a portfolio, its panel: a portfolio sweep's combinations are re-run as
its rows were (:class:`~sparkbt.research.portfolio_jobs.PortfolioJob`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio import panel_period_ns, resolved, simulate_weights
from sparkbt.engine.registry import Strategy
from sparkbt.engine.simulate import prepare, simulate_targets
from sparkbt.engine.stats import bar_returns
from sparkbt.errors import ConfigError
from sparkbt.evidence import read_evidence
from sparkbt.research.assess_data import Market
from sparkbt.research.assess_runs import safe
from sparkbt.research.overfit import pbo_cscv
from sparkbt.research.portfolio_jobs import PortfolioJob
from sparkbt.research.sweep_jobs import SweepJob

__all__ = ["sweep_options_note", "sweep_pbo", "sweep_returns", "trials_from_sweep"]

_PBO_MAX_CELLS = 20_000_000  # bars x combinations of returns held for CSCV (160 MB)


def trials_from_sweep(
    sweep_id: str, evidence_dir: str | Path | None, market: Market, strat: Strategy
) -> Any:
    """The stored sweep ``sweep_id``; ConfigError unless it is of ``strat`` on ``market``.

    A portfolio's sweep must name the same symbols, in the same order, with the
    same candles (each symbol's fingerprint).
    """
    sweep = read_evidence(sweep_id, evidence_dir)
    if getattr(sweep, "kind", None) != "sweep":
        raise ConfigError(f"{sweep_id}: not a stored sweep")
    ident = sweep.meta.get("identity", {})
    same = ident.get("data_sha256") == market.fingerprint()
    if isinstance(market.candles, Panel):
        same = same and ident.get("symbols") == market.candles.symbols
    if ident.get("strategy") != strat.name or not same:
        raise ConfigError(
            f"sweep {sweep.id} is of {ident.get('strategy')} on other candles than the proposed "
            f"version ({strat.name}): its combinations are not this version's trials"
        )
    if ident.get("strategy_sha256") not in (None, strat.source_sha256):
        raise ConfigError(
            f"sweep {sweep.id} ran another version of the code of {strat.name}: "
            "its combinations are not this version's trials"
        )
    return sweep


def _combos(sweep: Any, cap: int, seed: int) -> pd.DataFrame:
    """The sweep's combinations (parameters and swept options), a random ``cap`` of them."""
    results = sweep.results
    names = [c for c in sweep.meta.get("params", []) if c in results.columns]
    combos = results[names].reset_index(drop=True)
    if len(combos) > cap:
        pick = np.sort(np.random.default_rng(seed).choice(len(combos), cap, replace=False))
        combos = combos.iloc[pick].reset_index(drop=True)
    return combos


def _option_value(value: Any) -> Any:
    """A swept option's value as ``Config`` takes it (the grid holds None as NaN)."""
    return None if isinstance(value, float) and value != value else value


def _portfolio_returns(
    panel: Panel, strat: Strategy, config: Config, combos: pd.DataFrame
) -> np.ndarray:
    """Per-bar returns of each combination's portfolio run, as the sweep's row was made."""
    job = PortfolioJob(panel, strat, config, combos)
    options = job.option_names
    period = panel_period_ns(panel)
    returns = np.empty((len(panel), len(combos)))
    params = combos[strat.param_names].to_dict("records")
    overs = combos[options].to_dict("records")
    for i, (p, o) in enumerate(zip(params, overs, strict=True)):
        cfg = config.replace(**{str(k): _option_value(v) for k, v in o.items()})
        weights = job.weights({str(k): v for k, v in p.items()}, cfg.direction)
        out, _ = simulate_weights(panel, weights, cfg, bar_period_ns=period)
        returns[:, i] = bar_returns(out.equity[:, None], cfg.cash)[:, 0]
    return returns


def sweep_returns(
    sweep: Any, candles: pd.DataFrame | Panel, strat: Strategy, cap: int, seed: int
) -> tuple[np.ndarray, int]:
    """Per-bar returns ``(bars, k)`` of up to ``cap`` of the sweep's combinations, re-run."""
    combos = _combos(sweep, cap, seed)
    config = Config(**(sweep.meta["identity"].get("config") or {}))
    if isinstance(candles, Panel):
        return _portfolio_returns(candles, strat, resolved(config, candles), combos), len(combos)
    frame = candles
    config = config.resolved(frame)
    job = SweepJob(frame, strat, config, combos)
    raw, sl, tp = job.target_rows(combos[strat.param_names])
    options = job.option_names
    groups = (
        combos.groupby(options, sort=False, dropna=False).indices
        if options
        else {(): np.arange(len(combos))}
    )
    returns = np.empty((len(frame), len(combos)))
    for key, rows in groups.items():
        values = key if isinstance(key, tuple) else (key,)
        over = {k: (None if pd.isna(v) else v) for k, v in zip(options, values, strict=True)}
        cfg = config.replace(**over)
        pos = prepare(raw[rows].T, cfg.direction)
        sim, _ = simulate_targets(
            frame,
            pos,
            cfg,
            None if sl is None else sl[rows].T,
            None if tp is None else tp[rows].T,
            want_fills=False,
        )
        returns[:, rows] = bar_returns(sim.equity, cfg.cash)
    return returns, len(combos)


def sweep_options_note(sweep: Any, strat: Strategy, config: Config) -> str | None:
    """A remark when the sweep ran with other engine options than ``config``, else None.

    Options the sweep varied as parameters are left out of the comparison.
    """
    swept = set(sweep.meta.get("params", [])) - set(strat.param_names)
    stored = {
        k: v for k, v in (sweep.meta["identity"].get("config") or {}).items() if k not in swept
    }
    mine = {k: v for k, v in config.to_dict().items() if k in stored}
    if safe(stored) == safe(mine):
        return None
    return (
        f"sweep {sweep.id} ran with other engine options than the proposed version "
        f"({stored} vs {mine})"
    )


def sweep_pbo(
    sweep: Any,
    candles: pd.DataFrame | Panel,
    strat: Strategy,
    combos: int,
    n_splits: int,
    seed: int,
) -> dict[str, Any]:
    """PBO by CSCV on the per-bar returns of up to ``combos`` of the sweep's combinations.

    ``{"pbo": None, "skipped": why}`` when fewer than two can be re-run (within
    a memory cap) or CSCV refuses them.
    """
    n_trials = len(sweep.results)
    cap = min(int(combos), _PBO_MAX_CELLS // max(len(candles), 1), n_trials)
    if cap < 2:
        return {"pbo": None, "skipped": f"PBO needs at least 2 combinations (can re-run {cap})"}
    try:
        perf, used = sweep_returns(sweep, candles, strat, cap, seed)
        res = pbo_cscv(perf, n_splits=n_splits)
    except ConfigError as exc:
        return {"pbo": None, "skipped": str(exc)}
    return {
        "pbo": res.pbo,
        "combinations": used,
        "of": n_trials,
        "seed": seed,
        "n_splits": res.n_splits,
        "cscv_combinations": res.n_combinations,
        "logit_median": float(np.median(res.logits)),
    }
