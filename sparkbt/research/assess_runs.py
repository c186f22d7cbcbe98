"""The stored runs behind an assessment: backtests of versions and neighbours, a walk-forward.

Every run here is an ordinary stored run (``evidence/backtest/<id>/``, or
``evidence/walkforward/<id>/`` for the walk-forward) that anyone can read back
with :func:`sparkbt.read_evidence` or reproduce with ``sparkbt run`` and
``sparkbt walk-forward``; :func:`sparkbt.research.assess.assess` links them by label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio_result import PortfolioResult
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.engine.result import BacktestResult
from sparkbt.engine.simulate import backtest
from sparkbt.engine.stats import json_safe
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.paramsets import ParamSetVersion
from sparkbt.research.walkforward import walk_forward

__all__ = [
    "HEADLINE",
    "headline",
    "neighbour_label",
    "neighbours",
    "safe",
    "stored_run",
    "version_strategy",
    "walk_forward_evidence",
]

HEADLINE = ("total_return", "sharpe", "max_drawdown", "total_trades", "win_rate")
"""The stats shown side by side for the approved and the proposed version."""


def safe(value: Any) -> Any:
    """JSON-ready, recursively: NaN/inf -> None, numpy scalars -> Python, timestamps -> ISO."""
    if isinstance(value, Mapping):
        return {str(k): safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        return [safe(v) for v in value.tolist()]
    return json_safe(value)


def headline(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`HEADLINE` stats of a run, JSON-ready."""
    return {k: json_safe(stats.get(k)) for k in HEADLINE}


def version_strategy(version: ParamSetVersion, what: str) -> Strategy:
    """The strategy of a version; ConfigError if its code changed since the version was made."""
    strat = get_strategy(version.strategy)
    if version.strategy_sha256 and strat.source_sha256 != version.strategy_sha256:
        raise ConfigError(
            f"{what} version {version.id[:12]}: the code of strategy {strat.name} changed since "
            "the version was made (its sha256 differs); make a new version of it"
        )
    return strat


def stored_run(
    candles: pd.DataFrame | Panel,
    strat: Strategy,
    params: Mapping[str, Any],
    config: Config,
    evidence_dir: str | Path | None,
    trade_from: Any = None,
) -> BacktestResult | PortfolioResult:
    """An ordinary backtest, saved as ``backtest/<id>/`` (``trade_from``: warm-up bars before).

    A panel (or a weights strategy) runs a portfolio sharing one cash, as
    ``sparkbt run --symbols`` does.
    """
    run = backtest(candles, strat, **config.to_dict(), trade_from=trade_from, **params)
    run.save(evidence_dir)
    return run


def neighbours(strat: Strategy, params: Mapping[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    """``(parameter, value, params)`` one step either way of each numeric parameter.

    Ints move by 1, floats by 10% of their value (a float at 0 has no relative
    step and is left out); values outside the schema range, equal to the
    original after clipping, or breaking a constraint are skipped.
    """
    out: list[tuple[str, Any, dict[str, Any]]] = []
    for spec in strat.params:
        v = params.get(spec.name)
        if spec.type not in (int, float) or isinstance(v, bool) or v is None:
            continue
        steps: list[float]
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


def neighbour_label(param: str, value: Any) -> str:
    """``neighbour_<param>_<value>``: ints as written, floats to 12 significant digits."""
    text = f"{value:.12g}" if isinstance(value, float) else str(value)
    return f"neighbour_{param}_{text}"


def _walk_grid(strat: Strategy, params: Mapping[str, Any]) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {p: [params[p]] for p in strat.param_names}
    for name, value, _ in neighbours(strat, params):
        grid[name].append(value)
    return {k: sorted(v) if len(v) > 1 else v for k, v in grid.items()}


def walk_forward_evidence(
    frame: pd.DataFrame | Panel,
    strat: Strategy,
    params: Mapping[str, Any],
    config: Config,
    folds: int,
    evidence_dir: str | Path | None,
) -> tuple[dict[str, Any], str | None]:
    """The neighbourhood walked forward over ``folds`` test windows, saved; its summary and id.

    Training takes the bars before the first test window; test windows tile the
    rest. The grid is the proposed parameters and their :func:`neighbours` (a
    random 64 of its combinations, seed 0, when it is larger). A panel walks the
    portfolio forward on the union of its bars. Returns
    ``({"skipped": why}, None)`` when the candles are too few.
    """
    n = len(frame)
    test = n // (folds + 2)
    if folds < 1 or test < 2:
        return {"skipped": f"{n} candles are too few for {folds} walk-forward folds"}, None
    grid = _walk_grid(strat, params)
    size = math.prod(len(v) for v in grid.values())
    samples = 64 if size > 64 else None
    options: dict[str, Any] = {**config.to_dict(), **grid}  # engine options, parameter lists
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
            **options,
        )
    except ConfigError as exc:
        return {"skipped": str(exc)}, None
    wid = wf.save(evidence_dir).name
    out = wf.to_dict()
    out["grid"] = grid
    out["train"], out["test"] = n - folds * test, test
    return out, wid
