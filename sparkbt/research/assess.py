"""The evidence of a param change: run the engine on a proposed version, then its gates.

:func:`assess` takes a proposed :class:`~sparkbt.research.paramsets.ParamSetVersion`
(and the approved one it would replace, if any), loads the candles of the
proposed version's pair and timeframe once (:func:`sparkbt.data.store.resolve_candles`)
and on those same candles:

1. backtests both versions on the whole window;
2. splits the window: the last ``oos_fraction`` of the bars are held out. The
   in-sample run is a backtest of the bars before the split. The out-of-sample
   run of each version is a backtest of the whole window with
   ``trade_from`` at the first held-out bar: the strategy sees every bar
   before it, so its indicators are warm, and the simulation starts there with
   fresh cash — the way :func:`sparkbt.walk_forward` judges its test windows.
   Taking the stats of the held-out slice of the full-window run instead would
   be wrong: its equity, open position, drawdown and gate state carry over from
   the in-sample bars, and trades opened before the split would count as
   out-of-sample. Re-running the held-out bars cold (a plain backtest of the
   slice) would be wrong the other way: the first bars would trade on
   indicators still warming up;
3. walks the proposed parameters' neighbourhood forward over ``folds`` test
   windows (:func:`sparkbt.walk_forward`), and reports its summary;
4. backtests each numeric parameter one step either way (int ±1, float ±10%),
   within its schema range and the strategy's constraints: the neighbourhood,
   one row per neighbour from its run's stats;
5. deflates the full-window Sharpe ratio (:func:`~sparkbt.research.overfit.deflated_sharpe_ratio`)
   by the trials that chose it: the combinations of an attached sweep, else the
   proposed version and its neighbours; with a sweep, estimates the probability
   of backtest overfitting by CSCV on the per-bar returns of (up to
   ``pbo_combos`` of) its combinations, re-run on these candles;
6. checks the strategy for look-ahead (:func:`~sparkbt.research.lookahead.lookahead_check`);
7. measures the parameter changes against the approved version, and evaluates
   the policy's gates on all of it.

Every evidence run is an ordinary stored run (:mod:`.runs`), linked from the
assessment: ``runs`` labels the backtests (``evidence/backtest/<id>/``:
``proposed``, ``approved``, ``proposed_in_sample``, ``proposed_out_of_sample``,
``approved_out_of_sample``, ``neighbour_<param>_<value>``) and
``walk_forward_id`` the walk-forward (``evidence/walkforward/<id>/``). Each
can be reproduced from the command line: ``sparkbt run`` with the version's
parameters and options (``--trade-from`` the split time for an out-of-sample
run), ``sparkbt walkforward`` with the grid, train and test the assessment
reports.

Everything is deterministic: the same versions, candles, policy and options give
the same run ids and the same :meth:`Assessment.to_dict` apart from ``timing``.
Sweeps run in this process (one worker): the caller is usually a worker already.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import period_ns
from sparkbt.data.store import resolve_candles
from sparkbt.engine.stats import bar_returns
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.evidence import data_fingerprint
from sparkbt.research.assess_runs import (
    HEADLINE,
    headline,
    neighbour_label,
    neighbours,
    safe,
    stored_run,
    version_config,
    version_strategy,
    walk_forward_evidence,
)
from sparkbt.research.gates import Evidence, GateResult, decision, evaluate, param_changes
from sparkbt.research.lookahead import LookaheadResult, lookahead_check
from sparkbt.research.overfit import deflated_sharpe_ratio, pbo_cscv
from sparkbt.research.paramsets import ParamSetVersion
from sparkbt.research.policy import Policy
from sparkbt.research.trials import sweep_returns, trials_from_sweep

__all__ = ["HEADLINE", "Assessment", "assess", "neighbours"]

_DAY_NS = 86_400 * 10**9
_PBO_MAX_CELLS = 20_000_000  # bars x combinations of returns held for CSCV (160 MB)


@dataclass
class Assessment:
    """Everything :func:`assess` found, and the decision.

    ``runs`` labels stored backtest ids: ``proposed`` and ``approved`` (whole
    window), ``proposed_in_sample``, ``proposed_out_of_sample`` and
    ``approved_out_of_sample`` (warm-up bars before the split), and one
    ``neighbour_<param>_<value>`` per neighbourhood row (whole window);
    ``walk_forward_id`` names the stored walk-forward (None when skipped);
    ``headline`` puts :data:`HEADLINE` stats of the approved and proposed
    versions side by side; ``split`` is the in-sample / out-of-sample table;
    ``neighbourhood`` one row per neighbour, with its run's label; ``timing``
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
    walk_forward_id: str | None = None
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
        return safe(
            {
                "decision": self.decision,
                "policy": {"sha256": self.policy_sha256, "source": self.policy_source},
                "proposed": self.proposed.to_dict(),
                "base": None if self.base is None else self.base.to_dict(),
                "gates": [r.to_dict() for r in self.results],
                "evidence": ev,
                "data": self.data,
                "runs": self.runs,
                "walk_forward_id": self.walk_forward_id,
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
    strat = version_strategy(proposed, "proposed")
    params = dict(proposed.params)
    frame = resolve_candles(proposed.pair, proposed.timeframe, data_dir)
    config = version_config(proposed, frame)
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
    full = stored_run(frame, strat, params, config, evidence_dir)
    runs["proposed"] = full.run_id
    heads: dict[str, dict[str, Any] | None] = {"approved": None, "proposed": headline(full.stats)}
    approved_run: tuple[Any, dict[str, Any], Any] | None = None  # strategy, params, config
    if base is not None:
        if (base.pair, base.timeframe) != (proposed.pair, proposed.timeframe):
            notes.append(
                f"approved version is of {base.pair} {base.timeframe}: "
                f"backtested on the proposed version's candles ({proposed.pair} "
                f"{proposed.timeframe})"
            )
        try:
            base_strat = version_strategy(base, "approved")
        except (StrategyError, ConfigError) as exc:
            notes.append(f"approved version not backtested: {exc}")
        else:
            approved_run = (base_strat, dict(base.params), version_config(base, frame))
            approved = stored_run(frame, *approved_run, evidence_dir)
            runs["approved"] = approved.run_id
            heads["approved"] = headline(approved.stats)
    lap("backtests")

    # 2. in-sample / out-of-sample
    split = n - round(n * float(oos_fraction))
    reasons: dict[str, str] = {}
    is_stats: dict[str, Any] | None = None
    oos_stats: dict[str, Any] | None = None
    approved_oos: dict[str, Any] | None = None
    if split < 2 or n - split < 2:
        why = f"{n} candles are too few to hold out {oos_fraction:g} of them"
        reasons["min_oos_sharpe"] = reasons["max_oos_degradation"] = why
    else:
        ins = stored_run(frame.iloc[:split], strat, params, config, evidence_dir)
        runs["proposed_in_sample"] = ins.run_id
        is_stats = ins.stats
        at = frame.index[split]
        oos = stored_run(frame, strat, params, config, evidence_dir, trade_from=at)
        runs["proposed_out_of_sample"] = oos.run_id
        oos_stats = oos.stats
        if approved_run is not None:
            base_oos = stored_run(frame, *approved_run, evidence_dir, trade_from=at)
            runs["approved_out_of_sample"] = base_oos.run_id
            approved_oos = headline(base_oos.stats)
    split_table = {
        "oos_fraction": float(oos_fraction),
        "split_bar": split,
        "split_time": frame.index[split] if 0 < split < n else None,
        "in_sample": None if is_stats is None else headline(is_stats),
        "out_of_sample": None if oos_stats is None else headline(oos_stats),
        "approved_out_of_sample": approved_oos,
    }
    lap("split")

    # 3. walk-forward of the neighbourhood, stored
    wf, wf_id = walk_forward_evidence(frame, strat, params, config, folds, evidence_dir)
    lap("walk_forward")

    # 4. neighbourhood sensitivity: one stored full-window run per neighbour
    near = neighbours(strat, params)
    near_stats: list[dict[str, Any]] = []
    neighbourhood: list[dict[str, Any]] = []
    for name, value, p in near:
        run = stored_run(frame, strat, p, config, evidence_dir)
        label = neighbour_label(name, value)
        runs[label] = run.run_id
        near_stats.append(run.stats)
        neighbourhood.append(
            {"param": name, "value": value, "params": p, "run": label, **headline(run.stats)}
        )
    lap("neighbourhood")

    # 5. deflated Sharpe ratio, PBO
    returns = bar_returns(full.equity.to_numpy()[:, None], config.cash)[:, 0]
    assert config.year_days is not None  # version_config resolves it on the candles
    ann = float(config.year_days) * _DAY_NS / period_ns(frame)
    pbo: dict[str, Any] = {"pbo": None}
    if sweep_id is not None:
        sweep = trials_from_sweep(sweep_id, evidence_dir, frame, strat)
        swept = set(sweep.meta.get("params", [])) - set(strat.param_names)
        stored = {
            k: v for k, v in (sweep.meta["identity"].get("config") or {}).items() if k not in swept
        }
        mine = {k: v for k, v in config.to_dict().items() if k in stored}
        if safe(stored) != safe(mine):
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
                perf, used = sweep_returns(sweep, frame, strat, cap, seed)
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
        headline=heads,
        split=split_table,
        walk_forward=wf,
        walk_forward_id=wf_id,
        neighbourhood=neighbourhood,
        dsr=dsr,
        pbo=pbo,
        lookahead=look,
        notes=notes,
        timing=timing,
    )
