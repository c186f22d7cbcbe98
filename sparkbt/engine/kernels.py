"""Simulation kernels: numpy arrays in, numpy arrays out (docs/semantics.md).

Every kernel works on many columns at once: prices are ``(n,)`` and targets
are ``(n, m)``, one column per strategy variant, so a single backtest is the
``m == 1`` case and a parameter sweep is a wide matrix. Nothing of sparkbt is
imported here but the record schema (:mod:`sparkbt.engine.codes`).

Two paths, equal wherever both apply (``tests/engine/test_kernels.py``):

* :func:`simulate_discrete`, the closed form, for targets in {-1, 0, +1} filled
  at the close with no stop and no gate. Every round trip multiplies the cash
  by a factor that only depends on its entry and exit prices, so cash is a
  running product over the (sparse) orders, and equity between two orders is
  ``a + b * close``: the bars cost a change detection, one ``np.repeat`` per
  quantity and a multiply-add. No per-bar loop. A column whose equity reaches
  zero (ruin) is simulated again by the loop kernel, which stops trading there.
* :func:`sparkbt.engine.loop.run_loop`, a compiled per-bar state machine, for
  everything path-dependent: fractional sizing, next-open fills, stops,
  trailing stops, risk gates and ruin. numba is imported only for this path.

Fills, trades and locks are numpy structured arrays (they map straight to Arrow).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import numpy as np

from sparkbt.engine.codes import (
    FILL_DTYPE,
    LOCK_DTYPE,
    LONG,
    REASON_OPEN,
    REASON_SIGNAL,
    SHORT,
    TRADE_DTYPE,
    records,
)

__all__ = [
    "Market",
    "OrderBook",
    "SimOptions",
    "SimOutput",
    "is_discrete",
    "order_book",
    "prepare_targets",
    "simulate",
    "simulate_discrete",
    "simulate_loop",
]

_NO_LOCKS = np.zeros(0, dtype=LOCK_DTYPE)


class SimOutput(NamedTuple):
    """Result of a kernel: per-bar arrays ``(n, m)`` and record arrays."""

    equity: np.ndarray  # portfolio value at each close
    units: np.ndarray  # signed units held after each bar
    fills: np.ndarray  # FILL_DTYPE, sorted by (col, bar, exit-before-entry)
    trades: np.ndarray  # TRADE_DTYPE, sorted by (col, entry_bar)
    locks: np.ndarray = _NO_LOCKS  # LOCK_DTYPE, sorted by (col, first_bar)
    rejected: np.ndarray | None = None  # (m,) int64 fills refused by exchange rules; None: none


class Market(NamedTuple):
    """The price arrays a kernel reads, ``(n,)`` each, and each bar's UTC day number."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    day: np.ndarray  # int64: timestamp // 1 day, for the daily-loss gate

    @classmethod
    def from_close(cls, close: np.ndarray, day: np.ndarray | None = None) -> Market:
        """Bars with open = high = low = close (enough for fill-at-close without stops)."""
        c = np.asarray(close, dtype=np.float64)
        d = np.zeros(len(c), dtype=np.int64) if day is None else np.asarray(day, np.int64)
        return cls(c, c, c, c, d)


class SimOptions(NamedTuple):
    """Engine options as the kernels take them: NaN / 0 / -1 mean "off"."""

    cash: float = 10_000.0
    fees: float = 0.0
    slippage: float = 0.0
    next_open: bool = False
    sl_stop: float = float("nan")
    tp_stop: float = float("nan")
    sl_trail: bool = False
    max_drawdown: float = float("nan")
    daily_loss: float = float("nan")
    loss_streak: int = 0  # 0: off
    cooldown: int = -1  # -1: unset (a drawdown or streak lock lasts the rest of the run)
    lot_size: float = float("nan")  # exchange quantity step: fills truncate down to it
    min_notional: float = float("nan")  # exchange minimum value: a smaller fill is refused

    def plain(self) -> SimOptions:
        """The same options as plain Python floats, bools and ints (one compiled kernel type)."""
        return SimOptions(
            float(self.cash),
            float(self.fees),
            float(self.slippage),
            bool(self.next_open),
            float(self.sl_stop),
            float(self.tp_stop),
            bool(self.sl_trail),
            float(self.max_drawdown),
            float(self.daily_loss),
            int(self.loss_streak),
            int(self.cooldown),
            float(self.lot_size),
            float(self.min_notional),
        )

    @property
    def exchange_rules(self) -> bool:
        """True when a lot step or a minimum value sizes the fills."""
        return not (np.isnan(self.lot_size) and np.isnan(self.min_notional))

    @property
    def path_free(self) -> bool:
        """True when nothing but the targets decides the orders: fill at close, no stop, gate
        or exchange rule (the closed form knows none of them)."""
        return (
            not self.next_open
            and not self.exchange_rules
            and np.isnan(self.sl_stop)
            and np.isnan(self.tp_stop)
            and np.isnan(self.max_drawdown)
            and np.isnan(self.daily_loss)
            and self.loss_streak == 0
            and self.cooldown < 1
        )


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
    market: Market,
    targets: np.ndarray,
    options: SimOptions,
    sl: np.ndarray | None = None,
    tp: np.ndarray | None = None,
    *,
    want_fills: bool = True,
) -> SimOutput:
    """Run prepared targets ``(n, m)`` through the fastest exact kernel for them.

    ``sl``/``tp`` are per-bar stop fractions ``(n, m)`` (NaN: the option applies).
    ``want_fills=False`` skips the fill records (sweeps only need trades).
    """
    if sl is None and tp is None and options.path_free and is_discrete(targets):
        out = simulate_discrete(market.close, targets, options.cash, options.fees, options.slippage)
        ruined = np.flatnonzero(np.min(out.equity, axis=0) <= 0.0)
        if len(ruined):  # the closed form knows no ruin: those columns go through the loop
            out = _replace_columns(out, ruined, simulate_loop(market, targets[:, ruined], options))
        return out
    return simulate_loop(market, targets, options, sl, tp, want_fills=want_fills)


def _replace_columns(base: SimOutput, cols: np.ndarray, sub: SimOutput) -> SimOutput:
    """``base`` with columns ``cols`` taken from ``sub`` (whose columns are 0..len(cols)-1)."""
    equity, units = base.equity.copy(), base.units.copy()
    equity[:, cols] = sub.equity
    units[:, cols] = sub.units

    def merge(old: np.ndarray, new: np.ndarray) -> np.ndarray:
        new = new.copy()
        new["col"] = cols[new["col"]]
        both = np.concatenate([old[~np.isin(old["col"], cols)], new])
        return both[np.argsort(both["col"], kind="stable")]

    return SimOutput(
        equity,
        units,
        merge(base.fills, sub.fills),
        merge(base.trades, sub.trades),
        merge(base.locks, sub.locks),
    )


def simulate_loop(
    market: Market,
    targets: np.ndarray,
    options: SimOptions,
    sl: np.ndarray | None = None,
    tp: np.ndarray | None = None,
    *,
    want_fills: bool = True,
) -> SimOutput:
    """The compiled per-bar kernel (:mod:`sparkbt.engine.loop`) on prepared targets ``(n, m)``."""
    from sparkbt.engine.loop import run_loop

    rows = np.ascontiguousarray(np.asarray(targets, dtype=np.float64).T)
    none = np.zeros((0, 0))
    args = (
        *(np.ascontiguousarray(a, dtype=np.float64) for a in market[:4]),
        np.ascontiguousarray(market.day, dtype=np.int64),
        rows,
        none if sl is None else np.ascontiguousarray(np.asarray(sl, dtype=np.float64).T),
        none if tp is None else np.ascontiguousarray(np.asarray(tp, dtype=np.float64).T),
        options.plain(),
        bool(want_fills),
    )
    # Every entry needs a target change (a new edge after a stop or a lock), so a
    # column makes at most ``changes + 1`` trades, each with at most a few fills and
    # locks; a wrong guess only costs a second run with the exact counts.
    m = rows.shape[0]
    changes = int(np.count_nonzero(rows[:, 1:] != rows[:, :-1])) + int(np.count_nonzero(rows[:, 0]))
    trades_cap = changes + m
    capacity = np.array([4 * trades_cap if want_fills else 0, trades_cap, 3 * trades_cap])
    eq, units, f, t, lk, rejected, used = run_loop(*args, capacity)
    if (used > capacity).any():
        eq, units, f, t, lk, rejected, used = run_loop(*args, np.maximum(used, capacity))
    nf, nt, nl = (int(x) for x in used)
    return SimOutput(
        eq.T,
        units.T,
        records(f[:nf], FILL_DTYPE),
        records(t[:nt], TRADE_DTYPE),
        records(lk[:nl], LOCK_DTYPE),
        rejected if options.exchange_rules else None,
    )


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
    # A trade opened with cash C at entry close e, all in (units = C / (e * buy * hi) for a
    # long, C / (e * sell * hi) for a short), valued at a later close x, with q = x / e:
    #   long:  no cash is left aside
    #          marked value = units * x                = C * q / (buy * hi)
    #          exit value   = units * x * sell * lo    = C * q * sell * lo / (buy * hi)
    #   short: cash after the entry = C * (1 + lo / hi) (proceeds less the fee, collateral)
    #          marked value = that cash - units * x    = C * (1 + lo/hi - q / (sell * hi))
    #          exit value   = that cash - units * x * buy * hi
    #                                                  = C * (1 + lo/hi - q * buy / sell)
    #   flat:  the cash itself, C.
    # So both the marked and the exit value are C * (rest + slope * q): ``rest`` (the cash the
    # trade leaves aside) is the same for both, the slopes differ by the exit's slippage and fee.
    # Tables indexed by side + 1 (short, flat, long):
    rest = np.array([1.0 + lo / hi, 1.0, 0.0])
    exit_slope = np.array([-buy / sell, 0.0, sell * lo / (buy * hi)])
    mark_slope = np.array([-1.0 / (sell * hi), 0.0, 1.0 / (buy * hi)])
    per_unit = mark_slope  # units per unit of C / e: the marked value's slope, signed
    # each order ends the previous segment's trade: cash is multiplied by its exit factor
    g = rest[old + 1] + exit_slope[old + 1] * (close[bars] / close[prev_bar])
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
    a[slot] = cap * rest[k]
    b[slot] = cap * mark_slope[k] / entry_close
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
    out["exit_reason"] = np.where(closed, REASON_SIGNAL, REASON_OPEN)
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
