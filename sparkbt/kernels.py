"""Simulation kernels: numpy arrays in, numpy arrays out (shared SEMANTICS.md).

Every kernel works on many columns at once: ``close`` is ``(n,)`` and targets
are ``(n, m)``, one column per strategy variant, so a single backtest is the
``m == 1`` case and a parameter sweep is a wide matrix. Nothing of sparkbt is
imported here.

Two paths:

* :func:`simulate_discrete` for targets in {-1, 0, +1} (all-in / flat). Every
  round trip multiplies the cash by a factor that only depends on its entry and
  exit prices, so cash is a running product over the (sparse) orders, and
  equity between two orders is ``a + b * close``: the bars cost a change
  detection, one ``np.repeat`` per quantity and a multiply-add. No per-bar loop.
* :func:`simulate_fractional` for targets anywhere in [-1, 1]. An order's size
  depends on equity at that bar, so it walks the *orders* (not the bars) of a
  column; equity between orders is again one array pass.

Fills and trades are numpy structured arrays (they map straight to Arrow).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

__all__ = [
    "FILL_DTYPE",
    "TRADE_DTYPE",
    "OrderBook",
    "SimOutput",
    "is_discrete",
    "order_book",
    "prepare_targets",
    "simulate",
    "simulate_discrete",
    "simulate_fractional",
]

LONG, SHORT, BOTH = 0, 1, 2

FILL_DTYPE = np.dtype(
    [
        ("col", np.int64),
        ("bar", np.int64),
        ("side", np.int8),  # +1 buy, -1 sell
        ("units", np.float64),
        ("price", np.float64),
        ("fee", np.float64),
    ]
)

TRADE_DTYPE = np.dtype(
    [
        ("col", np.int64),
        ("side", np.int8),  # +1 long, -1 short
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),  # last bar for an open trade
        ("units", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),  # last close for an open trade
        ("entry_fee", np.float64),
        ("exit_fee", np.float64),
        ("pnl", np.float64),
        ("ret", np.float64),
        ("is_open", np.bool_),
    ]
)


class SimOutput(NamedTuple):
    """Result of a kernel: per-bar arrays ``(n, m)`` and record arrays."""

    equity: np.ndarray  # portfolio value at each close
    units: np.ndarray  # signed units held after each bar
    fills: np.ndarray  # FILL_DTYPE, sorted by (col, bar, exit-before-entry)
    trades: np.ndarray  # TRADE_DTYPE, sorted by (col, entry_bar)


def prepare_targets(raw: np.ndarray, direction: int) -> np.ndarray:
    """Forward-fill NaN ("no opinion", 0 before the first value) and clip by direction."""
    t = np.asarray(raw, dtype=np.float64)
    if t.ndim == 1:
        t = t[:, None]
    nan = np.isnan(t)
    if nan.any():
        n, m = t.shape
        idx = np.where(nan, 0, np.arange(n)[:, None])
        np.maximum.accumulate(idx, axis=0, out=idx)
        t = t[idx, np.arange(m)[None, :]]
        t[np.isnan(t)] = 0.0
    if direction == LONG:
        t = np.maximum(t, 0.0)
    elif direction == SHORT:
        t = np.minimum(t, 0.0)
    else:
        t = t.copy()
    t += 0.0  # no negative zeros: -0.0 + 0.0 is +0.0, so -0.0 never looks like a short
    return t


def is_discrete(targets: np.ndarray) -> bool:
    """True when every target is -1, 0 or +1."""
    return bool(np.array_equal(targets, targets.astype(np.int8)))


def simulate(
    close: np.ndarray, targets: np.ndarray, cash: float, fees: float, slippage: float
) -> SimOutput:
    """Run prepared targets through the fastest exact kernel for them."""
    if is_discrete(targets):
        return simulate_discrete(close, targets, cash, fees, slippage)
    return simulate_fractional(close, targets, cash, fees, slippage)


# --------------------------------------------------------------------------- all-in path
class OrderBook(NamedTuple):
    """The orders of all-in targets, sorted by (column, bar), and what follows from them.

    Between two orders a column's equity is ``a + b * close`` and its units are
    ``u``: constants of the segment that the order starts. ``a``/``b``/``u`` hold
    one leading flat segment per column, then one entry per order; ``lengths`` is
    the number of bars of each segment, so the segments tile the bars column by
    column and one ``np.repeat`` expands them.
    """

    cols: np.ndarray
    bars: np.ndarray
    side: np.ndarray  # side after the order: -1, 0, +1
    cap: np.ndarray  # cash after the order (committed to the trade it opens, if any)
    a: np.ndarray
    b: np.ndarray
    u: np.ndarray
    lengths: np.ndarray  # bars in each segment, column-major

    def per_bar(self, values: np.ndarray) -> np.ndarray:
        """Expand per-segment ``values`` (a, b or u) to ``(n, m)``, each column contiguous."""
        m = len(self.lengths) - len(self.cols)
        return np.repeat(values, self.lengths).reshape(m, -1).T


def order_book(
    close: np.ndarray, pos: np.ndarray, cash: float, fees: float, slippage: float
) -> OrderBook:
    """Orders, cash and per-segment equity coefficients of targets in {-1, 0, +1}.

    A round trip multiplies cash by a factor affine in ``q = exit close / entry
    close``; cash is its running product. A position held from an order on is
    marked as ``cash * (alpha + beta * q)``. Only the sparse orders are computed
    one by one (as arrays); the bars get one ``np.repeat`` per quantity. Works on
    either memory layout; column-contiguous (``rows.T``) suits many columns best.
    """
    n, m = pos.shape
    side = pos.astype(np.int8)
    change = np.empty_like(side, dtype=bool)
    np.not_equal(side[0], 0, out=change[0])
    np.not_equal(side[1:], side[:-1], out=change[1:])
    if m == 1:
        bars = np.flatnonzero(change)
        cols = np.zeros(len(bars), dtype=np.int64)
    else:
        cols, bars = np.nonzero(change.T)  # sorted by column, then bar
    new = side[bars, cols]
    first = np.ones(len(cols), dtype=bool)
    first[1:] = cols[1:] != cols[:-1]
    old = np.zeros(len(cols), dtype=np.int8)
    old[1:] = new[:-1]
    old[first] = 0
    prev_bar = np.zeros(len(cols), dtype=np.int64)
    prev_bar[1:] = bars[:-1]
    buy, sell = 1.0 + slippage, 1.0 - slippage
    lo, hi = 1.0 - fees, 1.0 + fees
    # tables indexed by side + 1 (short, flat, long)
    exit_a = np.array([1.0 + lo / hi, 1.0, 0.0])
    exit_b = np.array([-buy / sell, 0.0, sell * lo / (buy * hi)])
    mark_a = np.array([1.0 + lo / hi, 1.0, 0.0])
    mark_b = np.array([-1.0 / (sell * hi), 0.0, 1.0 / (buy * hi)])
    per_unit = np.array([-1.0 / (sell * hi), 0.0, 1.0 / (buy * hi)])
    g = exit_a[old + 1] + exit_b[old + 1] * (close[bars] / close[prev_bar])
    cap = np.empty(len(cols))
    if m == 1:
        np.cumprod(g, out=cap)
    else:
        bounds = np.append(np.flatnonzero(first), len(cols))
        for lo_k, hi_k in itertools.pairwise(bounds):
            np.cumprod(g[lo_k:hi_k], out=cap[lo_k:hi_k])
    cap *= cash
    entry_close = close[bars]
    k = new + 1
    # one leading flat segment per column, then one segment per order
    counts = np.bincount(cols, minlength=m)
    start = np.zeros(m, dtype=np.int64)
    start[1:] = np.cumsum(counts + 1)[:-1]
    slot = np.arange(len(cols)) + cols + 1
    size = len(cols) + m
    a = np.full(size, float(cash))
    b = np.zeros(size)
    u = np.zeros(size)
    a[slot] = cap * mark_a[k]
    b[slot] = cap * mark_b[k] / entry_close
    u[slot] = cap * per_unit[k] / entry_close
    # segment starts, as flat column-major bar indices: column starts and orders
    flat = np.empty(size, dtype=np.int64)
    flat[start] = np.arange(m) * n
    flat[slot] = cols * n + bars
    lengths = np.diff(np.append(flat, m * n))
    return OrderBook(cols, bars, new, cap, a, b, u, lengths)


def _equity(close: np.ndarray, book: OrderBook) -> np.ndarray:
    equity = book.per_bar(book.b)
    equity *= close[:, None]
    equity += book.per_bar(book.a)
    return equity


def simulate_discrete(
    close: np.ndarray, targets: np.ndarray, cash: float, fees: float, slippage: float
) -> SimOutput:
    """Exact simulation of targets in {-1, 0, +1} in whole-array passes."""
    pos = np.asarray(targets, dtype=np.float64)
    book = order_book(close, pos, cash, fees, slippage)
    trades = _discrete_trades(close, book, fees, slippage)
    return SimOutput(_equity(close, book), book.per_bar(book.u), _fills_from_trades(trades), trades)


def _discrete_trades(
    close: np.ndarray, book: OrderBook, fees: float, slippage: float
) -> np.ndarray:
    """One record per round trip: it opens at an order to ±1 and closes at the next order."""
    n = len(close)
    ek = np.flatnonzero(book.side != 0)
    out = np.zeros(len(ek), dtype=TRADE_DTYPE)
    if len(ek) == 0:
        return out
    nxt = np.minimum(ek + 1, len(book.cols) - 1)
    closed = (ek + 1 < len(book.cols)) & (book.cols[nxt] == book.cols[ek])
    side = book.side[ek]
    is_long = side > 0
    eb = book.bars[ek]
    pe = np.where(is_long, close[eb] * (1.0 + slippage), close[eb] * (1.0 - slippage))
    units = book.cap[ek] / (pe * (1.0 + fees))
    xbar = np.where(closed, book.bars[nxt], n - 1)
    px_fill = np.where(is_long, close[xbar] * (1.0 - slippage), close[xbar] * (1.0 + slippage))
    px = np.where(closed, px_fill, close[n - 1])
    entry_fee = units * pe * fees
    exit_fee = np.where(closed, units * px * fees, 0.0)
    gross = np.where(is_long, units * px - units * pe, units * pe - units * px)
    pnl = gross - entry_fee - exit_fee
    out["col"] = book.cols[ek]
    out["side"] = side
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
    return out


def _fills_from_trades(trades: np.ndarray) -> np.ndarray:
    """Entry and exit fills of all-in round trips, in (column, bar) order.

    Trades are sorted by (column, entry bar) and each exits at or before the
    next one's entry, so entry, exit, entry, exit... is already in order, with
    a reversal's exit before its entry on the same bar. Open trades have no exit.
    """
    k = len(trades)
    both = np.zeros(2 * k, dtype=FILL_DTYPE)
    entry, exit_ = both[0::2], both[1::2]
    entry["col"] = exit_["col"] = trades["col"]
    entry["bar"], exit_["bar"] = trades["entry_bar"], trades["exit_bar"]
    entry["side"], exit_["side"] = trades["side"], -trades["side"]
    entry["units"] = exit_["units"] = trades["units"]
    entry["price"], exit_["price"] = trades["entry_price"], trades["exit_price"]
    entry["fee"], exit_["fee"] = trades["entry_fee"], trades["exit_fee"]
    keep = np.ones(2 * k, dtype=bool)
    keep[1::2] = ~trades["is_open"]
    return both[keep]


# --------------------------------------------------------------------------- fractional path
def simulate_fractional(
    close: np.ndarray, targets: np.ndarray, cash: float, fees: float, slippage: float
) -> SimOutput:
    """Exact simulation of fractional targets: one step per order, arrays between orders.

    Sizing (SEMANTICS.md): opening from flat commits ``|x|`` of equity; raising
    ``|x|`` to ``|y|`` on the same side commits ``(|y|-|x|)/(1-|x|)`` of the equity not
    yet committed (so reaching 1 is "all in"); lowering it sells ``1-|y|/|x|`` of the
    units; a sign change closes first, then opens from flat.
    """
    pos = np.asarray(targets, dtype=np.float64)
    n, m = pos.shape
    prev = np.zeros_like(pos)
    prev[1:] = pos[:-1]
    buy, sell = 1.0 + slippage, 1.0 - slippage
    equity = np.empty((n, m))
    units_out = np.empty((n, m))
    fills_all: list[tuple] = []
    trades_all: list[tuple] = []
    for col in range(m):
        orders = np.flatnonzero(pos[:, col] != prev[:, col])
        c, u = float(cash), 0.0
        cash_after = np.empty(len(orders))
        units_after = np.empty(len(orders))
        trade: list | None = (
            None  # [side, entry_bar, in_units, in_value, in_fee, out_units, out_value, out_fee]
        )
        for k, t in enumerate(orders):
            x_old, x_new, cl = prev[t, col], pos[t, col], close[t]
            if x_old != 0.0 and (x_new == 0.0 or np.sign(x_new) != np.sign(x_old)):
                c, u = _fill_out(c, u, abs(u), cl, buy, sell, fees, t, col, fills_all, trade)
                trades_all.append(_close_trade(trade, t, col, False))
                trade, x_old = None, 0.0
            if x_new != 0.0 and abs(x_new) > abs(x_old):
                free = c + u * cl - abs(u) * cl
                commit = max(free, 0.0) * (abs(x_new) - abs(x_old)) / (1.0 - abs(x_old))
                if trade is None:
                    trade = [1 if x_new > 0 else -1, t, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
                if x_new > 0:
                    px = cl * buy
                    du = commit / (px * (1.0 + fees))
                    c -= du * px + du * px * fees
                    u += du
                    fills_all.append((col, t, 1, du, px, du * px * fees))
                else:
                    px = cl * sell
                    du = commit / (px * (1.0 + fees))
                    c += du * px - du * px * fees
                    u -= du
                    fills_all.append((col, t, -1, du, px, du * px * fees))
                trade[2] += du
                trade[3] += du * px
                trade[4] += du * px * fees
            elif x_new != 0.0 and abs(x_new) < abs(x_old):
                qty = abs(u) * (1.0 - abs(x_new) / abs(x_old))
                c, u = _fill_out(c, u, qty, cl, buy, sell, fees, t, col, fills_all, trade)
            cash_after[k], units_after[k] = c, u
        if trade is not None:
            trades_all.append(_close_trade(trade, n - 1, col, True, close[n - 1], u))
        last = np.searchsorted(orders, np.arange(n), side="right") - 1
        has = last >= 0
        cb = np.where(has, cash_after[np.maximum(last, 0)] if len(orders) else cash, cash)
        ub = np.where(has, units_after[np.maximum(last, 0)] if len(orders) else 0.0, 0.0)
        equity[:, col] = cb + ub * close
        units_out[:, col] = ub
    # a target so small that its size underflows to zero units trades nothing
    fills = np.array([f for f in fills_all if f[3] > 0.0], dtype=FILL_DTYPE)
    trades = np.array([t for t in trades_all if t is not None], dtype=TRADE_DTYPE)
    return SimOutput(equity, units_out, fills, trades)


def _fill_out(c, u, qty, cl, buy, sell, fees, t, col, fills, trade):
    """Reduce the position by ``qty`` units at this bar's close (sell a long, buy back a short)."""
    if u > 0:
        px = cl * sell
        c += qty * px - qty * px * fees
        u -= qty
        fills.append((col, t, -1, qty, px, qty * px * fees))
    else:
        px = cl * buy
        c -= qty * px + qty * px * fees
        u += qty
        fills.append((col, t, 1, qty, px, qty * px * fees))
    if abs(u) < 1e-12 * max(qty, 1e-300):
        u = 0.0
    trade[5] += qty
    trade[6] += qty * px
    trade[7] += qty * px * fees
    return c, u


def _close_trade(trade, bar, col, is_open, last_close=0.0, left=0.0):
    side, entry_bar, in_u, in_v, in_fee, out_u, out_v, out_fee = trade
    if in_u == 0.0:
        return None  # opened with zero units (size underflow): not a trade
    if is_open:  # the rest of the position is valued at the last close, no exit fee
        out_v += abs(left) * last_close
        out_u += abs(left)
    entry_price = in_v / in_u
    exit_price = out_v / out_u if out_u else last_close
    gross = (out_v - in_v) if side > 0 else (in_v - out_v)
    pnl = gross - in_fee - out_fee
    return (
        col,
        side,
        entry_bar,
        bar,
        in_u,
        entry_price,
        exit_price,
        in_fee,
        out_fee,
        pnl,
        pnl / in_v,
        is_open,
    )
