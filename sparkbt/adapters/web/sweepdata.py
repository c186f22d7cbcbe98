"""What the sweep pages show, computed from a stored sweep: the heatmap, the table, a cell's run.

A stored sweep (``<evidence_dir>/sweep/<id>/``) holds ``sweep.json`` (its
identity: data fingerprint, symbol, timeframe, strategy and source hash,
grid, engine config) and ``results.parquet`` (one row per combination: the
parameter columns, swept engine options among them, then every stat). A cell
of the heatmap is one row; :func:`run_of_row` reruns that combination as a
single backtest on the same candles and options, whose stats equal the row's.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sparkbt.adapters.web.pages import newest_json
from sparkbt.engine.stats import json_safe
from sparkbt.engine.statspec import COUNT_KEYS, LOWER_BETTER, PERCENT_KEYS, STAT_KEYS, format_stat
from sparkbt.errors import Refusal
from sparkbt.platform.sweep_cells import (
    find_row,
    load_sweep,
    predicted_run_id,
    run_of_row,
    select,
    text_of,
)
from sparkbt.research.sweep_evidence import SweepEvidence, rank

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
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


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
            raise Refusal(
                f"metric: unknown stat {self.metric!r} (choices: {', '.join(METRICS)})", "invalid"
            )
        self.x = self._axis(query, "x", order[0] if order else "")
        rest = [p for p in order if p != self.x]
        self.y = self._axis(query, "y", rest[0] if rest else "")
        if self.y and self.y == self.x:
            raise Refusal(f"y: must differ from x ({self.x!r})", "invalid")
        ranked = rank(res, self.metric)
        best = ranked.iloc[0] if len(ranked) else None
        self.fixed: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        for key in query:
            name = key[4:] if key.startswith("fix.") else None
            if name is not None and name not in self.params:
                raise Refusal(
                    f"{key}: unknown parameter (choices: {', '.join(self.params) or 'none'})",
                    "invalid",
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
                raise Refusal(
                    f"fix.{p}: no value {want!r} in the sweep (choices: {', '.join(values)})",
                    "invalid",
                )
            self.fixed[p] = want

    def _axis(self, query: dict[str, str], field: str, default: str) -> str:
        value = query.get(field)
        if value is None or (value == "" and not self.varying):
            return default
        if value not in self.varying:
            choices = ", ".join(self.varying) or "none (nothing was swept)"
            raise Refusal(
                f"{field}: {value!r} is not a swept parameter (choices: {choices})", "invalid"
            )
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


def heatmap(sweep: SweepEvidence, choice: Choice, stored: Any) -> dict[str, Any] | None:
    """Rows of cells of ``choice.metric`` over ``choice.x`` × ``choice.y`` (None without axes).

    ``stored(run_id)`` says whether a cell's run is already stored (then it links there).
    """
    if not choice.x:
        return None
    res = sweep.results
    sub = select(res, choice.fixed)
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
