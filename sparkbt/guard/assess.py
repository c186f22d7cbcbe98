"""The evidence of a param change: run the engine on a proposed version, then its gates.

:func:`assess` takes a proposed :class:`~sparkbt.guard.paramsets.ParamSetVersion`
(and the approved one it would replace, if any), loads the candles of the
proposed version's pair and timeframe once (:func:`sparkbt.store.resolve_candles`)
and on those same candles:

1. backtests both versions on the whole window and stores each as an ordinary
   run (``evidence/backtest/<id>/``);
2. splits the window: the last ``oos_fraction`` of the bars are held out. The
   in-sample run is an ordinary backtest of the bars before the split (stored
   too). The out-of-sample run starts with fresh cash at the first held-out bar
   while the strategy sees every bar before it, so its indicators are warm — the
   way :func:`sparkbt.walk_forward` judges its test windows. Taking the stats of
   the held-out slice of the full-window run instead would be wrong: its
   equity, open position, drawdown and gate state carry over from the
   in-sample bars, and trades opened before the split would count as
   out-of-sample. Re-running the held-out bars cold (a plain backtest of the
   slice) would be wrong the other way: the first bars would trade on
   indicators still warming up. The out-of-sample run is not stored: a stored
   run's id names its candles, and these figures depend on bars before them;
3. walks the proposed parameters' neighbourhood forward over ``folds`` test
   windows (:func:`sparkbt.walk_forward`), and reports its summary;
4. backtests each numeric parameter one step either way (int ±1, float ±10%),
   within its schema range and the strategy's constraints: the neighbourhood;
5. deflates the full-window Sharpe ratio (:func:`~sparkbt.guard.overfit.deflated_sharpe_ratio`)
   by the trials that chose it: the combinations of an attached sweep, else the
   proposed version and its neighbours; with a sweep, estimates the probability
   of backtest overfitting by CSCV on the per-bar returns of (up to
   ``pbo_combos`` of) its combinations, re-run on these candles;
6. checks the strategy for look-ahead (:func:`~sparkbt.guard.lookahead.lookahead_check`);
7. measures the parameter changes against the approved version, and evaluates
   the policy's gates on all of it.

Everything is deterministic: the same versions, candles, policy and options give
the same run ids and the same :meth:`Assessment.to_dict` apart from ``timing``.
Sweeps run in this process (one worker): the caller is usually a worker already.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..candles import period_ns
from ..config import Config
from ..errors import ConfigError, StrategyError
from ..evidence import data_fingerprint, read_evidence
from ..registry import Strategy, get_strategy
from ..simulate import backtest, prepare, simulate_targets
from ..stats import bar_returns, json_safe, stats_row
from ..store import resolve_candles
from ..sweeps.engine import SweepJob, run_chunk
from ..sweeps.walkforward import walk_forward
from .evaluate import Evidence, GateResult, decision, evaluate, param_changes
from .lookahead import LookaheadResult, lookahead_check
from .overfit import deflated_sharpe_ratio, pbo_cscv
from .paramsets import ParamSetVersion
from .policy import Policy

__all__ = ["HEADLINE", "Assessment", "assess", "neighbours"]

HEADLINE = ("total_return", "sharpe", "max_drawdown", "total_trades", "win_rate")
"""The stats shown side by side for the approved and the proposed version."""

_DAY_NS = 86_400 * 10**9
_PBO_MAX_CELLS = 20_000_000  # bars x combinations of returns held for CSCV (160 MB)


def _safe(value: Any) -> Any:
    """JSON-ready, recursively: NaN/inf -> None, numpy scalars -> Python, timestamps -> ISO."""
    if isinstance(value, Mapping):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [_safe(v) for v in value.tolist()]
    return json_safe(value)


@dataclass
class Assessment:
    """Everything :func:`assess` found, and the decision.

    ``runs`` labels stored backtest ids (``proposed``, ``approved``,
    ``proposed_in_sample``); ``headline`` puts :data:`HEADLINE` stats of the
    approved and proposed versions side by side; ``split`` is the in-sample /
    out-of-sample table; ``neighbourhood`` one row per neighbour; ``timing``
    (seconds per step) is the only part that varies between identical calls.
    """

    proposed: ParamSetVersion
    base: ParamSetVersion | None
    evidence: Evidence
    results: list[GateResult]
    decision: str
    policy_sha256: str
    policy_source: str
    data: dict[str, Any]
    runs: dict[str, str]
    headline: dict[str, dict[str, Any] | None]
    split: dict[str, Any]
    walk_forward: dict[str, Any]
    neighbourhood: list[dict[str, Any]]
    dsr: dict[str, Any]
    pbo: dict[str, Any]
    lookahead: LookaheadResult
    notes: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (no NaN, no numpy types) for the proposal store."""
        ev = dataclasses.asdict(self.evidence)
        ev["param_changes"] = (
            None
            if self.evidence.param_changes is None
            else {
                k: (None if not math.isfinite(v) else v)
                for k, v in self.evidence.param_changes.items()
            }
        )
        return _safe(
            {
                "decision": self.decision,
                "policy": {"sha256": self.policy_sha256, "source": self.policy_source},
                "proposed": self.proposed.to_dict(),
                "base": None if self.base is None else self.base.to_dict(),
                "gates": [r.to_dict() for r in self.results],
                "evidence": ev,
                "data": self.data,
                "runs": self.runs,
                "headline": self.headline,
                "split": self.split,
                "walk_forward": self.walk_forward,
                "neighbourhood": self.neighbourhood,
                "dsr": self.dsr,
                "pbo": self.pbo,
                "lookahead": self.lookahead.to_dict(),
                "notes": self.notes,
                "timing": self.timing,
            }
        )


def _strategy(version: ParamSetVersion, what: str) -> Strategy:
    strat = get_strategy(version.strategy)
    if version.strategy_sha256 and strat.source_sha256 != version.strategy_sha256:
        raise ConfigError(
            f"{what} version {version.id[:12]}: the code of strategy {strat.name} changed since "
            "the version was made (its sha256 differs); make a new version of it"
        )
    return strat


def _config(version: ParamSetVersion, frame: pd.DataFrame) -> Config:
    opts = dict(version.options)
    opts["gates"] = dict(opts.get("gates") or {})
    return Config(**opts).resolved(frame)


def _run(frame: pd.DataFrame, strat: Strategy, params: Mapping[str, Any], config: Config):
    return backtest(frame, strat, **config.to_dict(), **params)


def _headline(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {k: json_safe(stats.get(k)) for k in HEADLINE}


def _combos(strat: Strategy, rows: list[dict[str, Any]]) -> pd.DataFrame:
    # the index gives the row count even when the strategy has no parameters
    return pd.DataFrame(
        {p: [r[p] for r in rows] for p in strat.param_names}, index=range(len(rows))
    )


def _stats_of(
    frame: pd.DataFrame,
    strat: Strategy,
    config: Config,
    rows: list[dict[str, Any]],
    start: int = 0,
) -> list[dict[str, Any]]:
    """Stats of each parameter combination (the sweep engine, in this process).

    With ``start`` the simulation begins at that bar with fresh cash; the
    strategy sees the bars before it (warm-up).
    """
    if not rows:
        return []
    job = SweepJob(frame, strat, config, _combos(strat, rows), start=start)
    out = run_chunk(job, 0, len(rows))
    return [stats_row(out, i) for i in range(len(rows))]


def neighbours(strat: Strategy, params: Mapping[str, Any]) -> list[tuple[str, Any, dict]]:
    """``(parameter, value, params)`` one step either way of each numeric parameter.

    Ints move by 1, floats by 10% of their value (a float at 0 has no relative
    step and is left out); values outside the schema range, equal to the
    original after clipping, or breaking a constraint are skipped.
    """
    out: list[tuple[str, Any, dict]] = []
    for spec in strat.params:
        v = params.get(spec.name)
        if spec.type not in (int, float) or isinstance(v, bool) or v is None:
            continue
        if spec.type is int:
            steps = [int(v) - 1, int(v) + 1]
        elif v == 0:
            continue
        else:
            steps = [float(v) * 0.9, float(v) * 1.1] if v > 0 else [v * 1.1, v * 0.9]
        seen = set()
        for x in steps:
            if spec.ge is not None:
                x = max(x, spec.type(spec.ge))
            if spec.le is not None:
                x = min(x, spec.type(spec.le))
            if x == v or x in seen:
                continue
            seen.add(x)
            try:
                checked = strat.validate({**params, spec.name: x})
            except StrategyError:
                continue
            out.append((spec.name, checked[spec.name], checked))
    return out


def _walk_grid(strat: Strategy, params: Mapping[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {p: [params[p]] for p in strat.param_names}
    for name, value, _ in neighbours(strat, params):
        grid[name].append(value)
    return {k: sorted(v) if len(v) > 1 else v for k, v in grid.items()}


def _walk_forward(
    frame: pd.DataFrame, strat: Strategy, params: Mapping[str, Any], config: Config, folds: int
) -> dict[str, Any]:
    n = len(frame)
    test = n // (folds + 2)
    if folds < 1 or test < 2:
        return {"skipped": f"{n} candles are too few for {folds} walk-forward folds"}
    grid = _walk_grid(strat, params)
    size = math.prod(len(v) for v in grid.values())
    samples = 64 if size > 64 else None
    try:
        wf = walk_forward(
            frame,
            strat,
            train=n - folds * test,
            test=test,
            metric="sharpe",
            workers=1,
            samples=samples,
            seed=0 if samples else None,
            **config.to_dict(),
            **grid,
        )
    except ConfigError as exc:
        return {"skipped": str(exc)}
    out = wf.to_dict()
    out["grid"] = grid
    out["train"], out["test"] = n - folds * test, test
    return out


def _trials_from_sweep(
    sweep_id: str, evidence_dir: Any, frame: pd.DataFrame, strat: Strategy
) -> Any:
    sweep = read_evidence(sweep_id, evidence_dir)
    if getattr(sweep, "kind", None) != "sweep":
        raise ConfigError(f"{sweep_id}: not a stored sweep")
    ident = sweep.meta.get("identity", {})
    if ident.get("strategy") != strat.name or ident.get("data_sha256") != data_fingerprint(frame):
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


def _sweep_returns(
    sweep: Any, frame: pd.DataFrame, strat: Strategy, cap: int, seed: int
) -> tuple[np.ndarray, int]:
    """Per-bar returns ``(bars, k)`` of up to ``cap`` of the sweep's combinations, re-run."""
    results = sweep.results
    names = [c for c in sweep.meta.get("params", []) if c in results.columns]
    combos = results[names].reset_index(drop=True)
    if len(combos) > cap:
        pick = np.sort(np.random.default_rng(seed).choice(len(combos), cap, replace=False))
        combos = combos.iloc[pick].reset_index(drop=True)
    config = Config(**(sweep.meta["identity"].get("config") or {})).resolved(frame)
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
        cfg = dataclasses.replace(config, **over)
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


def assess(
    proposed: ParamSetVersion,
    base: ParamSetVersion | None,
    *,
    policy: Policy,
    data_dir: str | Path | None = None,
    evidence_dir: str | Path | None = None,
    sweep_id: str | None = None,
    oos_fraction: float = 0.3,
    folds: int = 4,
    lookahead_samples: int = 20,
    pbo_combos: int = 64,
    pbo_splits: int = 16,
    seed: int = 0,
) -> Assessment:
    """The evidence of replacing ``base`` (approved, or None) with ``proposed``, and its gates.

    ``sweep_id`` names a stored sweep the proposed parameters were picked from
    (same strategy and candles): its combinations are the trials that deflate
    the Sharpe ratio, and up to ``pbo_combos`` of them (drawn with ``seed``) are
    re-run for PBO by CSCV with ``pbo_splits`` blocks. Raises ConfigError for
    bad options, a sweep of something else, or a strategy whose code changed
    since the proposed version was made.
    """
    if not (isinstance(oos_fraction, float | int) and 0.0 < float(oos_fraction) < 1.0):
        raise ConfigError(f"oos_fraction: must be in (0, 1) (got {oos_fraction!r})")
    timing: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timing[step] = round(now - clock, 6)
        clock = now

    started = clock
    notes: list[str] = []
    strat = _strategy(proposed, "proposed")
    params = dict(proposed.params)
    frame = resolve_candles(proposed.pair, proposed.timeframe, data_dir)
    config = _config(proposed, frame)
    n = len(frame)
    data = {
        "pair": proposed.pair,
        "timeframe": proposed.timeframe,
        "source": frame.attrs.get("source"),
        "synthetic": bool(frame.attrs.get("synthetic", False)),
        "candles": n,
        "start": frame.index[0],
        "end": frame.index[-1],
        "data_sha256": data_fingerprint(frame),
    }
    lap("candles")

    # 1. full-window runs, stored
    runs: dict[str, str] = {}
    full = _run(frame, strat, params, config)
    full.save(evidence_dir)
    runs["proposed"] = full.run_id
    headline: dict[str, dict[str, Any] | None] = {
        "approved": None,
        "proposed": _headline(full.stats),
    }
    if base is not None:
        if (base.pair, base.timeframe) != (proposed.pair, proposed.timeframe):
            notes.append(
                f"approved version is of {base.pair} {base.timeframe}: "
                f"backtested on the proposed version's candles ({proposed.pair} "
                f"{proposed.timeframe})"
            )
        try:
            base_strat = _strategy(base, "approved")
        except (StrategyError, ConfigError) as exc:
            notes.append(f"approved version not backtested: {exc}")
        else:
            approved = _run(frame, base_strat, dict(base.params), _config(base, frame))
            approved.save(evidence_dir)
            runs["approved"] = approved.run_id
            headline["approved"] = _headline(approved.stats)
    lap("backtests")

    # 2. in-sample / out-of-sample
    split = n - round(n * float(oos_fraction))
    reasons: dict[str, str] = {}
    is_stats: dict[str, Any] | None = None
    oos_stats: dict[str, Any] | None = None
    if split < 2 or n - split < 2:
        why = f"{n} candles are too few to hold out {oos_fraction:g} of them"
        reasons["min_oos_sharpe"] = reasons["max_oos_degradation"] = why
    else:
        ins = _run(frame.iloc[:split], strat, params, config)
        ins.save(evidence_dir)
        runs["proposed_in_sample"] = ins.run_id
        is_stats = ins.stats
        oos_stats = _stats_of(frame, strat, config, [params], start=split)[0]
    split_table = {
        "oos_fraction": float(oos_fraction),
        "split_bar": split,
        "split_time": frame.index[split] if 0 < split < n else None,
        "in_sample": None if is_stats is None else _headline(is_stats),
        "out_of_sample": None if oos_stats is None else _headline(oos_stats),
    }
    lap("split")

    # 3. walk-forward of the neighbourhood
    wf = _walk_forward(frame, strat, params, config, folds)
    lap("walk_forward")

    # 4. neighbourhood sensitivity
    near = neighbours(strat, params)
    near_stats = _stats_of(frame, strat, config, [p for _, _, p in near])
    neighbourhood = [
        {"param": name, "value": value, "params": p, **_headline(s)}
        for (name, value, p), s in zip(near, near_stats, strict=True)
    ]
    lap("neighbourhood")

    # 5. deflated Sharpe ratio, PBO
    returns = bar_returns(full.equity.to_numpy()[:, None], config.cash)[:, 0]
    ann = float(config.year_days) * _DAY_NS / period_ns(frame)
    pbo: dict[str, Any] = {"pbo": None}
    if sweep_id is not None:
        sweep = _trials_from_sweep(sweep_id, evidence_dir, frame, strat)
        swept = set(sweep.meta.get("params", [])) - set(strat.param_names)
        stored = {
            k: v for k, v in (sweep.meta["identity"].get("config") or {}).items() if k not in swept
        }
        mine = {k: v for k, v in config.to_dict().items() if k in stored}
        if _safe(stored) != _safe(mine):
            notes.append(
                f"sweep {sweep.id} ran with other engine options than the proposed version "
                f"({stored} vs {mine})"
            )
        sharpes = pd.to_numeric(sweep.results["sharpe"], errors="coerce").to_numpy(dtype=float)
        n_trials = len(sweep.results)
        trials_from = f"sweep {sweep.id}"
        cap = min(int(pbo_combos), _PBO_MAX_CELLS // max(n, 1), n_trials)
        if cap < 2:
            pbo["skipped"] = f"PBO needs at least 2 combinations (can re-run {cap})"
        else:
            try:
                perf, used = _sweep_returns(sweep, frame, strat, cap, seed)
                res = pbo_cscv(perf, n_splits=pbo_splits)
            except ConfigError as exc:
                pbo["skipped"] = str(exc)
            else:
                pbo = {
                    "pbo": res.pbo,
                    "combinations": used,
                    "of": n_trials,
                    "seed": seed,
                    "n_splits": res.n_splits,
                    "cscv_combinations": res.n_combinations,
                    "logit_median": float(np.median(res.logits)),
                }
        if pbo["pbo"] is None:
            reasons["max_pbo"] = pbo["skipped"]
    else:
        sharpes = np.array([full.stats.get("sharpe")] + [s.get("sharpe") for s in near_stats])
        sharpes = pd.to_numeric(pd.Series(sharpes), errors="coerce").to_numpy(dtype=float)
        n_trials = len(sharpes)
        trials_from = "the proposed version and its neighbours"
        pbo["skipped"] = "no sweep attached"
        reasons["max_pbo"] = "no sweep attached to estimate PBO from"
    finite = sharpes[np.isfinite(sharpes)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    deflated = deflated_sharpe_ratio(
        returns, max(n_trials, 1), sharpe_variance=variance, periods_per_year=ann
    )
    dsr = {**deflated.to_dict(), "trials_from": trials_from, "annualised_sharpe_variance": variance}
    if not math.isfinite(deflated.dsr):
        reasons["min_dsr"] = "Sharpe ratio undefined (flat or too short equity curve)"
    lap("overfit")

    # 6. look-ahead
    look = lookahead_check(strat, frame, params, samples=lookahead_samples, seed=seed)
    if not look.passed:
        reasons["lookahead"] = look.detail
    lap("lookahead")

    # 7. param changes, gates
    changes = None if base is None else param_changes(params, dict(base.params))
    if base is None:
        reasons["max_param_change"] = "no approved version to compare with"
    evidence = Evidence(
        max_drawdown=full.stats.get("max_drawdown"),
        total_trades=full.stats.get("total_trades"),
        oos_sharpe=None if oos_stats is None else oos_stats.get("sharpe"),
        is_sharpe=None if is_stats is None else is_stats.get("sharpe"),
        dsr=deflated.dsr if math.isfinite(deflated.dsr) else None,
        pbo=pbo["pbo"],
        lookahead_passed=look.passed,
        param_changes=changes,
        reasons=reasons,
    )
    results = evaluate(policy, evidence)
    lap("gates")
    timing["total"] = round(time.perf_counter() - started, 6)
    return Assessment(
        proposed=proposed,
        base=base,
        evidence=evidence,
        results=results,
        decision=decision(results),
        policy_sha256=policy.sha256,
        policy_source=policy.source,
        data=data,
        runs=runs,
        headline=headline,
        split=split_table,
        walk_forward=wf,
        neighbourhood=neighbourhood,
        dsr=dsr,
        pbo=pbo,
        lookahead=look,
        notes=notes,
        timing=timing,
    )
