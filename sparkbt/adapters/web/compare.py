"""Compare two to four stored backtests: overlaid equity and drawdown, stats side by side.

::

    GET /ui/compare                       pick runs to compare (recent stored runs)
    GET /ui/compare?runs=ID1,ID2[,ID3,ID4] the comparison (ids or unique id prefixes)

Every number in the tables is read from the runs' stored stats; only the chart
series are downsampled (min/max buckets, so every peak and trough is drawn).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from sparkbt.adapters.web.downsample import minmax_indices
from sparkbt.adapters.web.pages import Pages
from sparkbt.engine.statspec import (
    COUNT_KEYS,
    HIGHER_BETTER,
    LOWER_BETTER,
    PERCENT_KEYS,
    PORTFOLIO_STAT_KEYS,
    STAT_SPECS,
    format_stat,
)
from sparkbt.errors import Refusal

__all__ = [
    "HIGHER_BETTER",
    "LOWER_BETTER",
    "MAX_RUNS",
    "MIN_RUNS",
    "compare_payload",
    "marks",
    "parse_run_ids",
    "router",
]

MIN_RUNS, MAX_RUNS = 2, 4
SERIES_BUCKETS = 1000
"""Min/max buckets per run and series (each run sends at most ~4,000 points)."""
PALETTE = ("#2f5bd3", "#e08a1e", "#2e9e5b", "#8a55c9")
"""Colour of each run, in order (the charts and the header cards use the same)."""


def parse_run_ids(values: list[str]) -> list[str]:
    """Run ids from ``?runs=a,b`` (or repeated ``runs``), blanks dropped, order and first kept."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def marks(key: str, values: list[Any]) -> list[str]:
    """``better``/``worse``/``""`` for each run's value of stat ``key``.

    Only stats with a known direction are marked, and only when the runs differ:
    every run holding the best value is ``better``, every one holding the worst ``worse``.
    """
    if key in HIGHER_BETTER:
        sign = 1.0
    elif key in LOWER_BETTER:
        sign = -1.0
    else:
        return [""] * len(values)
    nums = [_number(v) for v in values]
    known = [sign * v for v in nums if v is not None]
    if len(known) < 2 or max(known) == min(known):
        return [""] * len(values)
    best, worst = max(known), min(known)
    out = []
    for v in nums:
        if v is None:
            out.append("")
        elif sign * v == best:
            out.append("better")
        elif sign * v == worst:
            out.append("worse")
        else:
            out.append("")
    return out


def format_delta(key: str, value: Any, first: Any) -> str:
    """``value - first`` as text with its sign (percentages in percentage points)."""
    a, b = _number(value), _number(first)
    if a is None or b is None:
        return ""
    d = a - b
    if d == 0:
        return "0"
    sign = "+" if d > 0 else "−"
    if key in PERCENT_KEYS:
        text = f"{abs(d) * 100:,.2f} pp"
    else:
        text = format_stat(key, int(abs(d)) if key in COUNT_KEYS else abs(d))
    if not any(ch in "123456789" for ch in text):
        return "≈0"  # a difference smaller than the shown precision
    return sign + text


def _flat(prefix: str, mapping: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        if isinstance(v, dict):
            out.update(_flat(f"{prefix}{k}.", v) if v else {f"{prefix}{k}": "{}"})
        else:
            out[f"{prefix}{k}"] = v
    return out


def _setup(report: dict[str, Any]) -> dict[str, Any]:
    """What a run was made of, flattened: strategy, params, options, data, engine."""
    meta = report.get("metadata") or {}
    out: dict[str, Any] = {"strategy": report.get("strategy")}
    out.update(_flat("params.", report.get("params") or {}))
    out.update(_flat("config.", report.get("config") or {}))
    for k in ("symbol", "timeframe", "start", "end", "candle_count", "data_sha256"):
        out[f"data.{k}"] = meta.get(k)
    if "symbols" in meta:  # a portfolio
        out["data.symbols"] = ", ".join(str(x) for x in meta["symbols"])
    out["data.warmup_bars"] = meta.get("warmup_bars")
    out["engine_version"] = report.get("engine_version")
    return out


def setup_differences(reports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Setup keys whose values differ between runs, and how many keys are equal."""
    setups = [_setup(r) for r in reports]
    keys: list[str] = []
    for s in setups:
        keys += [k for k in s if k not in keys]
    rows, same = [], 0
    for k in keys:
        values = [s.get(k) for s in setups]
        if all(v == values[0] for v in values):
            same += 1
            continue
        shown = ["—" if v is None else str(v) for v in values]
        rows.append({"key": k, "cells": shown, "changed": [v != values[0] for v in values]})
    return rows, same


def _series(run: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    equity = run.equity["equity"].to_numpy(dtype=np.float64)
    drawdown = run.equity["drawdown"].to_numpy(dtype=np.float64)
    keep = np.union1d(
        minmax_indices(equity, SERIES_BUCKETS), minmax_indices(-drawdown, SERIES_BUCKETS)
    )
    t = np.asarray(run.equity.index.asi8, dtype=np.int64) // 10**9
    return t[keep], equity[keep], -drawdown[keep], int(equity.size)


def _on_axis(x: np.ndarray, t: np.ndarray, values: np.ndarray, digits: int) -> list[float | None]:
    """``values`` at their times ``t`` on the union axis ``x``; None where the run has no point."""
    out: list[float | None] = [None] * len(x)
    pos = np.searchsorted(x, t)
    for i, v in zip(pos.tolist(), np.round(values, digits).tolist(), strict=True):
        out[i] = v if math.isfinite(v) else None
    return out


def _card(i: int, run: Any) -> dict[str, Any]:
    report = run.report
    meta = report.get("metadata") or {}
    return {
        "n": i + 1,
        "id": run.id,
        "colour": PALETTE[i % len(PALETTE)],
        "strategy": report.get("strategy") or "",
        "params": report.get("params") or {},
        "symbol": meta.get("symbol") or ", ".join(str(x) for x in meta.get("symbols") or []),
        "timeframe": meta.get("timeframe") or "",
        "start": (meta.get("start") or "")[:16].replace("T", " "),
        "end": (meta.get("end") or "")[:16].replace("T", " "),
        "synthetic": bool(meta.get("synthetic")),
        "options": {
            k: v
            for k, v in (report.get("config") or {}).items()
            if v not in (None, False, {}) and k not in ("cash",)
        },
        "cash": (report.get("config") or {}).get("cash"),
    }


def compare_payload(runs: list[Any]) -> dict[str, Any]:
    """Cards, stats rows with marks and deltas, setup differences and chart series of ``runs``."""
    stats = [run.stats for run in runs]
    rows = []
    for key in PORTFOLIO_STAT_KEYS:  # a portfolio's turnover etc. show when any run has them
        if not any(key in s for s in stats):
            continue
        values = [s.get(key) for s in stats]
        rows.append(
            {
                "key": key,
                "label": key.replace("_", " "),
                "texts": [format_stat(key, v) for v in values],
                "marks": marks(key, values),
                "deltas": [format_delta(key, v, values[0]) for v in values[1:]],
                "direction": STAT_SPECS[key].direction,
            }
        )
    parts = [_series(run) for run in runs]
    x = np.unique(np.concatenate([p[0] for p in parts]))
    diffs, same = setup_differences([run.report for run in runs])
    return {
        "cards": [_card(i, run) for i, run in enumerate(runs)],
        "rows": rows,
        "differences": diffs,
        "same_settings": same,
        "series": {
            "t": x.tolist(),
            "runs": [
                {
                    "label": f"#{i + 1} {run.report.get('strategy', '')} {run.id[:8]}",
                    "colour": PALETTE[i % len(PALETTE)],
                    "equity": _on_axis(x, t, eq, 6),
                    "drawdown": _on_axis(x, t, dd, 8),
                    "bars": bars,
                    "points": int(t.size),
                }
                for i, (run, (t, eq, dd, bars)) in enumerate(zip(runs, parts, strict=True))
            ],
        },
    }


def _recent(pages: Pages) -> list[dict[str, Any]]:
    from sparkbt.adapters.web.runs import list_rows

    rows = list_rows(pages, "", "", "")
    return [
        r
        for r in rows
        if r["run_id"] and r["status"] in ("done", "stored") and r["kind"] == "backtest"
    ][:60]


def router(pages: Pages) -> APIRouter:
    """The compare page of ``pages``' service."""
    r = APIRouter(prefix="/ui")

    @r.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    async def compare(request: Request) -> HTMLResponse:
        pages.read(request)
        raw = request.query_params.getlist("runs")
        if not raw:
            recent = await run_in_threadpool(_recent, pages)
            return pages.page(request, "compare.html", data=None, recent=recent)
        ids = parse_run_ids([v[:2000] for v in raw])
        if not MIN_RUNS <= len(ids) <= MAX_RUNS:
            raise Refusal(
                f"runs: compare needs {MIN_RUNS} to {MAX_RUNS} different run ids "
                f"(comma-separated), got {len(ids)}",
                "invalid",
            )
        found = [await run_in_threadpool(pages.run, i) for i in ids]
        if len({run.id for run in found}) != len(found):
            raise Refusal("runs: two of the ids name the same run", "invalid")
        data = await run_in_threadpool(compare_payload, found)
        return pages.page(request, "compare.html", data=data, recent=[])

    return r
