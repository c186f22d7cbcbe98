"""Statistics (docs/semantics.md): one pure function per metric, many columns at once.

Every function takes arrays (equity ``(n, m)``, trade records with a ``col``
field, ...) and returns one value per column, so the same code serves a single
backtest (``m == 1``) and a sweep chunk. Stats never know how they were made.
Undefined values are NaN here; :func:`json_safe` turns them into ``None``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sparkbt.engine.codes import EXIT_REASONS
from sparkbt.engine.statspec import COUNT_KEYS, STAT_KEYS

__all__ = [
    "COUNT_KEYS",
    "STAT_KEYS",
    "compute_stats",
    "json_safe",
    "max_drawdown",
    "max_drawdown_duration",
    "running_peak",
    "sharpe",
    "sortino",
    "trade_stats",
]

_DAY_NS = 86_400 * 10**9


def bar_returns(equity: np.ndarray, cash: float) -> np.ndarray:
    """``r[t] = equity[t] / equity[t-1] - 1`` with ``equity[-1] = cash``.

    Laid out as ``equity`` is: a sum down each column then adds in the same order.
    """
    returns = np.empty_like(equity, dtype=np.float64)
    returns[0] = equity[0] / cash
    np.divide(equity[1:], equity[:-1], out=returns[1:])
    returns -= 1.0
    return returns


def running_peak(equity: np.ndarray) -> np.ndarray:
    """``np.maximum.accumulate(equity, axis=0)``; one curve without NaN as one compiled pass
    (numpy's accumulate is a slow scalar loop down a single column)."""
    if equity.ndim == 2 and equity.shape[1] == 1 and equity.dtype == np.float64:
        from sparkbt.engine.stats_loop import running_max  # numba: imported on first use

        peak: np.ndarray
        peak, whole = running_max(np.ascontiguousarray(equity[:, 0]))
        if whole:
            return peak[:, None]
    out: np.ndarray = np.maximum.accumulate(equity, axis=0)
    return out


def max_drawdown(
    equity: np.ndarray, peak: np.ndarray | None = None, *, reuse_peak: bool = False
) -> np.ndarray:
    """Largest fall from a running peak of the equity curve, as a positive fraction.

    ``reuse_peak``: the given ``peak`` is not needed after, so the ratio is written over it.
    """
    if peak is None:
        peak, reuse_peak = running_peak(equity), True
    ratio = np.divide(equity, peak, out=peak if reuse_peak else None)
    fall: np.ndarray = 1.0 - np.min(ratio, axis=0)
    return fall


def max_drawdown_duration(
    equity: np.ndarray, ts_ns: np.ndarray, peak: np.ndarray | None = None
) -> np.ndarray:
    """Longest time (seconds) from a peak until equity first regains it (or the last bar).

    Only the bars at a running peak matter: a drawdown lasts from one such bar to
    the next when there are bars under water between them, and from the last one
    to the final bar when the curve ends under water.
    """
    n, m = equity.shape
    if peak is None:
        peak = running_peak(equity)
    at_peak = equity >= peak
    if m == 1:
        bars = np.flatnonzero(at_peak)
        cols = np.zeros(len(bars), dtype=np.int64)
    else:
        cols, bars = np.nonzero(at_peak.T)  # sorted by column, then bar
    ts = ts_ns.astype(np.int64)
    out = np.zeros(m)
    same = cols[1:] == cols[:-1]
    gap = same & (bars[1:] > bars[:-1] + 1)
    if gap.any():
        dur = ts[bars[1:][gap]] - ts[bars[:-1][gap]]
        np.maximum.at(out, cols[1:][gap], dur / 1e9)
    last = np.ones(len(cols), dtype=bool)
    last[:-1] = ~same  # the last peak bar of each column
    tail = (ts[n - 1] - ts[bars[last]]) / 1e9
    np.maximum.at(out, cols[last], tail)
    return out


def sharpe(r: np.ndarray, ann: float) -> np.ndarray:
    """mean(r) / std(r, ddof=1) * sqrt(ann); NaN when undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.std(r, axis=0, ddof=1) if r.shape[0] > 1 else np.full(r.shape[1], np.nan)
        out: np.ndarray = np.mean(r, axis=0) / sd * math.sqrt(ann)
    out[~np.isfinite(out)] = np.nan
    return out


def sortino(r: np.ndarray, ann: float, *, scratch: np.ndarray | None = None) -> np.ndarray:
    """mean(r) * ann / (sqrt(mean(min(r, 0)^2)) * sqrt(ann)); NaN when undefined.

    ``scratch``: a spare array to compute in when it is laid out as ``r`` (no new memory;
    the layout fixes the order of the sums, so the bits are the same either way).
    """
    same = scratch is not None and scratch.shape == r.shape and scratch.strides == r.strides
    low = np.minimum(r, 0.0, out=scratch if same else None)
    down = np.sqrt(np.mean(np.square(low, out=low), axis=0)) * math.sqrt(ann)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.mean(r, axis=0) * ann / down
    out[~np.isfinite(out)] = np.nan
    return out


def trade_stats(trades: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """Counts and closed-trade statistics per column from TRADE_DTYPE records."""
    col = trades["col"]
    is_open = trades["is_open"]
    closed = ~is_open
    cc = col[closed]
    pnl = trades["pnl"][closed]
    ret = trades["ret"][closed]
    n_closed = np.bincount(cc, minlength=m).astype(np.float64)
    n_open = np.bincount(col[is_open], minlength=m).astype(np.float64)
    wins = np.bincount(cc, weights=(pnl > 0).astype(np.float64), minlength=m)
    sum_pnl = np.bincount(cc, weights=pnl, minlength=m)
    sum_ret = np.bincount(cc, weights=ret, minlength=m)
    gains = np.bincount(cc, weights=np.where(pnl > 0, pnl, 0.0), minlength=m)
    losses = np.bincount(cc, weights=np.where(pnl < 0, -pnl, 0.0), minlength=m)
    best = np.full(m, -np.inf)
    worst = np.full(m, np.inf)
    np.maximum.at(best, cc, ret)
    np.minimum.at(worst, cc, ret)
    fees = np.bincount(col, weights=trades["entry_fee"] + trades["exit_fee"], minlength=m)
    reasons = trades["exit_reason"][closed].astype(np.int64)
    by_reason = np.bincount(reasons * m + cc, minlength=len(EXIT_REASONS) * m)
    by_reason = by_reason.reshape(len(EXIT_REASONS), m).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        avg_pnl = sum_pnl / n_closed
        out = {
            "total_trades": n_closed + n_open,
            "closed_trades": n_closed,
            "open_trades": n_open,
            "win_rate": wins / n_closed,
            "avg_pnl": avg_pnl,
            "avg_return": sum_ret / n_closed,
            "best_trade": np.where(n_closed > 0, best, np.nan),
            "worst_trade": np.where(n_closed > 0, worst, np.nan),
            "profit_factor": np.where(losses > 0, gains / losses, np.nan),
            "expectancy": avg_pnl,
            "total_fees": fees,
        }
    for k, reason in enumerate(EXIT_REASONS):
        out[f"exits_{reason}"] = by_reason[k]
    return out


def compute_stats(
    equity: np.ndarray,
    units: np.ndarray,
    trades: np.ndarray,
    *,
    cash: float,
    close: np.ndarray,
    ts_ns: np.ndarray,
    period_ns: int,
    year_days: float = 365.0,
) -> dict[str, np.ndarray]:
    """Every key of :data:`STAT_KEYS`, one value per column.

    Ratios are annualised with ``year_days`` days a year: ``ann = year_days days / bar period``.
    """
    _n, m = equity.shape
    ann = year_days * _DAY_NS / period_ns
    r = bar_returns(equity, cash)
    final = equity[-1]
    peak = running_peak(equity)
    duration = max_drawdown_duration(equity, ts_ns, peak)
    mdd = max_drawdown(equity, peak, reuse_peak=True)
    span_ns = int(ts_ns[-1] - ts_ns[0])
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if span_ns > 0:
            cagr = (final / cash) ** (365.25 * _DAY_NS / span_ns) - 1.0
        else:
            cagr = np.full(m, np.nan)
        calmar = np.where(mdd > 0, cagr / mdd, np.nan)
    out: dict[str, np.ndarray] = {
        "total_return": final / cash - 1.0,
        "pnl": final - cash,
        "final_equity": final.astype(np.float64),
        "benchmark_return": np.full(m, close[-1] / close[0] - 1.0),
        "cagr": np.where(np.isfinite(cagr), cagr, np.nan),
        "max_drawdown": mdd,
        "max_drawdown_duration": duration,
        "sharpe": sharpe(r, ann),
        "sortino": sortino(r, ann, scratch=peak),  # the peak's buffer is spare by now
        "calmar": np.where(np.isfinite(calmar), calmar, np.nan),
        "exposure": np.mean(units != 0.0, axis=0),
        # equity <= 0 at a close is ruin, and it stays there (docs/semantics.md "Ruin")
        "ruined": np.min(equity, axis=0) <= 0.0,
    }
    out.update(trade_stats(trades, m))
    return {k: out[k] for k in STAT_KEYS}


def json_safe(value: Any) -> Any:
    """Plain Python numbers for JSON: NaN/inf -> None, whole trade counts -> int."""
    if isinstance(value, (np.floating, float)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def stats_row(stats: dict[str, np.ndarray], j: int) -> dict[str, Any]:
    """Column ``j`` of vectorised stats as a JSON-safe dict (counts as ints)."""
    row = {k: json_safe(v[j]) for k, v in stats.items()}
    for k in COUNT_KEYS:
        if row.get(k) is not None:
            row[k] = int(row[k])
    if "ruined" in row:
        row["ruined"] = bool(row["ruined"])
    return row
