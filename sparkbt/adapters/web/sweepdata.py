"""What the sweep pages show, computed from a stored sweep: the heatmap, the table, a cell's run.

A stored sweep (``<evidence_dir>/sweep/<id>/``) holds ``sweep.json`` (its
identity: data fingerprint, symbol, timeframe, strategy and source hash,
grid, engine config) and ``results.parquet`` (one row per combination: the
parameter columns, swept engine options among them, then every stat). A cell
of the heatmap is one row; :func:`run_of_row` reruns that combination as a
single backtest on the same candles and options, whose stats equal the row's.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.adapters.web.pages import UIError, newest_json
from sparkbt.engine.options import ENGINE_OPTIONS
from sparkbt.engine.result import PERCENT_KEYS, format_stat
from sparkbt.engine.stats import COUNT_KEYS, STAT_KEYS, json_safe
from sparkbt.errors import SparkbtError
from sparkbt.evidence import content_id, data_fingerprint
from sparkbt.research.sweep_evidence import SweepEvidence, rank, read_sweep
from sparkbt.version import ENGINE_VERSION

__all__ = [
    "LOWER_BETTER",
    "MAX_TABLE_ROWS",
    "METRICS",
    "Choice",
    "find_row",
    "heatmap",
    "list_sweeps",
    "load_sweep",
    "predicted_run_id",
    "run_of_row",
    "table",
    "text_of",
]

MAX_TABLE_ROWS = 2000
"""Rows listed in the results table; larger sweeps list the best ones by the metric."""
METRICS = tuple(k for k in STAT_KEYS if k != "ruined")
"""Stats a heatmap can show (every numeric stat)."""
LOWER_BETTER = frozenset({"max_drawdown", "max_drawdown_duration", "total_fees"})
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def text_of(value: Any) -> str:
    """A parameter value as text, the same in the page's forms and when matching them."""
    value = json_safe(value.item() if hasattr(value, "item") else value)
    return "" if value is None else str(value)


def list_sweeps(root: Path, limit: int = 200) -> list[dict[str, Any]]:
    """Stored sweeps, newest first, from their ``sweep.json``."""
    out = []
    for d, meta in newest_json(root / "sweep", "sweep.json", limit):
        ident = meta.get("identity") or {}
        metric = meta.get("metric") or "sharpe"
        top = (meta.get("top") or [{}])[0]
        out.append(
            {
                "id": meta.get("id") or d.name,
                "strategy": ident.get("strategy") or "",
                "symbol": ident.get("symbol") or "",
                "timeframe": ident.get("timeframe") or "",
                "combinations": meta.get("combinations"),
                "swept": meta.get("swept") or [],
                "grid": ident.get("grid") or {},
                "metric": metric,
                "best": format_stat(metric, top.get(metric)) if metric in top else "—",
                "best_params": {p: top.get(p) for p in meta.get("params") or [] if p in top},
                "seconds": (meta.get("timing") or {}).get("seconds"),
            }
        )
    return out


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> SweepEvidence:
    return read_sweep(Path(path))


def load_sweep(root: Path, sweep_id: str) -> SweepEvidence:
    """The stored sweep ``sweep_id`` (an id or unique prefix), UIError 404 otherwise."""
    if not sweep_id or len(sweep_id) > 64 or not sweep_id.isalnum():
        raise UIError(404, f"no sweep with id {sweep_id[:64]!r}")
    folder = root / "sweep"
    hits = [folder / sweep_id] if (folder / sweep_id).is_dir() else []
    if not hits and folder.is_dir():
        hits = [d for d in sorted(folder.glob(f"{sweep_id}*")) if d.is_dir()]
    if len(hits) != 1:
        more = " (the prefix is ambiguous)" if hits else ""
        raise UIError(404, f"no sweep with id {sweep_id!r}{more}")
    try:
        return _read(str(hits[0]), (hits[0] / "sweep.json").stat().st_mtime_ns)
    except (OSError, ValueError, KeyError, SparkbtError) as exc:
        raise UIError(404, f"sweep {sweep_id}: unreadable ({str(exc).splitlines()[0]})") from None


class Choice:
    """The page's selection: metric, axes and fixed values of the other parameters."""

    def __init__(self, sweep: SweepEvidence, query: dict[str, str]) -> None:
        res = sweep.results
        self.params: list[str] = [p for p in sweep.meta.get("params") or [] if p in res]
        self.varying = [p for p in self.params if res[p].nunique(dropna=False) > 1]
        swept = [p for p in sweep.meta.get("swept") or [] if p in self.varying]
        order = swept + [p for p in self.varying if p not in swept]
        self.metric = query.get("metric") or str(sweep.meta.get("metric") or "sharpe")
        if self.metric not in METRICS:
            raise UIError(
                422, f"metric: unknown stat {self.metric!r} (choices: {', '.join(METRICS)})"
            )
        self.x = self._axis(query, "x", order[0] if order else "")
        rest = [p for p in order if p != self.x]
        self.y = self._axis(query, "y", rest[0] if rest else "")
        if self.y and self.y == self.x:
            raise UIError(422, f"y: must differ from x ({self.x!r})")
        ranked = rank(res, self.metric)
        best = ranked.iloc[0] if len(ranked) else None
        self.fixed: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        for key in query:
            name = key[4:] if key.startswith("fix.") else None
            if name is not None and name not in self.params:
                raise UIError(
                    422, f"{key}: unknown parameter (choices: {', '.join(self.params) or 'none'})"
                )
        for p in self.varying:
            values = [text_of(v) for v in sorted(res[p].dropna().unique())]
            self.options[p] = values
            if p in (self.x, self.y):
                continue
            want = query.get(f"fix.{p}")
            if want is None:
                want = text_of(best[p]) if best is not None else values[0]
            if want not in values:
                raise UIError(
                    422, f"fix.{p}: no value {want!r} in the sweep (choices: {', '.join(values)})"
                )
            self.fixed[p] = want

    def _axis(self, query: dict[str, str], field: str, default: str) -> str:
        value = query.get(field)
        if value is None or (value == "" and not self.varying):
            return default
        if value not in self.varying:
            choices = ", ".join(self.varying) or "none (nothing was swept)"
            raise UIError(422, f"{field}: {value!r} is not a swept parameter (choices: {choices})")
        return value


def _colour(t: float) -> tuple[str, str]:
    """Background (viridis) and a readable text colour for ``t`` in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    fg = "#111" if t > 0.55 else "#fff"
    t *= len(VIRIDIS) - 1
    i = min(int(t), len(VIRIDIS) - 2)
    f = t - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    rgb = tuple(round(a[k] + (b[k] - a[k]) * f) for k in range(3))
    return f"rgb({rgb[0]},{rgb[1]},{rgb[2]})", fg


def _select(res: pd.DataFrame, fixed: dict[str, str]) -> pd.DataFrame:
    for p, want in fixed.items():
        res = res[res[p].map(text_of) == want]
    return res


def heatmap(sweep: SweepEvidence, choice: Choice, stored: Any) -> dict[str, Any] | None:
    """Rows of cells of ``choice.metric`` over ``choice.x`` × ``choice.y`` (None without axes).

    ``stored(run_id)`` says whether a cell's run is already stored (then it links there).
    """
    if not choice.x:
        return None
    res = sweep.results
    sub = _select(res, choice.fixed)
    metric, x, y = choice.metric, choice.x, choice.y
    xs = choice.options[x]
    ys = choice.options[y] if y else [""]
    cells: dict[tuple[str, str], Any] = {}
    for _, row in sub.iterrows():
        key = (text_of(row[x]), text_of(row[y]) if y else "")
        cells.setdefault(key, row)
    values = [float(r[metric]) for r in cells.values() if math.isfinite(float(r[metric]))]
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    ident = sweep.meta.get("identity") or {}
    rows = []
    for yv in ys:
        line: list[dict[str, Any] | None] = []
        for xv in xs:
            cell = cells.get((xv, yv))
            if cell is None:
                line.append(None)
                continue
            v = float(cell[metric])
            finite = math.isfinite(v)
            t = 0.5 if not finite or hi == lo else (v - lo) / (hi - lo)
            if metric in LOWER_BETTER:
                t = 1.0 - t
            bg, fg = _colour(t) if finite else ("#eee", "#111")
            params = {p: text_of(cell[p]) for p in choice.params}
            run_id = predicted_run_id(ident, cell, choice.params)
            line.append(
                {
                    "value": json_safe(v) if finite else None,
                    "text": format_stat(metric, v if finite else None),
                    "style": f"background:{bg};color:{fg}",
                    "params": params,
                    "label": ", ".join(f"{k}={v}" for k, v in params.items()),
                    "run_id": run_id if run_id and stored(run_id) else None,
                }
            )
        rows.append({"y": yv, "cells": line})
    lo_text, hi_text = format_stat(metric, lo), format_stat(metric, hi)
    low_end, high_end = (hi_text, lo_text) if metric in LOWER_BETTER else (lo_text, hi_text)
    return {
        "x": x,
        "y": y,
        "xs": xs,
        "rows": rows,
        "shown": len(cells),
        "legend": {"worse": low_end, "better": high_end, "empty": not values},
    }


def table(sweep: SweepEvidence, choice: Choice) -> dict[str, Any]:
    """The results table: every row up to :data:`MAX_TABLE_ROWS`, else the best by the metric."""
    res = sweep.results
    cut = len(res) > MAX_TABLE_ROWS
    shown = rank(res, choice.metric).head(MAX_TABLE_ROWS) if cut else res
    columns = choice.params + [k for k in STAT_KEYS if k in res]
    rows = [
        [json_safe(v.item() if hasattr(v, "item") else v) for v in r]
        for r in shown[columns].itertuples(index=False, name=None)
    ]
    rows = [[None if isinstance(v, float) and not math.isfinite(v) else v for v in r] for r in rows]
    return {
        "columns": columns,
        "params": choice.params,
        "rows": rows,
        "total": len(res),
        "cut": cut,
        "percent": sorted(PERCENT_KEYS),
        "counts": list(COUNT_KEYS),
        "metric": choice.metric,
    }


def find_row(sweep: SweepEvidence, values: dict[str, str]) -> pd.Series:
    """The results row whose parameters equal ``values`` (texts), UIError 422 otherwise."""
    params = [p for p in sweep.meta.get("params") or [] if p in sweep.results]
    missing = [p for p in params if p not in values]
    if missing:
        raise UIError(422, f"{missing[0]}: missing (the sweep's parameters: {', '.join(params)})")
    sub = _select(sweep.results, {p: values[p] for p in params})
    if sub.empty:
        shown = ", ".join(f"{p}={values[p]}" for p in params)
        raise UIError(422, f"no combination {shown} in sweep {sweep.id}")
    return sub.iloc[0]


def _split(row: pd.Series, params: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's strategy parameters and engine options, as Python values."""
    strat: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    for p in params:
        v = row[p]
        v = v.item() if hasattr(v, "item") else v
        (opts if p in ENGINE_OPTIONS else strat)[p] = v
    return strat, opts


def predicted_run_id(ident: dict[str, Any], row: pd.Series, params: list[str]) -> str | None:
    """The run id the single backtest of ``row`` will have (None if the strategy changed)."""
    from sparkbt.engine.registry import get_strategy

    strat_params, opts = _split(row, params)
    try:
        strat = get_strategy(str(ident.get("strategy")))
        if strat.source_sha256 != ident.get("strategy_sha256"):
            return None
        checked = strat.validate(strat_params)
    except SparkbtError:
        return None
    payload = {
        "engine_version": ENGINE_VERSION,
        "data_sha256": ident.get("data_sha256"),
        "symbol": ident.get("symbol"),
        "timeframe": ident.get("timeframe"),
        "strategy": strat.name,
        "strategy_sha256": strat.source_sha256,
        "params": checked,
        "config": dict(ident.get("config") or {}) | opts,
    }
    try:
        return content_id(payload)
    except (TypeError, ValueError):
        return None


def run_of_row(sweep: SweepEvidence, row: pd.Series, data_dir: str | None) -> Any:
    """The single backtest of ``row`` on the sweep's candles with the sweep's options."""
    from sparkbt.data.store import resolve_candles
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest

    ident = sweep.meta.get("identity") or {}
    if ident.get("engine_version") != ENGINE_VERSION:
        raise UIError(409, f"the sweep ran on engine v{ident.get('engine_version')}, not this one")
    symbol, timeframe = ident.get("symbol"), ident.get("timeframe")
    if not symbol or not timeframe:
        raise UIError(
            409, "the sweep does not name its symbol and timeframe: its candles are unknown"
        )
    try:
        strat = get_strategy(str(ident.get("strategy")))
        candles = resolve_candles(symbol, timeframe, data_dir or None)
    except SparkbtError as exc:
        raise UIError(409, str(exc).splitlines()[0][:300]) from None
    if strat.source_sha256 != ident.get("strategy_sha256"):
        raise UIError(409, f"the source of strategy {strat.name} changed since the sweep")
    if data_fingerprint(candles) != ident.get("data_sha256"):
        raise UIError(409, f"the stored {symbol} {timeframe} candles changed since the sweep")
    strat_params, opts = _split(row, [p for p in sweep.meta.get("params") or [] if p in row])
    config = dict(ident.get("config") or {}) | opts
    kwargs = {k: config[k] for k in ENGINE_OPTIONS if k in config}
    try:
        return backtest(candles, strat, **kwargs, **strat_params)
    except SparkbtError as exc:
        raise UIError(422, str(exc).splitlines()[0][:300]) from None
