"""What a run report shows, computed from a stored run: one JSON-ready dict.

:func:`report_payload` reads nothing itself: it takes a stored run
(:class:`~sparkbt.evidence.RunEvidence`) and, when they can be found, the
candles it ran on. Every number it returns (stats, buy-and-hold, monthly
returns, worst drawdowns, trades) is computed on the full data; only the series
drawn as charts are cut down to a few thousand points
(:mod:`sparkbt.adapters.web.downsample`), with min/max buckets so every peak and trough
of equity and drawdown survives.

The same payload feeds the served report page and the self-contained
``--html`` file, so both show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.adapters.web.downsample import bucket_of, minmax_indices, ohlc_buckets
from sparkbt.adapters.web.tradetable import MAX_TABLE_TRADES, TRADE_COLUMNS, trade_rows
from sparkbt.data.timeframes import period_ns, time_index
from sparkbt.engine.codes import TRADE_DTYPE
from sparkbt.engine.stats import compute_stats, json_safe
from sparkbt.engine.statspec import BENCHMARK_KEYS, STAT_KEYS, format_stat
from sparkbt.evidence import RunEvidence, data_fingerprint

__all__ = [
    "EXIT_COLOURS",
    "SERIES_BUCKETS",
    "CandleSource",
    "drawdown_periods",
    "epoch_s",
    "floats",
    "lock_rows",
    "monthly_grid",
    "monthly_returns",
    "report_payload",
    "series",
    "stats_rows",
]

SERIES_BUCKETS = 2000
"""Min/max buckets for equity and drawdown (at most ~4,000 points drawn)."""
CANDLE_BUCKETS = 2000
"""Candles drawn at most; longer runs are aggregated into OHLC bars of several candles."""

EXIT_COLOURS = {
    "signal": "#4b74d1",
    "stop_loss": "#d1434b",
    "trailing_stop": "#e08a1e",
    "take_profit": "#2e9e5b",
    "gate": "#8a55c9",
    "ruin": "#111111",
    "open": "#7a7a7a",
}
"""Marker colour of each exit reason (entries are drawn in the colour of their exit)."""


@dataclass(frozen=True)
class CandleSource:
    """Candles found for a run, or why none could be (shown instead of the price chart)."""

    candles: pd.DataFrame | None
    note: str = ""


def epoch_s(index: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    values = index.asi8 if isinstance(index, pd.DatetimeIndex) else index.astype("int64")
    return np.asarray(values, dtype=np.int64) // 10**9


def floats(a: np.ndarray, digits: int = 8) -> list[float | None]:
    """Floats to ``digits`` significant digits (all a chart can show), NaN as None."""
    spec = f".{digits}g"
    return [float(format(v, spec)) if np.isfinite(v) else None for v in np.asarray(a, float)]


def window_candles(run: RunEvidence, source: CandleSource) -> CandleSource:
    """The candles of the run's traded bars, checked against its data fingerprint.

    A run with warm-up bars (``trade_from``) fingerprints its whole input, from
    ``warmup_start``: that span is what is checked; the traded bars are returned.
    """
    candles = source.candles
    if candles is None:
        return source
    equity_index = run.equity.index
    window = candles.loc[equity_index[0] : equity_index[-1]]
    if len(window) != len(equity_index) or not window.index.equals(equity_index):
        return CandleSource(None, "the candles found do not cover this run's bars")
    meta = run.report.get("metadata", {})
    sha = meta.get("data_sha256")
    given = (
        candles.loc[meta["warmup_start"] : equity_index[-1]] if meta.get("warmup_start") else window
    )
    if sha and data_fingerprint(given) != sha:
        return CandleSource(None, "the candles found differ from the ones this run used")
    return CandleSource(window)


def monthly_returns(equity: pd.Series, cash: float) -> list[dict[str, Any]]:
    """Return of each calendar month (UTC) from month-end equity; the first month from ``cash``."""
    index = time_index(equity)
    month_end = equity.groupby([index.year, index.month]).last()
    prev = np.concatenate([[cash], month_end.to_numpy()[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = month_end.to_numpy() / prev - 1.0
    return [
        {"year": int(y), "month": int(m), "return": json_safe(float(r))}
        for (y, m), r in zip(month_end.index, ret, strict=True)
    ]


def monthly_grid(months: list[dict[str, Any]]) -> dict[str, Any]:
    """Monthly returns as a year-by-month grid (None where a month has no bars), with the
    compounded return of each year and the largest absolute month (for the colour scale)."""
    years = sorted({m["year"] for m in months})
    rows: dict[int, list[float | None]] = {y: [None] * 12 for y in years}
    for m in months:
        rows[m["year"]][m["month"] - 1] = m["return"]
    totals: list[float | None] = []
    for y in years:
        vals = [v for v in rows[y] if v is not None]
        totals.append(float(np.prod([1.0 + v for v in vals]) - 1.0) if vals else None)
    finite = [abs(v) for y in years for v in rows[y] if v is not None]
    return {
        "years": years,
        "rows": [rows[y] for y in years],
        "totals": totals,
        "scale": max(finite) if finite else 0.0,
    }


def drawdown_periods(equity: pd.Series, top: int = 5) -> list[dict[str, Any]]:
    """The ``top`` deepest drawdowns: peak, trough, recovery (None if not recovered), depth."""
    values = equity.to_numpy(dtype=np.float64)
    if values.size == 0:
        return []
    peak = np.maximum.accumulate(values)
    under = values < peak
    # a period starts at the bar after a peak and ends at the first bar back at the peak
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    periods: list[dict[str, Any]] = []
    index = time_index(equity)
    for s, e in zip(map(int, starts), map(int, ends), strict=True):
        trough = s + int(np.argmin(values[s:e]))
        depth = 1.0 - values[trough] / peak[trough]
        recovered = e < len(values)
        periods.append(
            {
                "peak": index[s - 1].isoformat() if s > 0 else index[0].isoformat(),
                "trough": index[trough].isoformat(),
                "recovery": index[e].isoformat() if recovered else None,
                "depth": float(depth),
                "bars": int(e - s + (1 if s > 0 else 0)),
                "duration": str((index[e] if recovered else index[-1]) - index[max(s - 1, 0)]),
            }
        )
    periods.sort(key=lambda p: -p["depth"])
    return periods[:top]


def _buy_and_hold(run: RunEvidence, candles: pd.DataFrame) -> dict[str, Any]:
    """Stats of holding the asset from the first close, on the engine's own stats code."""
    cash = float(run.report["config"]["cash"])
    close = candles["close"].to_numpy(dtype=np.float64)
    equity = (cash * close / close[0]).reshape(-1, 1)
    stats = compute_stats(
        equity,
        np.ones_like(equity),
        np.zeros(0, dtype=TRADE_DTYPE),
        cash=cash,
        close=close,
        ts_ns=time_index(candles).asi8,
        period_ns=period_ns(candles),
        year_days=float(run.report["config"].get("year_days") or 365),
    )
    return {k: json_safe(float(stats[k][0])) for k in BENCHMARK_KEYS}


def stats_rows(
    run: RunEvidence, bench: dict[str, Any] | None, keys: tuple[str, ...] = STAT_KEYS
) -> list[dict[str, Any]]:
    """The run's statistics ``keys`` as table rows, beside buy-and-hold's when given."""
    stats = run.stats
    rows = []
    for key in keys:
        if key not in stats:
            continue
        b = None if bench is None else bench.get(key)
        rows.append(
            {
                "key": key,
                "label": key.replace("_", " "),
                "value": stats[key],
                "text": format_stat(key, stats[key]),
                "bench": None
                if key not in BENCHMARK_KEYS or bench is None
                else format_stat(key, b),
            }
        )
    return rows


def series(run: RunEvidence, candles: pd.DataFrame | None) -> dict[str, Any]:
    equity = run.equity["equity"].to_numpy(dtype=np.float64)
    drawdown = run.equity["drawdown"].to_numpy(dtype=np.float64)
    keep = np.union1d(
        minmax_indices(equity, SERIES_BUCKETS), minmax_indices(-drawdown, SERIES_BUCKETS)
    )
    t = epoch_s(time_index(run.equity))
    out: dict[str, Any] = {
        "t": t[keep].tolist(),
        "equity": floats(equity[keep], 10),
        "drawdown": floats(-drawdown[keep], 6),
        "points": int(keep.size),
        "bars": int(equity.size),
    }
    if candles is not None:
        close = candles["close"].to_numpy(dtype=np.float64)
        cash = float(run.report["config"]["cash"])
        out["benchmark"] = floats(cash * close[keep] / close[0], 10)
    return out


def _candles(run: RunEvidence, candles: pd.DataFrame) -> dict[str, Any]:
    t = epoch_s(time_index(candles))
    o, h, lo, c = (
        candles[col].to_numpy(dtype=np.float64) for col in ("open", "high", "low", "close")
    )
    bt, bo, bh, bl, bc, _size = ohlc_buckets(t, o, h, lo, c, CANDLE_BUCKETS)
    trades = run.trades
    markers: dict[tuple[int, str, str, str], int] = {}
    for kind, col in (("entry", "entry_time"), ("exit", "exit_time")):
        if trades.empty:
            break
        at = bucket_of(bt, epoch_s(trades[col]))
        reasons = trades["exit_reason"].astype(str).to_numpy()
        sides = trades["side"].astype(str).to_numpy()
        for b, reason, side in zip(at, reasons, sides, strict=True):
            if kind == "exit" and reason == "open":
                continue
            key = (int(b), kind, reason, side)
            markers[key] = markers.get(key, 0) + 1
    marks = []
    for (b, kind, reason, side), count in sorted(markers.items()):
        up = (kind == "entry") == (side == "long")
        marks.append(
            {
                "time": int(bt[b]),
                "position": "belowBar" if up else "aboveBar",
                # entries are arrows in the trade's direction, exits are circles
                "shape": ("arrowUp" if up else "arrowDown") if kind == "entry" else "circle",
                "color": EXIT_COLOURS.get(reason, "#555555"),
                "count": count,
            }
        )
    return {
        "t": bt.tolist(),
        "open": floats(bo),
        "high": floats(bh),
        "low": floats(bl),
        "close": floats(bc),
        "bars_per_candle": int(np.ceil(len(t) / max(len(bt), 1))),
        "markers": marks,
    }


def lock_rows(locks: pd.DataFrame) -> list[dict[str, Any]]:
    """Gate locks as the page lists them: times to the minute, equity in money."""
    out = []
    for r in locks.to_dict("records"):
        row: dict[str, Any] = {}
        for k, v in r.items():
            if isinstance(v, pd.Timestamp):
                row[str(k)] = v.strftime("%Y-%m-%d %H:%M")
            elif k == "equity":
                row[str(k)] = f"{v:,.2f}"
            else:
                row[str(k)] = json_safe(v)
        out.append(row)
    return out


def report_payload(
    run: RunEvidence, source: CandleSource, max_trades: int | None = MAX_TABLE_TRADES
) -> dict[str, Any]:
    """Everything a report page shows for ``run``, JSON-ready.

    The first ``max_trades`` trades are listed (None: all of them); a served page
    asks for further pages of a longer list (:func:`~sparkbt.adapters.web.tradetable.trade_page`).
    """
    report = run.report
    found = window_candles(run, source)
    candles = found.candles
    bench = _buy_and_hold(run, candles) if candles is not None else None
    cash = float(report["config"]["cash"])
    equity = run.equity["equity"]
    locks = run.locks
    drawn = _candles(run, candles) if candles is not None else None
    payload = {
        "id": run.id,
        "strategy": report["strategy"],
        "params": report["params"],
        "config": report["config"],
        "metadata": report["metadata"],
        "engine_version": report["engine_version"],
        "sparkbt_version": report.get("sparkbt_version"),
        "created_at": (report.get("timing") or {}).get("created_at"),
        "stats": stats_rows(run, bench),
        "series": series(run, candles),
        "candles": drawn,
        "candles_note": found.note,
        "exit_colours": EXIT_COLOURS,
        "trade_columns": list(TRADE_COLUMNS),
        "trades": trade_rows(run.trades if max_trades is None else run.trades.iloc[:max_trades]),
        "page_size": MAX_TABLE_TRADES,
        "trade_count": len(run.trades),
        "monthly": monthly_grid(monthly_returns(equity, cash)),
        "drawdowns": drawdown_periods(equity),
        "locks": lock_rows(locks),
    }
    if run.is_orders:
        from sparkbt.adapters.web.orderdata import order_payload

        payload |= order_payload(run, None if drawn is None else np.asarray(drawn["t"]))
    return payload
