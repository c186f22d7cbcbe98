"""Building blocks of the per-bar kernel: the column state, record writers, stop and lock rules.

:mod:`sparkbt.engine.loop` runs the bars; this module holds what its phases
share. The run's state is one numba record of :data:`STATE_DTYPE` (the column's
position, order, trade and locks, and the record counts), so the phases are
small compiled functions that read and update it in place. The record matrices
hold one row per fill, trade and lock, columns in the order of
:mod:`sparkbt.engine.codes`.
"""

from __future__ import annotations

import os

import numpy as np
from numba import njit as _njit

from sparkbt.engine.codes import (
    FILL_COLS,
    GATE_COOLDOWN,
    GATE_LOSS_STREAK,
    LOCK_COLS,
    REASON_SIGNAL,
    REASON_TAKE_PROFIT,
    TRADE_COLS,
)

# SPARKBT_BOUNDSCHECK=1 compiles with index checks (the test suite does): an
# out-of-range index then raises IndexError instead of touching foreign memory.
_CHECKED = os.environ.get("SPARKBT_BOUNDSCHECK") == "1"


def njit(**options):
    """numba's ``njit`` with sparkbt's defaults: cached on disk, GIL released, checks if asked."""
    return _njit(boundscheck=_CHECKED, cache=True, nogil=True, **options)


def phase(func):
    """A compiled phase that writes the record matrices, inlined into its caller.

    A call that passes arrays costs atomic reference counting on each call; inlined,
    the arrays still cost it each time the phase runs, so a phase runs only when
    it acts (an order, a trade, a lock), never on every bar.
    """
    return njit(inline="always")(func)


def scalar(func):
    """A compiled helper of scalars and the state record (no arrays), inlined into its caller."""
    return njit(inline="always")(func)


N_FILL, N_TRADE, N_LOCK = len(FILL_COLS), len(TRADE_COLS), len(LOCK_COLS)
"""Columns of the fill, trade and lock matrices."""

STATE_DTYPE = np.dtype(
    [
        ("cash", np.float64),  # cash (short proceeds included)
        ("units", np.float64),  # signed units held
        ("held", np.float64),  # the target the position stands for
        ("wait_edge", np.bool_),  # after a stop, gate or lock: enter only on a new signal edge
        ("pend", np.bool_),  # next_open: an order made on the previous bar waits for this open
        ("pend_old", np.float64),  # its target before and after, and its stop fractions
        ("pend_x", np.float64),
        ("pend_sl", np.float64),
        ("pend_tp", np.float64),
        ("in_trade", np.bool_),  # a trade is open: side, fill bar, entry close, stops, trailing
        ("tr_side", np.float64),
        ("tr_bar", np.int64),
        ("tr_ref", np.float64),  # close of the bar on which the entry filled
        ("tr_trail", np.float64),  # trailing reference: best extreme since the entry bar
        ("tr_sl", np.float64),
        ("tr_tp", np.float64),
        ("in_u", np.float64),  # units bought (long) or sold short, their value and fees
        ("in_v", np.float64),
        ("in_f", np.float64),
        ("out_u", np.float64),  # units closed, their value and fees
        ("out_v", np.float64),
        ("out_f", np.float64),
        ("locked_until", np.int64),  # last bar on which no position may open (-1: none)
        ("day_ref", np.float64),  # equity at the previous day's last close (daily-loss gate)
        ("streak", np.int64),  # consecutive losing trades
        ("ruined", np.bool_),  # equity reached zero: trading has ended
        ("nf", np.int64),  # rows of fills, trades and locks needed so far (all columns)
        ("nt", np.int64),
        ("nl", np.int64),
        ("nr", np.int64),  # fills of this column refused by the exchange rules
    ],
    align=True,
)
"""The state of the run: one column's position, order, trade and locks, and the record counts.

A numba record (fields by name, passed by reference without reference
counting), so the phases read and update it in place at the cost of plain
loads and stores.
"""


@njit()
def reset_state(st, cash):
    """The state of a column before its first bar: flat, no order, no lock.

    The record counts are kept (they run over all columns); the refused fills are the column's.
    """
    st.cash = cash
    st.units = st.held = 0.0
    st.wait_edge = st.pend = st.in_trade = st.ruined = False
    st.pend_old = st.pend_x = 0.0
    st.pend_sl = st.pend_tp = np.nan
    st.tr_side = st.tr_ref = st.tr_trail = 0.0
    st.tr_bar = 0
    st.tr_sl = st.tr_tp = np.nan
    st.in_u = st.in_v = st.in_f = st.out_u = st.out_v = st.out_f = 0.0
    st.locked_until = -1
    st.day_ref = cash
    st.streak = 0
    st.nr = 0


@phase
def put_fill(fills, k, j, t, side, qty, px, fee, reason):
    """Row ``k`` of the fill matrix (not written past its capacity: the caller counts).

    Columns past the fill's own (an order run's order row) are set to -1 (none).
    """
    if k >= fills.shape[0]:
        return
    fills[k, 0] = j
    fills[k, 1] = t
    fills[k, 2] = side
    fills[k, 3] = qty
    fills[k, 4] = px
    fills[k, 5] = fee
    fills[k, 6] = reason
    for c in range(N_FILL, fills.shape[1]):
        fills[k, c] = -1.0


@phase
def put_trade(trades, k, j, side, entry_bar, exit_bar, entry, exit_, is_open, reason):
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


@phase
def put_lock(locks, k, j, gate, first, last, eq, limit):
    """Row ``k`` of the lock matrix: gate, first and last locked bar, equity, limit."""
    if k >= locks.shape[0]:
        return
    locks[k, 0] = j
    locks[k, 1] = gate
    locks[k, 2] = first
    locks[k, 3] = last
    locks[k, 4] = eq
    locks[k, 5] = limit


@scalar
def flatten(c, u, price, buy, sell, fees):
    """Close ``u`` units at ``price`` (slipped against us): cash, fill side, units, price, fee."""
    qty = abs(u)
    if u > 0:
        px = price * sell
        fee = qty * px * fees
        return c + qty * px - fee, -1.0, qty, px, fee
    px = price * buy
    fee = qty * px * fees
    return c - qty * px - fee, 1.0, qty, px, fee


@scalar
def lot_down(q, lot):
    """``q`` truncated down to a multiple of the lot step (NaN: no lot)."""
    if lot != lot:
        return q
    return np.floor(q / lot + 1e-9) * lot


@scalar
def exchange_qty(qty, held, px, lot, min_value):
    """A fill of ``qty`` at ``px`` under the exchange rules: ``(units, a part was refused)``.

    ``held`` is the opposite position the fill trades against (0 if none). The
    part that closes it in full is never cut (closing is closing); the rest (an
    opening leg, or a reduction that leaves units) is truncated down to the lot
    and refused when it is no lot at all or worth less than ``min_value`` (a rest
    within 1e-9 of the fill is float noise of a close, not a part). NaN: off.
    """
    if lot != lot and min_value != min_value:
        return qty, False
    close = held if qty >= held else 0.0
    rest = lot_down(qty - close, lot)
    if rest <= 0.0 or rest * px < min_value:
        return close, qty - close > 1e-9 * qty
    return close + rest, False


@scalar
def stop_exit(side, o, hi, lo, trail_ref, ref, sl, tp, sl_reason):
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


@scalar
def exit_lock(pnl, t, n, streak, loss_streak, lock_len, cooldown):
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
