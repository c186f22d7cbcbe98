"""The path-dependent kernel: one compiled per-bar state machine per column.

Stops, trailing stops, next-open fills, risk gates, ruin and fractional sizing
all depend on what happened on earlier bars, so they cannot be closed forms.
This kernel walks the bars of each column once, compiled by numba (cached on
disk, so a process pays the compilation once per install). Arrays in, float
record matrices out; :mod:`sparkbt.engine.kernels` turns them into structured
arrays. Only the schema (:mod:`sparkbt.engine.codes`) and the building blocks
(:mod:`sparkbt.engine.loop_state`) are imported here, and this module is
imported only when a run needs it: plain all-in runs never load numba.

The order of events on bar ``t`` (docs/semantics.md), one phase each:

a. ``next_open``: the order made on bar ``t-1`` fills at ``open[t]`` (:func:`pending_order`);
b. stops of a position opened before ``t``: open gap, stop-loss, take-profit (:func:`stop_order`);
c. unless a stop fired, the signal order of bar ``t`` (fills at ``close[t]``, or waits
   for ``open[t+1]``) (:func:`signal_order`);
d. mark equity at ``close[t]``;
e. ruin: equity <= 0 closes the position and ends trading (:func:`gate_out`);
f. gates: max drawdown and daily loss close the position and lock entries
   (:func:`gate_check`, :func:`lock_gate`, :func:`gate_out`);
g. the bar's equity and units are recorded.

Every order goes through :func:`execute` (an exit or reduction leg, then an
entry leg), and every trade that ends goes through :func:`close_trade`. With
exchange rules (lot step, minimum value) an entry or a reduction is truncated to
the lot, or refused and counted; an exit that closes the position never is. The
phases share the run's state record ``st`` (:data:`loop_state.STATE_DTYPE`)
and write the fill, trade and lock matrices. They are inlined into
:func:`run_column` (see :func:`loop_state.phase`), and :func:`execute` appears
there twice only, for (a) and for (b) or (c): it is the bulk of the compile time.
"""

from __future__ import annotations

import numpy as np

from sparkbt.engine.codes import (
    GATE_DAILY_LOSS,
    GATE_MAX_DRAWDOWN,
    REASON_GATE,
    REASON_OPEN,
    REASON_RUIN,
    REASON_SIGNAL,
    REASON_STOP_LOSS,
    REASON_TRAILING_STOP,
)
from sparkbt.engine.loop_state import (
    N_FILL,
    N_LOCK,
    N_TRADE,
    STATE_DTYPE,
    exchange_qty,
    exit_lock,
    flatten,
    njit,
    phase,
    put_fill,
    put_lock,
    put_trade,
    reset_state,
    scalar,
    stop_exit,
)

__all__ = ["run_loop"]


@scalar
def lock_length(o, n):
    """Bars a max-drawdown or loss-streak lock lasts: the cooldown, else the rest of the run."""
    return o.cooldown if o.cooldown >= 0 else n


@scalar
def rules_on(o):
    """Whether an exchange rule (lot step, minimum value) sizes this run's fills."""
    return o.lot_size == o.lot_size or o.min_notional == o.min_notional


@phase
def record_fill(st, fills, want_fills, j, t, side, qty, px, fee, reason):
    """Count (and, if it fits, write) one fill when fills are wanted."""
    if want_fills:
        put_fill(fills, st.nf, j, t, side, qty, px, fee, reason)
        st.nf += 1


@phase
def close_trade(st, trades, locks, j, t, n, reason, eq, o, lock):
    """The position is flat: record its trade; with ``lock``, start loss-streak and cooldown locks.

    ``eq`` is the lock's equity (NaN when the bar's close marks it later).
    """
    pnl = put_trade(
        trades,
        st.nt,
        j,
        st.tr_side,
        st.tr_bar,
        t,
        (st.in_u, st.in_v, st.in_f),
        (st.out_u, st.out_v, st.out_f),
        False,
        reason,
    )
    st.nt += 1
    st.in_trade = False
    if not lock:
        return
    streak, gate, last, limit = exit_lock(
        pnl, t, n, st.streak, o.loss_streak, lock_length(o, n), o.cooldown
    )
    st.streak = streak
    if gate >= 0 and last > st.locked_until:
        put_lock(locks, st.nl, j, gate, t, last, eq, limit)
        st.nl += 1
        st.locked_until = last
        st.wait_edge = True


@phase
def book_exit(st, fills, want_fills, j, t, side, qty, px, fee, reason):
    """Record a closing or reducing fill and add it to the open trade's exit totals."""
    record_fill(st, fills, want_fills, j, t, side, qty, px, fee, reason)
    st.out_u += qty
    st.out_v += qty * px
    st.out_f += fee


@phase
def reduce(st, fills, trades, locks, want_fills, j, t, n, old, new, price, closing, reason, o):
    """Close the position at ``price``, or give up the share of it the target gave up."""
    c = st.cash
    u = st.units
    fees = o.fees
    buy = 1.0 + o.slippage
    sell = 1.0 - o.slippage
    if closing:
        c, side, qty, px, fee = flatten(c, u, price, buy, sell, fees)
        u = 0.0
    else:  # sell (or buy back) the share of the units the target gave up
        qty = abs(u) * (1.0 - abs(new) / abs(old))
        side = -1.0 if u > 0 else 1.0
        px = price * sell if u > 0 else price * buy
        if rules_on(o):
            qty, refused = exchange_qty(qty, abs(u), px, o.lot_size, o.min_notional)
            if qty <= 0.0:
                st.nr += 1 if refused else 0
                return
        fee = qty * px * fees
        c += -side * qty * px - fee
        u += side * qty
        if abs(u) < 1e-12 * max(qty, 1e-300):
            u = 0.0
    st.cash = c
    st.units = u
    book_exit(st, fills, want_fills, j, t, side, qty, px, fee, reason)
    if u == 0.0 and st.in_trade:  # back to flat: the trade is complete
        close_trade(st, trades, locks, j, t, n, reason, np.nan, o, True)


@phase
def enter(st, fills, want_fills, j, t, old, new, base, entry_close, o_sl, o_tp, o):
    """Commit the share of the uncommitted equity that the target adds (none on a locked bar)."""
    if t <= st.locked_until:  # no entry on a locked bar
        if old == 0.0:
            st.held = 0.0
            st.wait_edge = True
        else:
            st.held = old
        return
    c = st.cash
    u = st.units
    fees = o.fees
    free = c + u * base - abs(u) * base
    commit = max(free, 0.0) * (abs(new) - abs(old)) / (1.0 - abs(old))
    side = 1.0 if new > 0 else -1.0
    px = base * (1.0 + o.slippage) if new > 0 else base * (1.0 - o.slippage)
    du = commit / (px * (1.0 + fees))
    if du <= 0.0:  # a size that underflows to zero units trades nothing
        return
    if rules_on(o):
        du, refused = exchange_qty(du, 0.0, px, o.lot_size, o.min_notional)
        if du <= 0.0:
            st.nr += 1 if refused else 0
            return
    fee = du * px * fees
    st.cash = c - (side * du * px + fee)
    st.units = u + side * du
    record_fill(st, fills, want_fills, j, t, side, du, px, fee, REASON_SIGNAL)
    if not st.in_trade:
        st.in_trade = True
        st.tr_side = side
        st.tr_bar = t
        st.tr_ref = entry_close
        st.tr_trail = entry_close
        st.tr_sl = o_sl
        st.tr_tp = o_tp
        st.in_u = st.in_v = st.in_f = 0.0
        st.out_u = st.out_v = st.out_f = 0.0
    st.in_u += du
    st.in_v += du * px
    st.in_f += fee


@phase
def execute(st, fills, trades, locks, want_fills, j, t, n, order, entry_close, o):
    """One order ``(old, new, base, forced exit price or NaN, exit reason, sl, tp)``.

    An exit or reduction leg first, then an entry leg; a forced exit (a stop)
    and a reduction have no entry leg.
    """
    old, new, base, exit_price, exit_reason, o_sl, o_tp = order
    force_exit = exit_price == exit_price
    closing = force_exit or (old != 0.0 and (new == 0.0 or (new > 0.0) != (old > 0.0)))
    shrink = not closing and new != 0.0 and abs(new) < abs(old)
    if (closing or shrink) and st.units != 0.0:
        price = exit_price if force_exit else base
        reduce(
            st, fills, trades, locks, want_fills, j, t, n, old, new, price, closing, exit_reason, o
        )
    if closing:
        old = 0.0
    if force_exit or shrink:
        return
    if new != 0.0 and abs(new) > abs(old):
        enter(st, fills, want_fills, j, t, old, new, base, entry_close, o_sl, o_tp, o)


@scalar
def pending_order(st, open_t):
    """(a) ``next_open``: the order made on the previous bar, to fill at this open."""
    st.pend = False
    return (st.pend_old, st.pend_x, open_t, np.nan, REASON_SIGNAL, st.pend_sl, st.pend_tp)


@scalar
def stop_scan(side, open_t, hi, lo, trail, ref, sl, tp, sl_trail):
    """(b) Whether a stop closes the trade on this bar: ``(price or NaN, reason, trailing ref)``.

    When none fires, the bar's extreme moves the trailing reference of later bars.
    """
    sl_reason = REASON_TRAILING_STOP if sl_trail else REASON_STOP_LOSS
    price, reason = stop_exit(side, open_t, hi, lo, trail, ref, sl, tp, sl_reason)
    if price != price and sl_trail:
        trail = max(trail, hi) if side > 0 else min(trail, lo)
    return price, reason, trail


@scalar
def stop_order(st, open_t, hi, lo, o):
    """(b) A stop of a trade opened before this bar: ``(go, order)`` closing it at the stop.

    After a stop, a new entry waits for a new signal edge.
    """
    price, reason, st.tr_trail = stop_scan(
        st.tr_side, open_t, hi, lo, st.tr_trail, st.tr_ref, st.tr_sl, st.tr_tp, o.sl_trail
    )
    go = price == price
    old = st.held
    if go:
        st.held = 0.0
        st.wait_edge = True
    return go, (old, 0.0, 0.0, price, reason, np.nan, np.nan)


@scalar
def wants_order(wait_edge, held, x, edge):
    """(c) Whether target ``x`` makes an order, and the target it leaves."""
    if wait_edge:
        return edge and x != 0.0, 0.0
    return x != held, held


@scalar
def signal_order(st, t, n, x, edge, close_t, sl_bar, tp_bar, o):
    """(c) The order to this bar's target ``x``: ``(go, order)``, go when it fills at this close.

    With ``next_open`` it waits for the next open instead. ``sl_bar``/``tp_bar``
    are the bar's own stop fractions (NaN: the option applies).
    """
    go, old = wants_order(st.wait_edge, st.held, x, edge)
    o_sl = o.sl_stop if np.isnan(sl_bar) else sl_bar
    o_tp = o.tp_stop if np.isnan(tp_bar) else tp_bar
    order = (old, x, close_t, np.nan, REASON_SIGNAL, o_sl, o_tp)
    if not go:
        return False, order
    st.held = x
    st.wait_edge = False
    if not o.next_open:
        return True, order
    if t < n - 1:
        st.pend = True
        st.pend_old = old
        st.pend_x = x
        st.pend_sl = o_sl
        st.pend_tp = o_tp
    return False, order


@scalar
def gate_check(eq, peak, rearm, day_ref, t, locked_until, o):
    """(e) ruin and (f) gates at this close: ``(exit reason or -1, gate or -1, peak, rearm)``.

    The drawdown peak follows the equity outside locks and restarts after a
    drawdown lock. Scalars only: it runs on every bar.
    """
    if eq <= 0.0:
        return REASON_RUIN, -1, peak, rearm
    if t > locked_until:
        if rearm:
            peak = eq
            rearm = False
        elif eq > peak:
            peak = eq
        if o.max_drawdown == o.max_drawdown and 1.0 - eq / peak >= o.max_drawdown:
            return REASON_GATE, GATE_MAX_DRAWDOWN, peak, rearm
        if o.daily_loss == o.daily_loss and eq <= day_ref * (1.0 - o.daily_loss):
            return REASON_GATE, GATE_DAILY_LOSS, peak, rearm
    elif eq > peak and not rearm:
        peak = eq
    return -1, -1, peak, rearm


@phase
def lock_gate(st, locks, j, t, n, gate, eq, day, o):
    """(f) Record the lock of a drawdown or daily-loss gate that fired at this close.

    Returns its last locked bar.
    """
    if gate == GATE_MAX_DRAWDOWN:
        last = min(t + lock_length(o, n), n - 1)
        limit = o.max_drawdown
    else:  # the rest of the UTC day
        last = t
        while last + 1 < n and day[last + 1] == day[t]:
            last += 1
        limit = o.daily_loss
    put_lock(locks, st.nl, j, gate, t, last, eq, limit)
    st.nl += 1
    st.locked_until = max(st.locked_until, last)
    return last


@phase
def gate_out(st, fills, trades, locks, want_fills, j, t, n, reason, eq, close_t, o):
    """(e), (f): ruin or a gate closes the position at this close and cancels any order."""
    st.pend = False
    st.held = 0.0
    st.wait_edge = True
    ruined = reason == REASON_RUIN
    st.ruined = ruined
    if st.units == 0.0:
        return
    c, side, qty, px, fee = flatten(
        st.cash, st.units, close_t, 1.0 + o.slippage, 1.0 - o.slippage, o.fees
    )
    st.cash = c
    st.units = 0.0
    book_exit(st, fills, want_fills, j, t, side, qty, px, fee, reason)
    close_trade(st, trades, locks, j, t, n, reason, eq, o, not ruined)


@njit()
def close_open_trade(st, trades, j, n, last_close):
    """After the last bar: what is left is valued at the last close, no exit fee (once a column)."""
    if not st.in_trade or st.ruined:
        return
    left = abs(st.units)
    put_trade(
        trades,
        st.nt,
        j,
        st.tr_side,
        st.tr_bar,
        n - 1,
        (st.in_u, st.in_v, st.in_f),
        (st.out_u + left, st.out_v + left * last_close, st.out_f),
        True,
        REASON_OPEN,
    )
    st.nt += 1


@njit()
def run_column(st, j, prices, day, rows, sl_rows, tp_rows, out, records, want_fills, o):
    """The bars of column ``j``: its equity and units in ``out``, its fills, trades and locks."""
    fills, trades, locks = records
    equity, units = out
    open_, high, low, close = prices
    n = rows.shape[1]
    per_bar_sl = sl_rows.shape[0] > 0
    per_bar_tp = tp_rows.shape[0] > 0
    gates_on = o.max_drawdown == o.max_drawdown or o.daily_loss == o.daily_loss
    prev_x = 0.0
    peak = -np.inf  # running equity peak of the drawdown gate
    rearm = False  # re-arm the peak when a drawdown lock ends
    for t in range(n):
        x = rows[j, t]
        edge = x != prev_x
        prev_x = x
        if st.ruined:
            equity[j, t] = st.cash
            units[j, t] = 0.0
            continue
        if t > 0 and day[t] != day[t - 1]:
            st.day_ref = equity[j, t - 1]
        lock_from = st.nl  # lock rows of this bar still waiting for the marked equity
        cl = close[t]
        sl_bar = sl_rows[j, t] if per_bar_sl else np.nan
        tp_bar = tp_rows[j, t] if per_bar_tp else np.nan
        if st.pend:  # (a)
            execute(
                st, fills, trades, locks, want_fills, j, t, n, pending_order(st, open_[t]), cl, o
            )
        go = False  # (b) a stop, else (c) the signal order: one order at most
        if st.in_trade and st.tr_bar < t:
            go, order = stop_order(st, open_[t], high[t], low[t], o)
        if not go:
            go, order = signal_order(st, t, n, x, edge, cl, sl_bar, tp_bar, o)
        if go:
            execute(st, fills, trades, locks, want_fills, j, t, n, order, cl, o)
        # (d) mark at the close
        eq = st.cash + st.units * cl
        for k in range(lock_from, min(st.nl, locks.shape[0])):  # only rows written
            locks[k, 4] = eq
        # (e) ruin, (f) gates
        reason = REASON_RUIN if eq <= 0.0 else -1
        if gates_on:
            reason, gate, peak, rearm = gate_check(
                eq, peak, rearm, st.day_ref, t, st.locked_until, o
            )
            if gate >= 0:
                last = lock_gate(st, locks, j, t, n, gate, eq, day, o)
                if gate == GATE_MAX_DRAWDOWN:
                    rearm = last < n - 1
        if reason >= 0:
            gate_out(st, fills, trades, locks, want_fills, j, t, n, reason, eq, cl, o)
        # (g) the bar's record
        equity[j, t] = st.cash + st.units * cl
        units[j, t] = st.units
    close_open_trade(st, trades, j, n, close[n - 1])


@njit()
def run_loop(open_, high, low, close, day, rows, sl_rows, tp_rows, o, want_fills, capacity):
    """Simulate prepared target ``rows`` ``(m, n)`` (one row per column).

    ``o`` is a :class:`sparkbt.engine.kernels.SimOptions` of plain floats,
    bools and ints. ``sl_rows``/``tp_rows`` are per-bar stop fractions ``(m, n)``
    (NaN = use the option) or empty ``(0, 0)``. ``day`` holds each bar's UTC day
    number. ``capacity`` holds the rows to allocate for fills, trades and locks.
    Returns equity and units ``(m, n)``, the fill, trade and lock matrices
    (columns of ``codes.*_COLS``), the fills each column's exchange rules
    refused, and the number of rows each needed: when a
    count exceeds its capacity, only the first rows were written and the run
    must be repeated with larger capacities.
    """
    m, n = rows.shape
    out = (np.empty((m, n)), np.empty((m, n)))
    # the record matrices are allocated once: rows past a capacity are counted, not
    # written, and the caller runs again with the counts as capacities
    records = (
        np.empty((capacity[0], N_FILL)),
        np.empty((capacity[1], N_TRADE)),
        np.empty((capacity[2], N_LOCK)),
    )
    prices = (open_, high, low, close)
    state = np.zeros(1, dtype=STATE_DTYPE)  # its record ``st`` is a view: keep it to the end
    st = state[0]
    refused = np.zeros(m, dtype=np.int64)
    for j in range(m):
        reset_state(st, o.cash)
        run_column(st, j, prices, day, rows, sl_rows, tp_rows, out, records, want_fills, o)
        refused[j] = st.nr
    end = state[0]
    return *out, *records, refused, np.array([end.nf, end.nt, end.nl])
