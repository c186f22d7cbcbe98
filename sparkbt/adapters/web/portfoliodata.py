"""What a portfolio run's report shows, computed from its evidence: one JSON-ready dict.

A portfolio's evidence (report.json ``kind: "portfolio"``) holds its equity, realised
weights, per-symbol figures (assets), trades and fills naming their symbol, but no
candles: each symbol's close is read like the single-run page reads its candles (the
service's store or the packaged samples) and used only if its fingerprint equals the
one the run recorded for that symbol; otherwise that symbol's chart shows its fills alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.adapters.web.downsample import bucket_of, minmax_indices
from sparkbt.adapters.web.reportdata import (
    EXIT_COLOURS,
    SERIES_BUCKETS,
    CandleSource,
    drawdown_periods,
    epoch_s,
    floats,
    lock_rows,
    monthly_grid,
    monthly_returns,
    series,
    stats_rows,
)
from sparkbt.adapters.web.tradetable import MAX_TABLE_TRADES, table_columns, trade_rows
from sparkbt.data.timeframes import time_index
from sparkbt.engine.stats import json_safe
from sparkbt.engine.statspec import PORTFOLIO_STAT_KEYS
from sparkbt.evidence import RunEvidence, data_fingerprint

__all__ = ["ASSET_LABELS", "FILL_COLOURS", "WEIGHT_POINTS", "portfolio_payload", "symbol_candles"]

WEIGHT_POINTS = 2000
"""Bars of the weights chart at most (longer runs are sampled evenly, first and last kept)."""
PRICE_POINTS = 2000
"""Closes per symbol chart at most (min/max buckets keep every high and low)."""

FILL_COLOURS = {"buy": "#2e9e5b", "sell": "#d1434b"}
"""Marker colour of a buy and of a sell."""

ASSET_LABELS = {
    "pnl": "P&L",
    "contribution": "contribution",
    "fees": "fees",
    "trades": "trades",
    "exposure": "exposure",
    "mean_abs_weight": "mean |weight|",
}
"""Columns of the per-symbol table, in order, as the page heads them."""


def symbol_candles(run: RunEvidence, symbol: str, source: CandleSource) -> CandleSource:
    """``symbol``'s candles over the run, checked against the fingerprint the run recorded."""
    candles = source.candles
    if candles is None:
        return source
    meta = run.report.get("metadata") or {}
    first = str(meta.get("warmup_start") or meta["start"])
    window = candles.loc[pd.Timestamp(first) : pd.Timestamp(meta["end"])]
    sha = (meta.get("data_sha256_by_symbol") or {}).get(symbol)
    if window.empty or (sha and data_fingerprint(window) != sha):
        return CandleSource(None, f"the {symbol} candles found differ from the ones this run used")
    return CandleSource(window.loc[pd.Timestamp(meta["start"]) :])


def _weights(run: RunEvidence) -> dict[str, Any]:
    """Realised weights per symbol, sampled evenly to at most WEIGHT_POINTS bars."""
    frame = run.weights
    n = len(frame)
    keep = np.unique(np.linspace(0, n - 1, min(n, WEIGHT_POINTS)).round().astype(np.int64))
    t = epoch_s(time_index(frame))
    values = frame.to_numpy(dtype=np.float64)
    return {
        "t": t[keep].tolist() if n else [],
        "symbols": [str(c) for c in frame.columns],
        "values": [floats(values[keep, j], 6) for j in range(values.shape[1])] if n else [],
        "short": bool(n and np.nanmin(values) < 0.0),
        "points": int(keep.size) if n else 0,
        "bars": n,
    }


def _assets(run: RunEvidence) -> list[dict[str, Any]]:
    rows = []
    for symbol, figures in (run.report.get("assets") or {}).items():
        rows.append({"symbol": symbol} | {k: json_safe(figures.get(k)) for k in ASSET_LABELS})
    return rows


def _fill_marks(fills: pd.DataFrame, at: np.ndarray, t: np.ndarray) -> list[dict[str, Any]]:
    """One marker per (bucket, side): buys below the line, sells above it."""
    counts: dict[tuple[int, str], int] = {}
    for b, side in zip(at, fills["side"].astype(str), strict=True):
        counts[(int(b), side)] = counts.get((int(b), side), 0) + 1
    return [
        {
            "time": int(t[b]),
            "position": "belowBar" if side == "buy" else "aboveBar",
            "shape": "arrowUp" if side == "buy" else "arrowDown",
            "color": FILL_COLOURS.get(side, "#555555"),
            "text": str(count) if count > 1 else "",
        }
        for (b, side), count in sorted(counts.items())
    ]


def _symbol_chart(run: RunEvidence, symbol: str, source: CandleSource) -> dict[str, Any]:
    """The close of ``symbol`` with its fills marked, or its fills alone with the reason."""
    fills = run.fills[run.fills["symbol"] == symbol] if not run.fills.empty else run.fills
    fill_t = epoch_s(pd.DatetimeIndex(fills["timestamp"])) if len(fills) else np.zeros(0, int)
    found = symbol_candles(run, symbol, source)
    out: dict[str, Any] = {"symbol": symbol, "fills": len(fills), "note": found.note}
    if found.candles is not None:
        close = found.candles["close"].to_numpy(dtype=np.float64)
        keep = minmax_indices(close, PRICE_POINTS)
        t = epoch_s(time_index(found.candles))[keep]
        marks = _fill_marks(fills, bucket_of(t, fill_t), t) if len(fills) else []
        return out | {"t": t.tolist(), "close": floats(close[keep]), "markers": marks}
    points = zip(fill_t, fills["price"], fills["side"].astype(str), strict=True)
    out["fill_points"] = [
        {"time": int(ts), "price": json_safe(float(p)), "side": side} for ts, p, side in points
    ]
    return out


def portfolio_payload(
    run: RunEvidence,
    sources: Mapping[str, CandleSource],
    max_trades: int | None = MAX_TABLE_TRADES,
) -> dict[str, Any]:
    """Everything the page of portfolio ``run`` shows; ``sources`` holds each symbol's candles
    as found (a symbol left out has none)."""
    report = run.report
    cash = float(report["config"]["cash"])
    equity = run.equity["equity"]
    symbols = list(report["metadata"].get("symbols") or run.weights.columns)
    missing = CandleSource(None, "no candles were looked for")
    return {
        "kind": "portfolio",
        "id": run.id,
        "strategy": report["strategy"],
        "params": report["params"],
        "config": report["config"],
        "metadata": report["metadata"],
        "engine_version": report["engine_version"],
        "sparkbt_version": report.get("sparkbt_version"),
        "created_at": (report.get("timing") or {}).get("created_at"),
        "symbols": symbols,
        "stats": stats_rows(run, None, PORTFOLIO_STAT_KEYS),
        "series": series(run, None),
        "weights": _weights(run),
        "assets": _assets(run),
        "asset_labels": ASSET_LABELS,
        "prices": [_symbol_chart(run, s, sources.get(s, missing)) for s in symbols],
        "fill_colours": FILL_COLOURS,
        "exit_colours": EXIT_COLOURS,
        "trade_columns": list(table_columns(run.trades)),
        "trades": trade_rows(run.trades if max_trades is None else run.trades.iloc[:max_trades]),
        "page_size": MAX_TABLE_TRADES,
        "trade_count": len(run.trades),
        "monthly": monthly_grid(monthly_returns(equity, cash)),
        "drawdowns": drawdown_periods(equity),
        "locks": lock_rows(run.locks),
        "series_buckets": SERIES_BUCKETS,
    }
