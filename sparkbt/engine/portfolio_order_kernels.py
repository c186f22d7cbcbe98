"""The portfolio order kernel's array interface: several symbols' orders, one cash.

Prices are ``(n, k)`` (one column per symbol, NaN where a symbol has no
candle); orders are :class:`sparkbt.engine.order_kernels.Orders` sorted by
decision bar, with the symbol (column) of each. The rules are docs/semantics.md
"Orders" across the symbols; the compiled loop is
:mod:`sparkbt.engine.portfolio_order_loop` (imported on first use).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparkbt.engine.codes import (
    LOCK_DTYPE,
    OR_NO_CASH,
    ORDER_FILL_DTYPE,
    STATUS_REJECTED,
    TIF_IOC,
    TRADE_DTYPE,
    records,
)
from sparkbt.engine.kernels import SimOptions
from sparkbt.engine.order_kernels import (
    KernelRules,
    OrderOptions,
    Orders,
    order_book,
    order_results,
    to_steps,
)
from sparkbt.engine.portfolio_kernels import per_symbol
from sparkbt.errors import InputError

__all__ = ["PortfolioOrderOutput", "simulate_portfolio_orders"]


class PortfolioOrderOutput(NamedTuple):
    """Result of a portfolio's orders: per-bar arrays, records and one result per order."""

    equity: np.ndarray  # (n,) cash + sum(units * last known close)
    cash: np.ndarray  # (n,)
    units: np.ndarray  # (n, k)
    fills: np.ndarray  # codes.ORDER_FILL_DTYPE, col = symbol, in execution order
    trades: np.ndarray  # codes.TRADE_DTYPE, col = symbol, sorted by (col, entry_bar)
    locks: np.ndarray  # codes.LOCK_DTYPE (col 0)
    orders: np.ndarray  # codes.ORDER_RESULT_DTYPE, one per order row
    rejected: int  # orders rejected for want of cash
    traded_value: float  # sum over fills of units * fill price (for turnover)


def _first_candles(
    ob: np.ndarray, tif: np.ndarray, symbol: np.ndarray, has: np.ndarray
) -> np.ndarray:
    """Each IOC order's one bar: its symbol's first candle after the decision bar (n: none)."""
    n = has.shape[0]
    expire = ob["expire"].copy()
    ioc = np.flatnonzero(np.asarray(tif) == TIF_IOC)
    for c in np.unique(symbol[ioc]):
        rows = ioc[symbol[ioc] == c]
        bars = np.flatnonzero(has[:, c])
        at = np.searchsorted(bars, ob["bar"][rows] + 1)
        expire[rows] = np.where(at < len(bars), bars[np.minimum(at, len(bars) - 1)], n)
    return expire


def simulate_portfolio_orders(
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    day: np.ndarray,
    orders: Orders,
    symbol: np.ndarray,
    options: SimOptions,
    rules: OrderOptions = OrderOptions(),
    symbol_rules: np.ndarray | None = None,
) -> PortfolioOrderOutput:
    """Fill ``orders`` (``symbol``: each one's column) on ``prices`` = (open, high, low, close).

    ``day`` is each bar's UTC day number (daily-loss gate). Stops are not read
    (a portfolio refuses them upstream); gates, ruin, direction, maker fees and
    exchange rules apply as for one symbol, each symbol under its own tick, lot and
    minimum value: ``symbol_rules`` ``(3, k)``, NaN: off (None: the tick, lot and
    minimum of ``rules`` for every symbol).
    """
    from sparkbt.engine.portfolio_order_loop import run_portfolio_orders

    arrays = tuple(np.ascontiguousarray(a, dtype=np.float64) for a in prices)
    close = arrays[3]
    if close.ndim != 2:
        raise InputError("portfolio prices must be (bars, symbols)")
    n, k = close.shape
    sym = np.ascontiguousarray(symbol, dtype=np.int64)
    if len(sym) != len(orders.bar) or (len(sym) and (sym.min() < 0 or sym.max() >= k)):
        raise InputError("every order needs the column of one of the symbols")
    steps = per_symbol(symbol_rules, (rules.tick_size, rules.lot_size, rules.min_notional), k)
    ob = order_book(orders, n, rules._replace(tick_size=np.nan, lot_size=np.nan))
    to_steps(ob, steps[0][sym], steps[1][sym])
    ob["expire"] = _first_candles(ob, orders.tif, sym, ~np.isnan(close))
    res = order_results(ob)
    args = (*arrays, np.ascontiguousarray(day, dtype=np.int64), ob, sym)
    m = len(ob)
    capacity = np.array([3 * m + 4 * k + 4, m + 2 * k + 2, 3 * m + 6])
    for _ in range(2):  # rows past a capacity are counted: a second run has the exact counts
        done = res.copy()
        eq, cash, units, f, t, lk, used = run_portfolio_orders(
            *args, done, options.plain(), KernelRules.of(options, rules), steps, capacity
        )
        if not (used > capacity).any():
            break
        capacity = np.maximum(used, capacity)
    nf, nt, nl = (int(u) for u in used)
    fills = np.zeros(nf, dtype=ORDER_FILL_DTYPE)
    for c, name in enumerate(ORDER_FILL_DTYPE.names or ()):
        fills[name] = f[:nf, c]
    trades = records(t[:nt], TRADE_DTYPE)
    trades = trades[np.lexsort((trades["entry_bar"], trades["col"]))]
    rejected = (done["status"] == STATUS_REJECTED) & (done["reason"] == OR_NO_CASH)
    return PortfolioOrderOutput(
        eq,
        cash,
        units,
        fills,
        trades,
        records(lk[:nl], LOCK_DTYPE),
        done,
        int(np.count_nonzero(rejected)),
        float(np.sum(fills["units"] * fills["price"])),
    )
