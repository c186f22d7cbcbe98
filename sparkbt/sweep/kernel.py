"""A lean equity + stats pass for sweep chunks of all-in targets.

:func:`sparkbt.kernels.simulate_discrete` followed by
:func:`sparkbt.stats.compute_stats` materialises a dozen ``(n, m)`` temporaries
(entry indices, growth factors, marks, drawdown-duration index arrays). A sweep
needs only the statistics, so this pass keeps combinations in rows (``(m, n)``,
each combination contiguous, so every reduction runs along memory) and works
on the sparse change points for everything trade-related:

* trades and the cash committed to each come from the position's change points
  with the same formulas (and the same order of float operations) as the
  kernels, so trade statistics are bit-identical;
* equity is ``cash_at_entry * mark`` per bar, built with ``np.repeat`` over the
  segments between change points, again with the kernels' formulas;
* the drawdown duration is measured on the runs of bars under water, not with
  per-bar index arrays.

Results equal the reference path to ~1e-15 relative (sums run in a different
order); ``tests/sweep/test_kernel.py`` checks it. Row results never depend on
the other rows of the chunk, so chunking cannot change them.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..kernels import TRADE_DTYPE
from ..stats import STAT_KEYS, trade_stats

__all__ = ["discrete_rows", "sweep_stats"]

_DAY_NS = 86_400 * 10**9


def discrete_rows(pos: np.ndarray) -> bool:
    """True when every target of the chunk is -1, 0 or +1."""
    return bool(np.all((pos == 0.0) | (np.abs(pos) == 1.0)))


def _trades(
    close: np.ndarray, pos: np.ndarray, cash: float, fees: float, slippage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trade records of rows ``pos`` plus the change points (flat index) and cash after each.

    Returns ``(trades, starts, cap_seg)``: ``starts`` are flat indices where a
    segment of constant position begins (bar 0 of each row and every change),
    ``cap_seg`` the cash committed (in a trade) or held (flat) in that segment.
    """
    m, n = pos.shape
    change = np.empty((m, n), dtype=bool)
    np.not_equal(pos[:, 1:], pos[:, :-1], out=change[:, 1:])
    change[:, 0] = True  # every row starts a segment at bar 0
    starts = np.flatnonzero(change)
    row = starts // n
    bar = starts - row * n
    new = pos.ravel()[starts]
    old = np.where(bar > 0, pos.ravel()[np.maximum(starts - 1, 0)], 0.0)
    # the next segment start in the same row closes the trade opened here
    nxt_same = np.zeros(len(starts), dtype=bool)
    nxt_same[:-1] = row[1:] == row[:-1]
    is_entry = new != 0.0
    buy, sell = 1.0 + slippage, 1.0 - slippage
    lo, hi = 1.0 - fees, 1.0 + fees
    # growth factor of each trade, booked at the segment that follows it (kernels' formulas)
    ek = np.flatnonzero(is_entry)
    closed = nxt_same[ek]
    ce = close[bar[ek]]
    xk = np.minimum(ek + 1, len(starts) - 1)
    px_close = close[bar[xk]]
    is_long = new[ek] > 0
    pe_l = ce * buy
    pe_s = ce * sell
    units_l = 1.0 / (pe_l * hi)
    units_s = 1.0 / (pe_s * hi)
    g_long = units_l * px_close * sell * lo
    g_short = 1.0 + units_s * pe_s * lo - units_s * px_close * buy * hi
    g = np.ones(len(starts))
    g[ek[closed] + 1] = np.where(is_long, g_long, g_short)[closed]
    del old
    # cumulative product per row, in order, then times cash (as the kernels do)
    cap_seg = np.empty(len(starts))
    bounds = np.flatnonzero(bar == 0)
    bounds = np.append(bounds, len(starts))
    for a, b in itertools.pairwise(bounds):
        np.cumprod(g[a:b], out=cap_seg[a:b])
    cap_seg *= cash
    # trade records (same expressions as kernels._discrete_trades)
    out = np.zeros(len(ek), dtype=TRADE_DTYPE)
    if len(ek):
        cap_e = cap_seg[ek]
        eb = bar[ek]
        pe = np.where(is_long, close[eb] * (1.0 + slippage), close[eb] * (1.0 - slippage))
        units = cap_e / (pe * (1.0 + fees))
        xbar = np.where(closed, bar[xk], n - 1)
        px_fill = np.where(
            is_long, close[xbar] * (1.0 - slippage), close[xbar] * (1.0 + slippage)
        )
        px = np.where(closed, px_fill, close[n - 1])
        entry_fee = units * pe * fees
        exit_fee = np.where(closed, units * px * fees, 0.0)
        gross = np.where(is_long, units * px - units * pe, units * pe - units * px)
        pnl = gross - entry_fee - exit_fee
        out["col"] = row[ek]
        out["side"] = np.where(is_long, 1, -1)
        out["entry_bar"] = eb
        out["exit_bar"] = xbar
        out["units"] = units
        out["entry_price"] = pe
        out["exit_price"] = px
        out["entry_fee"] = entry_fee
        out["exit_fee"] = exit_fee
        out["pnl"] = pnl
        out["ret"] = pnl / (units * pe)
        out["is_open"] = ~closed
    return out, starts, cap_seg


def _equity(
    close: np.ndarray, pos: np.ndarray, starts: np.ndarray, cap_seg: np.ndarray,
    fees: float, slippage: float,
) -> np.ndarray:
    """Equity rows ``(m, n)``: cap * mark with the kernels' mark formulas."""
    m, n = pos.shape
    lengths = np.diff(np.append(starts, m * n))
    bar = starts % n
    new = pos.ravel()[starts]
    ce = close[bar]
    buy, sell = 1.0 + slippage, 1.0 - slippage
    lo, hi = 1.0 - fees, 1.0 + fees
    cl = np.broadcast_to(close, (m, n))
    eq = np.repeat(cap_seg, lengths).reshape(m, n)
    if (new > 0).any():
        d_seg = np.where(new > 0, ce * buy * hi, 1.0)
        mark = np.repeat(d_seg, lengths).reshape(m, n)
        np.divide(cl, mark, out=mark)
        np.putmask(mark, pos <= 0.0, 1.0)
        eq *= mark
        del mark
    if (new < 0).any():
        pes = ce * sell
        u = 1.0 / (pes * hi)
        c1 = np.repeat(np.where(new < 0, 1.0 + u * pes * lo, 1.0), lengths).reshape(m, n)
        ub = np.repeat(np.where(new < 0, u, 0.0), lengths).reshape(m, n)
        ub *= cl
        c1 -= ub
        del ub
        np.putmask(c1, pos >= 0.0, 1.0)
        eq *= c1
    return eq


def _drawdown(eq: np.ndarray, ts_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max drawdown and its longest duration (seconds) per row."""
    m, n = eq.shape
    peak = np.maximum.accumulate(eq, axis=1)
    under = eq < peak  # == not at peak
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(eq, peak, out=peak)
    mdd = 1.0 - np.min(peak, axis=1)
    del peak
    # runs of bars under water: start s (bar s-1 at peak) to recovery e (or the last bar)
    flat = under.ravel()
    edge = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    # bar 0 is always at a peak, so a run never starts at a row's bar 0
    starts = edge[flat[edge]]
    ends = edge[~flat[edge]]
    ts = ts_ns.astype(np.int64)
    dur = np.zeros(m)
    if len(starts):
        srow = starts // n
        j = np.searchsorted(ends, starts)
        has = j < len(ends)
        nxt = ends[np.minimum(j, len(ends) - 1)] if len(ends) else np.zeros_like(starts)
        has &= nxt // n == srow  # the recovery must be in the same row
        stop_bar = np.where(has, nxt % n, n - 1)
        d = (ts[stop_bar] - ts[starts % n - 1]).astype(np.float64)
        np.maximum.at(dur, srow, d)
    return mdd, dur / 1e9


def sweep_stats(
    close: np.ndarray,
    pos: np.ndarray,
    *,
    cash: float,
    fees: float,
    slippage: float,
    ts_ns: np.ndarray,
    period_ns: int,
) -> dict[str, np.ndarray]:
    """Every key of STAT_KEYS per row of prepared all-in targets ``pos`` ``(m, n)``."""
    m, n = pos.shape
    trades, starts, cap_seg = _trades(close, pos, cash, fees, slippage)
    eq = _equity(close, pos, starts, cap_seg, fees, slippage)
    final = eq[:, -1].copy()
    mdd, mdd_dur = _drawdown(eq, ts_ns)
    ann = 365 * _DAY_NS / period_ns
    r = np.empty_like(eq)
    np.divide(eq[:, 1:], eq[:, :-1], out=r[:, 1:])
    r[:, 0] = eq[:, 0] / cash
    del eq
    r -= 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mean = np.mean(r, axis=1)
        if n > 1:
            sd = np.std(r, axis=1, ddof=1)
            sharpe = mean / sd * math.sqrt(ann)
        else:
            sharpe = np.full(m, np.nan)
        np.minimum(r, 0.0, out=r)
        np.square(r, out=r)
        down = np.sqrt(np.mean(r, axis=1)) * math.sqrt(ann)
        sortino = mean * ann / down
        span_ns = int(ts_ns[-1] - ts_ns[0])
        if span_ns > 0:
            cagr = (final / cash) ** (365.25 * _DAY_NS / span_ns) - 1.0
        else:
            cagr = np.full(m, np.nan)
        calmar = np.where(mdd > 0, cagr / mdd, np.nan)
    del r
    sharpe[~np.isfinite(sharpe)] = np.nan
    sortino[~np.isfinite(sortino)] = np.nan
    out: dict[str, np.ndarray] = {
        "total_return": final / cash - 1.0,
        "pnl": final - cash,
        "final_equity": final,
        "benchmark_return": np.full(m, close[-1] / close[0] - 1.0),
        "cagr": np.where(np.isfinite(cagr), cagr, np.nan),
        "max_drawdown": mdd,
        "max_drawdown_duration": mdd_dur,
        "sharpe": sharpe,
        "sortino": sortino,
        "calmar": np.where(np.isfinite(calmar), calmar, np.nan),
        "exposure": np.count_nonzero(pos, axis=1) / n,
    }
    out.update(trade_stats(trades, m))
    return {k: out[k] for k in STAT_KEYS}
