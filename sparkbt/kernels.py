"""Simulation kernels: numpy arrays in, numpy arrays out (shared SEMANTICS.md).

Every kernel works on many columns at once: ``close`` is ``(n,)`` and targets
are ``(n, m)``, one column per strategy variant, so a single backtest is the
``m == 1`` case and a parameter sweep is a wide matrix. Nothing of sparkbt is
imported here.

Two paths:

* :func:`simulate_discrete` for targets in {-1, 0, +1} (all-in / flat). Every
  round trip multiplies the cash by a factor that only depends on its entry and
  exit prices, so cash is one ``cumprod`` and equity one multiply: a handful of
  whole-array passes, no per-bar loop.
* :func:`simulate_fractional` for targets anywhere in [-1, 1]. An order's size
  depends on equity at that bar, so it walks the *orders* (not the bars) of a
  column; equity between orders is again one array pass.

Fills and trades are numpy structured arrays (they map straight to Arrow).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "FILL_DTYPE",
    "TRADE_DTYPE",
    "SimOutput",
    "is_discrete",
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
    else:
        t = t.copy()
    if direction == LONG:
        np.maximum(t, 0.0, out=t)
    elif direction == SHORT:
        np.minimum(t, 0.0, out=t)
    t[t == 0.0] = 0.0  # no negative zeros: -0.0 must not look like a short
    return t


def is_discrete(targets: np.ndarray) -> bool:
    """True when every target is -1, 0 or +1."""
    return bool(np.all((targets == 0.0) | (np.abs(targets) == 1.0)))


def simulate(
    close: np.ndarray, targets: np.ndarray, cash: float, fees: float, slippage: float
) -> SimOutput:
    """Run prepared targets through the fastest exact kernel for them."""
    if is_discrete(targets):
        return simulate_discrete(close, targets, cash, fees, slippage)
    return simulate_fractional(close, targets, cash, fees, slippage)


# --------------------------------------------------------------------------- all-in path
def _entry_index(pos: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """For every bar, the bar at which the position held there was opened (0 if flat)."""
    n = pos.shape[0]
    entry = (pos != prev) & (pos != 0)
    idx = np.where(entry, np.arange(n)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return idx


def discrete_equity(
    close: np.ndarray, pos: np.ndarray, cash: float, fees: float, slippage: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Equity ``(n, m)`` for all-in targets, plus cash-at-entry and entry-bar arrays.

    Cash after each closed round trip is ``cash * prod(g)`` with per-trade factor
    ``g``; within a trade equity is that cash times a mark-to-close factor. Both
    are affine in ``q = close / entry close``: for a long, mark ``q / (b(1+f))``;
    for a short, ``1 + (1-f)/(1+f) - q / (s(1+f))`` (``b``, ``s``: slippage-adjusted
    buy and sell multipliers), so each is one gather and one multiply-add.
    """
    n, m = pos.shape
    side = np.sign(pos).astype(np.int8)  # -1, 0, +1
    prev = np.zeros_like(side)
    prev[1:] = side[:-1]
    eidx = _entry_index(side, prev)
    ce = close[eidx]  # entry close of the trade held at each bar
    buy, sell = 1.0 + slippage, 1.0 - slippage
    lo, hi = 1.0 - fees, 1.0 + fees
    # tables indexed by side + 1 (short, flat, long)
    mark_a = np.array([1.0 + lo / hi, 1.0, 0.0])
    mark_b = np.array([-1.0 / (sell * hi), 0.0, 1.0 / (buy * hi)])
    exit_a = np.array([1.0 + lo / hi, 1.0, 0.0])
    exit_b = np.array([-buy / sell, 0.0, sell * lo / (buy * hi)])
    # per-trade growth factor booked at the bar where the trade closes
    exits = (side != prev) & (prev != 0)
    g = np.ones((n, m))
    if exits.any():
        r, c = np.nonzero(exits)
        k = prev[r, c] + 1
        g[r, c] = exit_a[k] + exit_b[k] * (close[r] / ce[r - 1, c])
    cap = np.cumprod(g, axis=0)
    cap *= cash  # cash at hand while flat; cash committed at entry while in a trade
    k = side + 1
    q = close[:, None] / ce
    mark = np.take(mark_b, k)
    mark *= q
    mark += np.take(mark_a, k)
    mark *= cap
    return mark, cap, eidx


def simulate_discrete(
    close: np.ndarray, targets: np.ndarray, cash: float, fees: float, slippage: float
) -> SimOutput:
    """Exact simulation of targets in {-1, 0, +1} in whole-array passes."""
    pos = np.asarray(targets, dtype=np.float64)
    equity, cap, eidx = discrete_equity(close, pos, cash, fees, slippage)
    per_unit = np.array(
        [-1.0 / ((1.0 - slippage) * (1.0 + fees)), 0.0, 1.0 / ((1.0 + slippage) * (1.0 + fees))]
    )
    units = np.take(per_unit, np.sign(pos).astype(np.int8) + 1)
    units *= cap
    units /= close[eidx]
    trades = _discrete_trades(close, pos, cap, fees, slippage)
    fills = _fills_from_trades(trades)
    return SimOutput(equity, units, fills, trades)


def _discrete_trades(
    close: np.ndarray, pos: np.ndarray, cap: np.ndarray, fees: float, slippage: float
) -> np.ndarray:
    n, _m = pos.shape
    prev = np.zeros_like(pos)
    prev[1:] = pos[:-1]
    change = pos != prev
    # column-major so records come out sorted by (col, bar)
    ec, eb = np.nonzero((change & (pos != 0)).T)
    xc, xb = np.nonzero((change & (prev != 0)).T)
    out = np.zeros(len(eb), dtype=TRADE_DTYPE)
    if len(eb) == 0:
        return out
    # the k-th exit of a column closes its k-th entry
    key_e = ec * (n + 1) + eb
    key_x = xc * (n + 1) + xb
    j = np.searchsorted(key_x, key_e, side="right")
    closed = j < len(key_x)
    closed[closed] = xc[j[closed]] == ec[closed]
    side = np.sign(pos[eb, ec]).astype(np.int8)
    is_long = side > 0
    cap_e = cap[eb, ec]
    pe = np.where(is_long, close[eb] * (1.0 + slippage), close[eb] * (1.0 - slippage))
    units = cap_e / (pe * (1.0 + fees))
    xbar = np.where(closed, xb[np.minimum(j, len(xb) - 1)] if len(xb) else n - 1, n - 1)
    px_fill = np.where(is_long, close[xbar] * (1.0 - slippage), close[xbar] * (1.0 + slippage))
    px = np.where(closed, px_fill, close[n - 1])
    entry_fee = units * pe * fees
    exit_fee = np.where(closed, units * px * fees, 0.0)
    gross = np.where(is_long, units * px - units * pe, units * pe - units * px)
    pnl = gross - entry_fee - exit_fee
    out["col"] = ec
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
    """Entry and exit fills of all-in round trips, exits before entries on a bar."""
    closed = trades[~trades["is_open"]]
    fills = np.zeros(len(trades) + len(closed), dtype=FILL_DTYPE)
    k = len(trades)
    fills["col"][:k] = trades["col"]
    fills["bar"][:k] = trades["entry_bar"]
    fills["side"][:k] = trades["side"]
    fills["units"][:k] = trades["units"]
    fills["price"][:k] = trades["entry_price"]
    fills["fee"][:k] = trades["entry_fee"]
    fills["col"][k:] = closed["col"]
    fills["bar"][k:] = closed["exit_bar"]
    fills["side"][k:] = -closed["side"]
    fills["units"][k:] = closed["units"]
    fills["price"][k:] = closed["exit_price"]
    fills["fee"][k:] = closed["exit_fee"]
    is_exit = np.zeros(len(fills), dtype=np.int8)
    is_exit[k:] = 1
    order = np.lexsort((-is_exit, fills["bar"], fills["col"]))
    return fills[order]


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
    fills = np.array(fills_all, dtype=FILL_DTYPE) if fills_all else np.zeros(0, FILL_DTYPE)
    trades = np.array(trades_all, dtype=TRADE_DTYPE) if trades_all else np.zeros(0, TRADE_DTYPE)
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
