"""The path-dependent kernel: one compiled per-bar state machine per column.

Stops, trailing stops, next-open fills, risk gates, ruin and fractional sizing
all depend on what happened on earlier bars, so they cannot be closed forms.
This kernel walks the bars of each column once, compiled by numba (cached on
disk, so a process pays the compilation once per install). Arrays in, float
record matrices out; :mod:`sparkbt.engine.kernels` turns them into structured arrays.
Nothing of sparkbt is imported here, and this module is imported only when a
run needs it: plain all-in runs never load numba.

The order of events on bar ``t`` (docs/semantics.md):

a. ``next_open``: the order made on bar ``t-1`` fills at ``open[t]``;
b. stops of a position opened before ``t``: open gap, stop-loss, take-profit;
c. the signal order of bar ``t`` (fills at ``close[t]``, or waits for ``open[t+1]``);
d. mark equity at ``close[t]``;
e. ruin: equity <= 0 closes the position and ends trading;
f. gates: max drawdown and daily loss close the position and lock entries;
g. the bar's equity and units are recorded.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit as _njit

# SPARKBT_BOUNDSCHECK=1 compiles with index checks (the test suite does): an
# out-of-range index then raises IndexError instead of touching foreign memory.
_CHECKED = os.environ.get("SPARKBT_BOUNDSCHECK") == "1"


def njit(**options):
    """numba's ``njit`` with sparkbt's defaults: cached on disk, GIL released, checks if asked."""
    return _njit(boundscheck=_CHECKED, **options)


__all__ = [
    "FILL_COLS",
    "GATE_COOLDOWN",
    "GATE_DAILY_LOSS",
    "GATE_LOSS_STREAK",
    "GATE_MAX_DRAWDOWN",
    "LOCK_COLS",
    "REASON_GATE",
    "REASON_OPEN",
    "REASON_RUIN",
    "REASON_SIGNAL",
    "REASON_STOP_LOSS",
    "REASON_TAKE_PROFIT",
    "REASON_TRAILING_STOP",
    "TRADE_COLS",
    "run_loop",
]

# exit / fill reasons (codes of kernels.REASONS)
REASON_SIGNAL, REASON_STOP_LOSS, REASON_TRAILING_STOP, REASON_TAKE_PROFIT = 0, 1, 2, 3
REASON_GATE, REASON_RUIN, REASON_OPEN = 4, 5, 6
# gate codes (of kernels.GATES)
GATE_MAX_DRAWDOWN, GATE_DAILY_LOSS, GATE_LOSS_STREAK, GATE_COOLDOWN = 0, 1, 2, 3

# columns of the record matrices
FILL_COLS = ("col", "bar", "side", "units", "price", "fee", "reason")
TRADE_COLS = (
    "col",
    "side",
    "entry_bar",
    "exit_bar",
    "units",
    "entry_price",
    "exit_price",
    "entry_fee",
    "exit_fee",
    "pnl",
    "ret",
    "is_open",
    "exit_reason",
)
LOCK_COLS = ("col", "gate", "first_bar", "last_bar", "equity", "limit")


@njit(cache=True, nogil=True)
def _put_fill(fills, k, j, t, side, qty, px, fee, reason):
    """Row ``k`` of the fill matrix (not written past its capacity: the caller counts)."""
    if k >= fills.shape[0]:
        return
    fills[k, 0] = j
    fills[k, 1] = t
    fills[k, 2] = side
    fills[k, 3] = qty
    fills[k, 4] = px
    fills[k, 5] = fee
    fills[k, 6] = reason


@njit(cache=True, nogil=True)
def _put_trade(trades, k, j, side, entry_bar, exit_bar, entry, exit_, is_open, reason):
    """Row ``k`` of the trade matrix from its totals (if it has room); returns the trade's PnL.

    ``entry`` and ``exit_`` are ``(units, value, fees)`` of the opening and the
    closing fills. PnL = exit value - entry value - fees, sign flipped for shorts.
    """
    in_u, in_v, in_f = entry
    out_u, out_v, out_f = exit_
    gross = out_v - in_v if side > 0 else in_v - out_v
    pnl = gross - in_f - out_f
    if k >= trades.shape[0]:
        return pnl
    trades[k, 0] = j
    trades[k, 1] = side
    trades[k, 2] = entry_bar
    trades[k, 3] = exit_bar
    trades[k, 4] = in_u
    trades[k, 5] = in_v / in_u
    trades[k, 6] = out_v / out_u
    trades[k, 7] = in_f
    trades[k, 8] = out_f
    trades[k, 9] = pnl
    trades[k, 10] = pnl / in_v
    trades[k, 11] = 1.0 if is_open else 0.0
    trades[k, 12] = reason
    return pnl


@njit(cache=True, nogil=True)
def _put_lock(locks, k, j, gate, first, last, eq, limit):
    """Row ``k`` of the lock matrix: gate, first and last locked bar, equity, limit."""
    if k >= locks.shape[0]:
        return
    locks[k, 0] = j
    locks[k, 1] = gate
    locks[k, 2] = first
    locks[k, 3] = last
    locks[k, 4] = eq
    locks[k, 5] = limit


@njit(cache=True, nogil=True)
def _flatten(c, u, price, buy, sell, fees):
    """Close ``u`` units at ``price`` (slipped against us): cash, fill side, units, price, fee."""
    qty = abs(u)
    if u > 0:
        px = price * sell
        fee = qty * px * fees
        return c + qty * px - fee, -1.0, qty, px, fee
    px = price * buy
    fee = qty * px * fees
    return c - qty * px - fee, 1.0, qty, px, fee


@njit(cache=True, nogil=True)
def _stop_exit(side, o, hi, lo, trail_ref, ref, sl, tp, sl_reason):
    """Where a stop closes a trade on this bar: ``(price, reason)``, price NaN if none fires.

    Long: stop level ``trail_ref * (1 - sl)``, take-profit ``ref * (1 + tp)``
    (short mirrored). An open at or beyond a level fills at the open; otherwise
    the stop-loss is checked before the take-profit, so a bar that could have
    hit both is assumed to have hit the loss. NaN fractions never fire.
    """
    if side > 0:
        s_lvl = trail_ref * (1.0 - sl)
        p_lvl = ref * (1.0 + tp)
        if o <= s_lvl:
            return o, sl_reason
        if o >= p_lvl:
            return o, REASON_TAKE_PROFIT
        if lo <= s_lvl:
            return s_lvl, sl_reason
        if hi >= p_lvl:
            return p_lvl, REASON_TAKE_PROFIT
        return np.nan, REASON_SIGNAL
    s_lvl = trail_ref * (1.0 + sl)
    p_lvl = ref * (1.0 - tp)
    if o >= s_lvl:
        return o, sl_reason
    if o <= p_lvl:
        return o, REASON_TAKE_PROFIT
    if hi >= s_lvl:
        return s_lvl, sl_reason
    if lo <= p_lvl:
        return p_lvl, REASON_TAKE_PROFIT
    return np.nan, REASON_SIGNAL


@njit(cache=True, nogil=True)
def _exit_lock(pnl, t, n, streak, loss_streak, lock_len, cooldown):
    """Locks that start at a closing fill: ``(streak, gate, last bar, limit)``, gate -1 if none.

    The loss streak counts consecutive losing trades; reaching ``loss_streak``
    locks for ``lock_len`` bars. A cooldown of k bars locks the exit bar and the
    k bars after it, unless the streak lock already reaches further.
    """
    gate = -1
    last = -1
    limit = 0.0
    if loss_streak > 0:
        streak = streak + 1 if pnl < 0.0 else 0
        if streak >= loss_streak:
            streak = 0
            gate = GATE_LOSS_STREAK
            last = min(t + lock_len, n - 1)
            limit = float(loss_streak)
    if cooldown >= 1 and min(t + cooldown, n - 1) > last:
        gate = GATE_COOLDOWN
        last = min(t + cooldown, n - 1)
        limit = float(cooldown)
    return streak, gate, last, limit


@njit(cache=True, nogil=True)
def run_loop(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    rows: np.ndarray,
    day: np.ndarray,
    sl_rows: np.ndarray,
    tp_rows: np.ndarray,
    cash: float,
    fees: float,
    slippage: float,
    next_open: bool,
    sl_stop: float,
    tp_stop: float,
    sl_trail: bool,
    max_drawdown: float,
    daily_loss: float,
    loss_streak: int,
    cooldown: int,
    want_fills: bool,
    capacity: np.ndarray,
):
    """Simulate prepared target ``rows`` ``(m, n)`` (one row per column).

    ``sl_rows``/``tp_rows`` are per-bar stop fractions ``(m, n)`` (NaN = use the
    option) or empty ``(0, 0)``; ``sl_stop``/``tp_stop``/``max_drawdown``/
    ``daily_loss`` are NaN when off, ``loss_streak`` 0 when off, ``cooldown`` -1
    when unset. ``day`` holds each bar's UTC day number. ``capacity`` holds the
    rows to allocate for fills, trades and locks. Returns equity and units
    ``(m, n)``, the fill, trade and lock matrices (rows of ``*_COLS``) and the
    number of rows each needed: when a count exceeds its capacity, only the
    first rows were written and the run must be repeated with larger capacities.
    """
    m, n = rows.shape
    equity = np.empty((m, n))
    units_out = np.empty((m, n))
    # the record matrices are allocated once: rows past a capacity are counted, not
    # written, and the caller runs again with the counts as capacities
    fills = np.empty((capacity[0], 7))
    trades = np.empty((capacity[1], 13))
    locks = np.empty((capacity[2], 6))
    nf = 0
    nt = 0
    nl = 0
    buy = 1.0 + slippage
    sell = 1.0 - slippage
    per_bar_sl = sl_rows.shape[0] > 0
    per_bar_tp = tp_rows.shape[0] > 0
    lock_len = cooldown if cooldown >= 0 else n  # max_drawdown / loss_streak lock length
    for j in range(m):
        c = cash  # cash (short proceeds included)
        u = 0.0  # signed units held
        held = 0.0  # the target the position stands for
        wait_edge = False  # after a stop, gate or lock: enter only on a new signal edge
        prev_x = 0.0
        pend = False  # next_open: an order made on the previous bar
        pend_old = 0.0
        pend_x = 0.0
        pend_sl = np.nan
        pend_tp = np.nan
        # the open trade: side, fill bar, entry close, stop fractions, trailing reference
        in_trade = False
        tr_side = 0
        tr_bar = 0
        tr_ref = 0.0  # close of the bar on which the entry filled
        tr_trail = 0.0  # trailing reference: best extreme since the entry bar
        tr_sl = np.nan
        tr_tp = np.nan
        in_u = 0.0  # units bought (long) or sold short, their value and fees
        in_v = 0.0
        in_f = 0.0
        out_u = 0.0  # units closed, their value and fees
        out_v = 0.0
        out_f = 0.0
        locked_until = -1
        rearm = False  # re-arm the drawdown peak when the lock ends
        peak = -np.inf
        day_ref = cash
        streak = 0
        lock_from = nl  # lock rows of this bar still waiting for the marked equity
        ruined = False
        for t in range(n):
            x = rows[j, t]
            edge = x != prev_x
            prev_x = x
            if ruined:
                equity[j, t] = c
                units_out[j, t] = 0.0
                continue
            if t > 0 and day[t] != day[t - 1]:
                day_ref = equity[j, t - 1]
            lock_from = nl
            stopped = False
            # each pass of this loop is one order: (a) pending, (b) stop, (c) signal
            for phase in range(3):
                old = 0.0
                new = 0.0
                base = 0.0
                go = False
                exit_price = 0.0
                exit_reason = REASON_SIGNAL
                force_exit = False
                o_sl = np.nan
                o_tp = np.nan
                if phase == 0:
                    if pend:
                        pend = False
                        go = True
                        old = pend_old
                        new = pend_x
                        base = open_[t]
                        o_sl = pend_sl
                        o_tp = pend_tp
                elif phase == 1:
                    if in_trade and tr_bar < t:
                        o = open_[t]
                        hi = high[t]
                        lo = low[t]
                        sl_reason = REASON_TRAILING_STOP if sl_trail else REASON_STOP_LOSS
                        exit_price, exit_reason = _stop_exit(
                            tr_side, o, hi, lo, tr_trail, tr_ref, tr_sl, tr_tp, sl_reason
                        )
                        force_exit = exit_price == exit_price  # not NaN: a stop fired
                        if not force_exit and sl_trail:  # the bar's extreme moves later levels
                            tr_trail = max(tr_trail, hi) if tr_side > 0 else min(tr_trail, lo)
                        if force_exit:
                            stopped = True
                            go = True
                            old = held
                            held = 0.0
                            wait_edge = True
                else:
                    if not stopped:
                        if wait_edge:
                            if edge and x != 0.0:
                                go = True
                                old = 0.0
                                new = x
                        elif x != held:
                            go = True
                            old = held
                            new = x
                    if go:
                        o_sl = sl_stop
                        o_tp = tp_stop
                        if per_bar_sl and not np.isnan(sl_rows[j, t]):
                            o_sl = sl_rows[j, t]
                        if per_bar_tp and not np.isnan(tp_rows[j, t]):
                            o_tp = tp_rows[j, t]
                        held = new
                        wait_edge = False
                        if next_open:
                            go = False
                            if t < n - 1:
                                pend = True
                                pend_old = old
                                pend_x = new
                                pend_sl = o_sl
                                pend_tp = o_tp
                        else:
                            base = close[t]
                if not go:
                    continue
                # ---- execute one order: an exit or a reduction leg, then an entry leg
                closing = force_exit or (old != 0.0 and (new == 0.0 or (new > 0.0) != (old > 0.0)))
                shrink = not closing and new != 0.0 and abs(new) < abs(old)
                if (closing or shrink) and u != 0.0:
                    if closing:
                        price = exit_price if force_exit else base
                        c, side, qty, px, fee = _flatten(c, u, price, buy, sell, fees)
                        u = 0.0
                    else:  # sell (or buy back) the share of the units the target gave up
                        qty = abs(u) * (1.0 - abs(new) / abs(old))
                        side = -1.0 if u > 0 else 1.0
                        px = base * sell if u > 0 else base * buy
                        fee = qty * px * fees
                        c += -side * qty * px - fee
                        u += side * qty
                        if abs(u) < 1e-12 * max(qty, 1e-300):
                            u = 0.0
                    if want_fills:
                        _put_fill(fills, nf, j, t, side, qty, px, fee, exit_reason)
                        nf += 1
                    out_u += qty
                    out_v += qty * px
                    out_f += fee
                    if u == 0.0 and in_trade:  # back to flat: the trade is complete
                        pnl = _put_trade(
                            trades,
                            nt,
                            j,
                            tr_side,
                            tr_bar,
                            t,
                            (in_u, in_v, in_f),
                            (out_u, out_v, out_f),
                            False,
                            exit_reason,
                        )
                        nt += 1
                        in_trade = False
                        # loss streak and cooldown locks start at the exit
                        streak, gate, last, limit = _exit_lock(
                            pnl, t, n, streak, loss_streak, lock_len, cooldown
                        )
                        if gate >= 0 and last > locked_until:
                            _put_lock(locks, nl, j, gate, t, last, np.nan, limit)
                            nl += 1
                            locked_until = last
                            wait_edge = True
                if closing:
                    old = 0.0
                if force_exit or shrink:
                    continue
                if new != 0.0 and abs(new) > abs(old):
                    if t <= locked_until:  # no entry on a locked bar
                        if old == 0.0:
                            held = 0.0
                            wait_edge = True
                        else:
                            held = old
                        continue
                    # commit a share of the equity not yet committed
                    free = c + u * base - abs(u) * base
                    commit = max(free, 0.0) * (abs(new) - abs(old)) / (1.0 - abs(old))
                    side = 1.0 if new > 0 else -1.0
                    px = base * buy if new > 0 else base * sell
                    du = commit / (px * (1.0 + fees))
                    if du <= 0.0:  # a size that underflows to zero units trades nothing
                        continue
                    fee = du * px * fees
                    c -= side * du * px + fee
                    u += side * du
                    if want_fills:
                        _put_fill(fills, nf, j, t, side, du, px, fee, REASON_SIGNAL)
                        nf += 1
                    if not in_trade:
                        in_trade = True
                        tr_side = 1 if new > 0 else -1
                        tr_bar = t
                        tr_ref = close[t]
                        tr_trail = close[t]
                        tr_sl = o_sl
                        tr_tp = o_tp
                        in_u = in_v = in_f = 0.0
                        out_u = out_v = out_f = 0.0
                    in_u += du
                    in_v += du * px
                    in_f += fee
            # (d) mark at the close
            cl = close[t]
            eq = c + u * cl
            for k in range(lock_from, min(nl, locks.shape[0])):  # only rows that were written
                locks[k, 4] = eq
            # (e) ruin, (f) gates: either closes the position at this close
            reason = -1
            if eq <= 0.0:
                reason = REASON_RUIN
            elif t > locked_until:
                if rearm:
                    peak = eq
                    rearm = False
                elif eq > peak:
                    peak = eq
                gate = -1
                last = -1
                limit = 0.0
                if max_drawdown == max_drawdown and 1.0 - eq / peak >= max_drawdown:
                    gate = GATE_MAX_DRAWDOWN
                    last = min(t + lock_len, n - 1)
                    limit = max_drawdown
                    rearm = last < n - 1
                elif daily_loss == daily_loss and eq <= day_ref * (1.0 - daily_loss):
                    gate = GATE_DAILY_LOSS
                    last = t
                    while last + 1 < n and day[last + 1] == day[t]:
                        last += 1
                    limit = daily_loss
                if gate >= 0:
                    reason = REASON_GATE
                    _put_lock(locks, nl, j, gate, t, last, eq, limit)
                    nl += 1
                    locked_until = max(locked_until, last)
            elif eq > peak and not rearm:
                peak = eq
            if reason >= 0:
                pend = False
                held = 0.0
                wait_edge = True
                ruined = reason == REASON_RUIN
                if u != 0.0:
                    c, side, qty, px, fee = _flatten(c, u, cl, buy, sell, fees)
                    u = 0.0
                    if want_fills:
                        _put_fill(fills, nf, j, t, side, qty, px, fee, reason)
                        nf += 1
                    pnl = _put_trade(
                        trades,
                        nt,
                        j,
                        tr_side,
                        tr_bar,
                        t,
                        (in_u, in_v, in_f),
                        (out_u + qty, out_v + qty * px, out_f + fee),
                        False,
                        reason,
                    )
                    nt += 1
                    in_trade = False
                    if not ruined:
                        streak, gate, last, limit = _exit_lock(
                            pnl, t, n, streak, loss_streak, lock_len, cooldown
                        )
                        if gate >= 0 and last > locked_until:
                            _put_lock(locks, nl, j, gate, t, last, eq, limit)
                            nl += 1
                            locked_until = last
            # (g) the bar's record
            equity[j, t] = c + u * cl
            units_out[j, t] = u
        if in_trade and not ruined:
            # an open trade: what is left is valued at the last close, no exit fee
            left = abs(u)
            _put_trade(
                trades,
                nt,
                j,
                tr_side,
                tr_bar,
                n - 1,
                (in_u, in_v, in_f),
                (out_u + left, out_v + left * close[n - 1], out_f),
                True,
                REASON_OPEN,
            )
            nt += 1
    return equity, units_out, fills, trades, locks, np.array([nf, nt, nl])
