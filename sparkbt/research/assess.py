"""The evidence of a param change: run the engine on a proposed version, then its gates.

:func:`assess` takes a proposed :class:`~sparkbt.research.paramsets.ParamSetVersion`
(and the approved one it would replace, if any), loads the candles of the
proposed version's pair and timeframe once (:func:`sparkbt.data.store.resolve_candles`;
for a version naming several symbols, or of a weights strategy, their panel by
:func:`sparkbt.load_panel`, and every run below is a portfolio run sharing one
cash) and on those same candles:

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

from sparkbt.data.panel import Panel
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio_result import PortfolioResult
from sparkbt.engine.registry import Strategy
from sparkbt.engine.result import BacktestResult
from sparkbt.engine.stats import bar_returns
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.assess_data import Market, load_market
from sparkbt.research.assess_runs import (
    HEADLINE,
    headline,
    neighbour_label,
    neighbours,
    safe,
    stored_run,
    version_strategy,
    walk_forward_evidence,
)
from sparkbt.research.gates import Evidence, GateResult, decision, evaluate, param_changes
from sparkbt.research.lookahead import LookaheadResult, lookahead_check
from sparkbt.research.overfit import DeflatedSharpe, deflated_sharpe_ratio
from sparkbt.research.paramsets import ParamSetVersion
from sparkbt.research.policy import Policy
from sparkbt.research.trials import sweep_options_note, sweep_pbo, trials_from_sweep

__all__ = ["HEADLINE", "Assessment", "assess", "neighbours"]

_DAY_NS = 86_400 * 10**9

Run = BacktestResult | PortfolioResult
"""A stored evidence run: one pair's backtest, or a portfolio's."""


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


class _Clock:
    """Seconds per step of an assessment, for :attr:`Assessment.timing`."""

    def __init__(self) -> None:
        self.timing: dict[str, float] = {}
        self.started = self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.timing[step] = round(now - self._last, 6)
        self._last = now

    def total(self) -> dict[str, float]:
        self.timing["total"] = round(time.perf_counter() - self.started, 6)
        return self.timing


@dataclass(frozen=True)
class _Side:
    """A version ready to run: its strategy, parameters and engine options."""

    strat: Strategy
    params: dict[str, Any]
    config: Config


@dataclass
class _Context:
    """What the steps of :func:`assess` share, and what they collect on the way.

    ``runs`` labels the stored backtests, ``reasons`` says why a gate has no
    evidence, ``notes`` are remarks for the reader; each keeps the order the
    steps add to it in.
    """

    proposed: _Side
    market: Market
    evidence_dir: str | Path | None
    runs: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def candles(self) -> pd.DataFrame | Panel:
        """The candles every run is on: the pair's frame or the portfolio's panel."""
        return self.market.candles

    def run(
        self,
        label: str,
        side: _Side,
        candles: pd.DataFrame | Panel | None = None,
        trade_from: Any = None,
    ) -> Run:
        """A stored backtest of ``side`` (on all the candles by default), labelled."""
        candles = self.candles if candles is None else candles
        run = stored_run(
            candles, side.strat, side.params, side.config, self.evidence_dir, trade_from
        )
        self.runs[label] = run.run_id
        return run


@dataclass(frozen=True)
class _Trials:
    """The trials that chose the proposed version: their Sharpe ratios, how many, whence."""

    sharpes: np.ndarray
    count: int
    source: str
    pbo: dict[str, Any]


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
    clock = _Clock()
    ctx = _context(proposed, data_dir, evidence_dir)
    data = ctx.market.summary(proposed)
    clock.lap("candles")
    full, approved, heads = _full_window_runs(ctx, proposed, base)
    clock.lap("backtests")
    split, is_stats, oos_stats = _split_runs(ctx, float(oos_fraction), approved)
    clock.lap("split")
    side = ctx.proposed
    wf, wf_id = walk_forward_evidence(
        ctx.candles, side.strat, side.params, side.config, folds, evidence_dir
    )
    clock.lap("walk_forward")
    neighbourhood, near_stats = _neighbourhood(ctx)
    clock.lap("neighbourhood")
    if sweep_id is not None:
        trials = _sweep_trials(ctx, sweep_id, pbo_combos, pbo_splits, seed)
    else:
        trials = _neighbour_trials(ctx, full, near_stats)
    dsr, deflated = _deflated_sharpe(ctx, full, trials)
    clock.lap("overfit")
    look = lookahead_check(
        side.strat, ctx.candles, side.params, samples=lookahead_samples, seed=seed
    )
    if not look.passed:
        ctx.reasons["lookahead"] = look.detail
    clock.lap("lookahead")
    evidence = _evidence(ctx, base, full, is_stats, oos_stats, deflated, trials.pbo, look)
    results = evaluate(policy, evidence)
    clock.lap("gates")
    return Assessment(
        proposed=proposed,
        base=base,
        evidence=evidence,
        results=results,
        decision=decision(results),
        policy_sha256=policy.sha256,
        policy_source=policy.source,
        data=data,
        runs=ctx.runs,
        headline=heads,
        split=split,
        walk_forward=wf,
        walk_forward_id=wf_id,
        neighbourhood=neighbourhood,
        dsr=dsr,
        pbo=trials.pbo,
        lookahead=look,
        notes=ctx.notes,
        timing=clock.total(),
    )


def _context(
    proposed: ParamSetVersion, data_dir: str | Path | None, evidence_dir: str | Path | None
) -> _Context:
    """The proposed version's strategy (checked first) and its candles, loaded once."""
    strat = version_strategy(proposed, "proposed")
    market = load_market(proposed, strat, data_dir)
    side = _Side(strat, dict(proposed.params), market.config(proposed))
    return _Context(proposed=side, market=market, evidence_dir=evidence_dir)


def _approved_side(ctx: _Context, proposed: ParamSetVersion, base: ParamSetVersion) -> _Side | None:
    """The approved version ready to run on the proposed version's candles, or None (noted)."""
    if (base.pair, base.timeframe) != (proposed.pair, proposed.timeframe):
        ctx.notes.append(
            f"approved version is of {base.pair} {base.timeframe}: "
            f"backtested on the proposed version's candles ({proposed.pair} "
            f"{proposed.timeframe})"
        )
    try:
        strat = version_strategy(base, "approved")
        config = ctx.market.config(base)
    except (StrategyError, ConfigError) as exc:
        ctx.notes.append(f"approved version not backtested: {exc}")
        return None
    if strat.kind == "weights" and not ctx.market.is_portfolio:
        ctx.notes.append(
            f"approved version not backtested: {strat.name} is a weights strategy, "
            f"the proposed version trades one pair with a targets strategy"
        )
        return None
    return _Side(strat, dict(base.params), config)


def _full_window_runs(
    ctx: _Context, proposed: ParamSetVersion, base: ParamSetVersion | None
) -> tuple[Run, _Side | None, dict[str, dict[str, Any] | None]]:
    """Both versions backtested on the whole window: the proposed run, the approved side, heads."""
    full = ctx.run("proposed", ctx.proposed)
    heads: dict[str, dict[str, Any] | None] = {"approved": None, "proposed": headline(full.stats)}
    approved = None if base is None else _approved_side(ctx, proposed, base)
    if approved is not None:
        heads["approved"] = headline(ctx.run("approved", approved).stats)
    return full, approved, heads


def _split_runs(
    ctx: _Context, oos_fraction: float, approved: _Side | None
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
    """The in-sample / out-of-sample table, and the proposed version's stats on each side.

    Out-of-sample runs trade from the first held-out bar of the whole window
    (indicators warm, fresh cash); the in-sample run is the bars before it (for
    a portfolio: the union bars before it, each symbol with a candle there).
    """
    market = ctx.market
    n = len(market)
    split = n - round(n * oos_fraction)
    is_stats: dict[str, Any] | None = None
    oos_stats: dict[str, Any] | None = None
    approved_oos: dict[str, Any] | None = None
    if split < 2 or n - split < 2:
        why = f"{n} candles are too few to hold out {oos_fraction:g} of them"
        ctx.reasons["min_oos_sharpe"] = ctx.reasons["max_oos_degradation"] = why
    else:
        is_stats = ctx.run("proposed_in_sample", ctx.proposed, market.head(split)).stats
        at = market.index[split]
        oos_stats = ctx.run("proposed_out_of_sample", ctx.proposed, trade_from=at).stats
        if approved is not None:
            base_oos = ctx.run("approved_out_of_sample", approved, trade_from=at)
            approved_oos = headline(base_oos.stats)
    table = {
        "oos_fraction": oos_fraction,
        "split_bar": split,
        "split_time": market.index[split] if 0 < split < n else None,
        "in_sample": None if is_stats is None else headline(is_stats),
        "out_of_sample": None if oos_stats is None else headline(oos_stats),
        "approved_out_of_sample": approved_oos,
    }
    return table, is_stats, oos_stats


def _neighbourhood(ctx: _Context) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One stored full-window run per neighbour: the table rows, and each run's stats."""
    side = ctx.proposed
    rows: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    for name, value, p in neighbours(side.strat, side.params):
        label = neighbour_label(name, value)
        run = ctx.run(label, _Side(side.strat, p, side.config))
        stats.append(run.stats)
        rows.append(
            {"param": name, "value": value, "params": p, "run": label, **headline(run.stats)}
        )
    return rows, stats


def _neighbour_trials(ctx: _Context, full: Run, near_stats: list[dict[str, Any]]) -> _Trials:
    """Without a sweep: the proposed version and its neighbours are the trials; no PBO."""
    raw = np.array([full.stats.get("sharpe")] + [s.get("sharpe") for s in near_stats])
    sharpes = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(dtype=float)
    ctx.reasons["max_pbo"] = "no sweep attached to estimate PBO from"
    pbo = {"pbo": None, "skipped": "no sweep attached"}
    return _Trials(sharpes, len(sharpes), "the proposed version and its neighbours", pbo)


def _sweep_trials(
    ctx: _Context, sweep_id: str, pbo_combos: int, pbo_splits: int, seed: int
) -> _Trials:
    """With a sweep: its combinations are the trials, and (some of them re-run) give PBO."""
    side = ctx.proposed
    sweep = trials_from_sweep(sweep_id, ctx.evidence_dir, ctx.market, side.strat)
    note = sweep_options_note(sweep, side.strat, side.config)
    if note is not None:
        ctx.notes.append(note)
    sharpes = pd.to_numeric(sweep.results["sharpe"], errors="coerce").to_numpy(dtype=float)
    pbo = sweep_pbo(sweep, ctx.candles, side.strat, pbo_combos, pbo_splits, seed)
    if pbo["pbo"] is None:
        ctx.reasons["max_pbo"] = pbo["skipped"]
    return _Trials(sharpes, len(sweep.results), f"sweep {sweep.id}", pbo)


def _deflated_sharpe(
    ctx: _Context, full: Run, trials: _Trials
) -> tuple[dict[str, Any], DeflatedSharpe]:
    """The full-window Sharpe ratio deflated by ``trials``: its table, and the result."""
    config = ctx.proposed.config
    returns = bar_returns(full.equity.to_numpy()[:, None], config.cash)[:, 0]
    assert config.year_days is not None  # version_config resolves it on the candles
    ann = float(config.year_days) * _DAY_NS / ctx.market.period_ns()
    finite = trials.sharpes[np.isfinite(trials.sharpes)]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    deflated = deflated_sharpe_ratio(
        returns, max(trials.count, 1), sharpe_variance=variance, periods_per_year=ann
    )
    table = {
        **deflated.to_dict(),
        "trials_from": trials.source,
        "annualised_sharpe_variance": variance,
    }
    if not math.isfinite(deflated.dsr):
        ctx.reasons["min_dsr"] = "Sharpe ratio undefined (flat or too short equity curve)"
    return table, deflated


def _evidence(
    ctx: _Context,
    base: ParamSetVersion | None,
    full: Run,
    is_stats: dict[str, Any] | None,
    oos_stats: dict[str, Any] | None,
    deflated: DeflatedSharpe,
    pbo: dict[str, Any],
    look: LookaheadResult,
) -> Evidence:
    """What the gates judge, with the parameter changes against the approved version."""
    params = ctx.proposed.params
    changes = None if base is None else param_changes(params, dict(base.params))
    if base is None:
        ctx.reasons["max_param_change"] = "no approved version to compare with"
    return Evidence(
        max_drawdown=full.stats.get("max_drawdown"),
        total_trades=full.stats.get("total_trades"),
        oos_sharpe=None if oos_stats is None else oos_stats.get("sharpe"),
        is_sharpe=None if is_stats is None else is_stats.get("sharpe"),
        dsr=deflated.dsr if math.isfinite(deflated.dsr) else None,
        pbo=pbo["pbo"],
        lookahead_passed=look.passed,
        param_changes=changes,
        reasons=ctx.reasons,
    )
