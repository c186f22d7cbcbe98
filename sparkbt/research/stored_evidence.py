"""Evidence for the gates from stored backtests and sweeps (``sparkbt guard check``).

A backtest gives its drawdown and trade count (``stats``) and the deflated
Sharpe ratio of its equity returns: one trial, unless the sweep it was picked
from is given, whose combinations are the trials. A sweep is judged by its best
combination by Sharpe: its stats, and a DSR with the combinations' Sharpe
variance and count. Gates stored evidence cannot feed are skipped with a reason.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import parse_timeframe
from sparkbt.engine.stats import bar_returns, json_safe
from sparkbt.errors import CandleError, ConfigError
from sparkbt.evidence import RunEvidence
from sparkbt.research.gates import Evidence
from sparkbt.research.overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)

__all__ = ["StoredEvidence", "from_run", "from_sweep"]

_DAY_NS = 86_400 * 10**9
_NO_OOS = "a {kind} has no out-of-sample split"
_COMMON = {
    "lookahead": "not in stored evidence (needs the strategy and candles)",
    "max_param_change": "no approved version to compare with",
}


@dataclass
class StoredEvidence:
    """Evidence for the gates plus what it came from and notes for the reader."""

    evidence: Evidence
    kind: str
    id: str
    subject: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    dsr: dict[str, Any] | None = None


def _reasons(kind: str, **extra: str) -> dict[str, str]:
    oos = _NO_OOS.format(kind=kind)
    return {"min_oos_sharpe": oos, "max_oos_degradation": oos, **_COMMON, **extra}


def _trials(sweep: Any) -> tuple[int, float, float]:
    """Combinations, variance of their annualised Sharpe ratios, and bars a year."""
    ident = sweep.meta.get("identity", {})
    tf = ident.get("timeframe")
    year_days = (ident.get("config") or {}).get("year_days")
    if not tf or not year_days:
        raise ConfigError(
            f"sweep {sweep.id}: no timeframe or year length stored to de-annualise Sharpe ratios"
        )
    try:
        ann = float(year_days) * _DAY_NS / parse_timeframe(tf).value
    except CandleError as exc:
        raise ConfigError(f"sweep {sweep.id}: {exc}") from None
    sharpe = pd.to_numeric(sweep.results["sharpe"], errors="coerce").to_numpy(dtype=float)
    finite = sharpe[np.isfinite(sharpe)]
    var = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    return len(sweep.results), var, ann


def run_returns(run: RunEvidence) -> np.ndarray:
    """Per-bar returns of a stored run's equity, as the engine's Sharpe uses them."""
    equity = run.equity["equity"].to_numpy(dtype=np.float64)[:, None]
    return bar_returns(equity, float(run.report["config"]["cash"]))[:, 0]


def from_run(run: RunEvidence, sweep: Any = None) -> StoredEvidence:
    """Evidence of a stored backtest, deflated by ``sweep``'s trials when given."""
    stats, report = run.stats, run.report
    notes: list[str] = []
    if sweep is None:
        res = deflated_sharpe_ratio(run_returns(run), 1)
        notes.append("DSR with 1 trial (no sweep given): the probability that Sharpe > 0")
    else:
        ident = sweep.meta.get("identity", {})
        meta = report.get("metadata", {})
        same = (ident.get("strategy"), ident.get("data_sha256")) == (
            report.get("strategy"),
            meta.get("data_sha256"),
        )
        if not same:
            raise ConfigError(
                f"sweep {sweep.id} is of {ident.get('strategy')} on other candles than run "
                f"{run.id} ({report.get('strategy')}): its combinations are not this run's trials"
            )
        n, var, ann = _trials(sweep)
        res = deflated_sharpe_ratio(run_returns(run), n, sharpe_variance=var, periods_per_year=ann)
        notes.append(f"DSR with {n} trials of sweep {sweep.id} (Sharpe variance {var:.4g})")
    reasons = _reasons("backtest", max_pbo="needs the per-period returns of a sweep's combinations")
    reasons["min_dsr"] = "Sharpe ratio undefined (flat or too short equity curve)"
    ev = Evidence(
        max_drawdown=stats.get("max_drawdown"),
        total_trades=stats.get("total_trades"),
        dsr=res.dsr,
        reasons=reasons,
    )
    subject = {"strategy": report.get("strategy"), "params": report.get("params", {})}
    return StoredEvidence(ev, "backtest", run.id, subject, notes, res.to_dict())


def _same_params(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(d: dict[str, Any]) -> str:
        return json.dumps({k: json_safe(v) for k, v in d.items()}, sort_keys=True, default=str)

    return norm(a) == norm(b)


def _matching_run(root: Path, sweep: Any, row: pd.Series) -> RunEvidence | None:
    """A stored backtest of the sweep's row: same candles, strategy source, params, config."""
    from sparkbt.evidence import read_evidence

    ident = sweep.meta.get("identity", {})
    options = set(ident.get("options") or {})
    params = {p: row[p] for p in sweep.meta.get("params", []) if p not in options}
    config = dict(ident.get("config") or {})
    config.update({k: None if pd.isna(row[k]) else row[k] for k in options if k in row})
    for path in sorted((root / "backtest").glob("*/report.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        meta = report.get("metadata", {})
        if (
            report.get("strategy") == ident.get("strategy")
            and meta.get("data_sha256") == ident.get("data_sha256")
            and meta.get("strategy_sha256") == ident.get("strategy_sha256")
            and _same_params(report.get("params", {}), params)
            and _same_params(report.get("config", {}), config)
        ):
            return read_evidence(path.parent)
    return None


def from_sweep(sweep: Any, root: Path) -> StoredEvidence:
    """Evidence of a stored sweep's best combination by Sharpe."""
    from sparkbt.research.sweep_evidence import rank

    results = sweep.results
    if results.empty:
        raise ConfigError(f"sweep {sweep.id}: no combinations stored")
    best = rank(results, "sharpe").iloc[0]
    params = {p: json_safe(best[p]) for p in sweep.meta.get("params", [])}
    notes = [f"best of {len(results)} combinations by Sharpe: {params}"]
    dsr: dict[str, Any] | None = None
    reasons = _reasons(
        "sweep",
        max_pbo="sweep evidence stores no per-period returns of its combinations",
    )
    sr_ann = float(best["sharpe"])
    try:
        n, var, ann = _trials(sweep)
    except ConfigError as exc:
        n, var, ann = len(results), math.nan, math.nan
        reasons["min_dsr"] = str(exc)
    run = _matching_run(root, sweep, best) if math.isfinite(ann) else None
    value: float | None = None
    if run is not None:
        res = deflated_sharpe_ratio(run_returns(run), n, sharpe_variance=var, periods_per_year=ann)
        value, dsr = res.dsr, res.to_dict()
        notes.append(f"DSR from the returns of stored run {run.id}")
    elif (
        math.isfinite(ann) and math.isfinite(sr_ann) and sweep.meta.get("timing", {}).get("candles")
    ):
        bars = int(sweep.meta["timing"]["candles"])
        sr0 = expected_max_sharpe(n, var / ann)
        value = probabilistic_sharpe_ratio(sr_ann / math.sqrt(ann), sr0, bars)
        dsr = {"dsr": json_safe(value), "n_trials": n, "n_obs": bars, "benchmark": sr0}
        notes.append("DSR assumes normal returns (no stored run of this combination)")
    else:
        reasons.setdefault(
            "min_dsr", "no Sharpe ratio or bar count stored for the best combination"
        )
    ev = Evidence(
        max_drawdown=best.get("max_drawdown"),
        total_trades=best.get("total_trades"),
        dsr=value,
        reasons=reasons,
    )
    subject = {"strategy": sweep.meta.get("identity", {}).get("strategy"), "params": params}
    return StoredEvidence(ev, "sweep", sweep.id, subject, notes, dsr)
