"""The portfolio kernel: several symbols sharing one cash, numpy arrays in and out.

Prices are ``(n, k)`` (one column per symbol, NaN where a symbol has no
candle) and so are the target weights (NaN: no order for that symbol on that
bar). The rules are docs/semantics.md "Portfolios"; the per-bar loop is
compiled (:mod:`sparkbt.engine.portfolio_loop`, imported on first use, so
importing this module does not load numba). Fills, trades and locks are the
single-symbol record arrays of :mod:`sparkbt.engine.codes`, with ``col`` the
symbol's index.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparkbt.engine.codes import FILL_DTYPE, LOCK_DTYPE, TRADE_DTYPE, records
from sparkbt.engine.kernels import SimOptions

__all__ = ["PortfolioOutput", "per_symbol", "simulate_portfolio"]


class PortfolioOutput(NamedTuple):
    """Result of the portfolio kernel: per-bar arrays and record arrays."""

    equity: np.ndarray  # (n,) value at each close = cash + sum(units * last known close)
    cash: np.ndarray  # (n,) cash after each bar
    units: np.ndarray  # (n, k) units held after each bar
    fills: np.ndarray  # codes.FILL_DTYPE, col = symbol index, in execution order
    trades: np.ndarray  # codes.TRADE_DTYPE, col = symbol index, sorted by (col, entry_bar)
    locks: np.ndarray  # codes.LOCK_DTYPE (col 0)
    rejected: int  # orders rejected for want of cash or (in part) by exchange rules
    traded_value: float  # sum over fills of units * fill price (for turnover)


def per_symbol(rules: np.ndarray | None, one: tuple[float, float, float], k: int) -> np.ndarray:
    """The kernels' per-symbol rules ``(3, k)`` (tick, lot, minimum value; NaN: off): ``rules``
    as given, or ``one`` tick, lot and minimum for every symbol."""
    if rules is None:
        return np.repeat(np.array(one, dtype=np.float64)[:, None], k, axis=1)
    out = np.ascontiguousarray(rules, dtype=np.float64)
    if out.shape != (3, k):
        raise ValueError(f"per-symbol rules must be (3, {k}): tick, lot and minimum value")
    return out


def simulate_portfolio(
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    day: np.ndarray,
    weights: np.ndarray,
    options: SimOptions,
    rules: np.ndarray | None = None,
) -> PortfolioOutput:
    """Simulate target ``weights`` ``(n, k)`` on prices ``(n, k)`` sharing ``options.cash``.

    ``day`` is each bar's UTC day number (daily-loss gate). The weights are
    taken as given: already clipped by direction, each row's gross at most 1.
    ``high``/``low`` are part of the market but no portfolio rule reads them yet, nor
    ``open`` without ``next_open``. C-contiguous float64 arrays are used without a copy.
    Uses the options' cash, fees, slippage, next_open, max_drawdown, daily_loss and
    cooldown (as the length of a drawdown lock). ``rules`` holds each symbol's tick,
    lot and minimum value (rows, one column per symbol, NaN: off; see
    :func:`sparkbt.engine.exchange.symbol_rules`); None: the options' lot_size and
    min_notional for every symbol.
    """
    from sparkbt.engine.portfolio_loop import run_portfolio

    del high, low
    c = np.ascontiguousarray(close, dtype=np.float64)
    if c.ndim != 2:
        raise ValueError("portfolio prices must be (bars, symbols)")
    args = (
        np.ascontiguousarray(open, dtype=np.float64) if options.next_open else c,
        c,
        np.ascontiguousarray(day, dtype=np.int64),
        np.ascontiguousarray(weights, dtype=np.float64),
        options.plain(),
        per_symbol(rules, (np.nan, options.lot_size, options.min_notional), c.shape[1]),
    )
    k = c.shape[1]
    # A weight is at most one order; gates add at most one exit per symbol each. Trades
    # end at a zero weight, a sign flip or a gate. A wrong guess costs a second run.
    w = args[3]
    orders = int(np.count_nonzero(~np.isnan(w)))
    closing = int(np.count_nonzero(w == 0.0)) + int(np.count_nonzero(w < 0.0))
    capacity = np.array([orders + 4 * k, min(orders, closing) + 4 * k, 16], dtype=np.int64)
    out = run_portfolio(*args, capacity)
    if (out[6] > capacity).any():
        out = run_portfolio(*args, np.maximum(out[6], capacity))
    equity, cash, units, f, t, lk, used, rejected = out
    nf, nt, nl = (int(x) for x in used)
    fills = records(f[:nf], FILL_DTYPE)
    trades = records(t[:nt], TRADE_DTYPE)
    trades = trades[np.lexsort((trades["entry_bar"], trades["col"]))]
    return PortfolioOutput(
        equity,
        cash,
        units,
        fills,
        trades,
        records(lk[:nl], LOCK_DTYPE),
        int(rejected),
        float(np.sum(fills["units"] * fills["price"])),
    )
