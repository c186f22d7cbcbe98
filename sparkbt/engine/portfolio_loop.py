"""The portfolio kernel: one compiled per-bar loop over several symbols sharing one cash.

The rules are docs/semantics.md "Portfolios": on each bar the portfolio is
valued once, the bar's target weights become units to trade, the orders run
sells first (ascending by order value), a buy is cut to the cash left, and
vectorbt's float tolerances decide what is zero. With exchange rules, the units
of an order (and of its cut) truncate down to its symbol's lot, except a part that
closes a position in full, and an order worth less than its symbol's minimum value
is rejected (``rules``: rows tick, lot, minimum; one column per symbol; NaN: off).
Gates and ruin watch the portfolio's equity at each close as for one symbol, with
the same lock rules (:func:`sparkbt.engine.loop.gate_check`, :func:`sparkbt.engine.loop.lock_gate`).

The run's scalars live in one state record (:data:`loop_state.STATE_DTYPE`:
cash, locks, day reference, ruin, record counts); per symbol the loop keeps
arrays: units, last close, a pending forced exit, and the totals of its open trade
(``tr`` columns below). Records are float matrices in the column order of
:mod:`sparkbt.engine.codes`.

Per bar ``t`` (``s`` is the weight row traded: ``t``, or ``t - 1`` with ``next_open``):
a. the orders of row ``s`` at this bar's price (close, or open) (:func:`run_orders`);
b. exits forced by an earlier gate or ruin for symbols that had no candle then;
c. mark the equity at the close; ruin and gates close every position (:func:`close_all`);
d. record equity, cash and units.
"""

from __future__ import annotations

import numpy as np

from sparkbt.engine.codes import (
    GATE_MAX_DRAWDOWN,
    REASON_OPEN,
    REASON_RUIN,
    REASON_SIGNAL,
)
from sparkbt.engine.loop import gate_check, lock_gate
from sparkbt.engine.loop_state import (
    N_FILL,
    N_LOCK,
    N_TRADE,
    STATE_DTYPE,
    exchange_qty,
    flatten,
    njit,
    put_fill,
    put_trade,
    reset_state,
    scalar,
)

__all__ = ["run_portfolio"]

REL_TOL = 1e-9  # vectorbt's tolerances: relative, and absolute around zero
ABS_TOL = 1e-12

# columns of the per-symbol open-trade matrix ``tr``
TR_SIDE, TR_BAR, IN_U, IN_V, IN_F, OUT_U, OUT_V, OUT_F = 0, 1, 2, 3, 4, 5, 6, 7


@scalar
def is_close(a, b):
    """``a`` and ``b`` equal within 1e-9 relative or 1e-12 absolute (never for NaN)."""
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@scalar
def add_tol(a, b):
    """``a + b``, exactly 0 when it is zero within the tolerances (vectorbt's ``add_nb``)."""
    zero = is_close(abs(a), abs(b)) if np.sign(a) != np.sign(b) else is_close(a + b, 0.0)
    return 0.0 if zero else a + b


@scalar
def buy_size(cash, size, price, o):
    """A buy of ``size`` units at ``price``: ``(units, fill price, fee, cash spent)``.

    A cost within the tolerance of the cash, or below it, buys the whole size;
    more is cut to what the cash buys with its fee (all the cash is spent).
    """
    px = price * (1.0 + o.slippage)
    req = size * px
    fee = req * o.fees
    total = req + fee
    if is_close(total, cash) or total < cash:
        return size, px, fee, total
    cap = cash / (1.0 + o.fees)
    return cap / px, px, cash - cap, cash


@njit()
def open_trade(tr, c, t, side, qty, px, fee):
    """Symbol ``c`` leaves 0 units: its trade starts with this (part of a) fill."""
    tr[c, TR_SIDE] = side
    tr[c, TR_BAR] = t
    tr[c, IN_U] = qty
    tr[c, IN_V] = qty * px
    tr[c, IN_F] = fee
    tr[c, OUT_U] = tr[c, OUT_V] = tr[c, OUT_F] = 0.0


@njit()
def book_fill(st, fills, trades, tr, c, t, fill, old, new, reason):
    """Record a fill of symbol ``c`` (units ``old`` -> ``new``) and what it does to its trade.

    Adding to a position is an opening fill, reducing it a closing one; a fill
    back to 0 completes the trade, and one through 0 closes it and opens the
    next with the rest (its fee split pro rata).
    """
    side, qty, px, fee = fill
    put_fill(fills, st.nf, c, t, side, qty, px, fee, reason)
    st.nf += 1
    if old == 0.0:
        if new != 0.0:
            open_trade(tr, c, t, np.sign(new), qty, px, fee)
        return
    if new != 0.0 and (new > 0.0) == (old > 0.0):
        k = IN_U if abs(new) > abs(old) else OUT_U
        tr[c, k] += qty
        tr[c, k + 1] += qty * px
        tr[c, k + 2] += fee
        return
    q_out = qty if new == 0.0 else abs(old)
    f_out = fee if new == 0.0 else fee * (q_out / qty)
    put_trade(
        trades,
        st.nt,
        c,
        tr[c, TR_SIDE],
        int(tr[c, TR_BAR]),
        t,
        (tr[c, IN_U], tr[c, IN_V], tr[c, IN_F]),
        (tr[c, OUT_U] + q_out, tr[c, OUT_V] + q_out * px, tr[c, OUT_F] + f_out),
        False,
        reason,
    )
    st.nt += 1
    tr[c, TR_SIDE] = 0.0
    if new != 0.0:
        open_trade(tr, c, t, np.sign(new), qty - q_out, px, fee - f_out)


@scalar
def rules_buy(cash, size, old, price, o, lot, min_value):
    """A buy under the exchange rules: ``(units, fill price, fee, cash spent, refused)``.

    The size, and again a cut to the cash, are truncated to the ``lot`` (the part
    that covers a short in full excepted) and refused below ``min_value``.
    """
    held = -old if old < 0.0 else 0.0
    px = price * (1.0 + o.slippage)
    size, refused = exchange_qty(size, held, px, lot, min_value)
    if size <= 0.0:
        return 0.0, px, 0.0, 0.0, refused
    qty, px, fee, spend = buy_size(cash, size, price, o)
    if qty < size:  # cut to the cash: that size obeys the rules too
        cut, refused = exchange_qty(qty, held, px, lot, min_value)
        if cut < qty:
            qty = cut
            fee = qty * px * o.fees
            spend = qty * px + fee
    return qty, px, fee, spend, refused


@njit()
def order(st, fills, trades, tr, units, c, t, size, price, o, rules):
    """Trade ``size`` (signed) units of symbol ``c`` at ``price`` under its column of ``rules``.

    Returns 1 if it was rejected for want of cash or (in part) by the exchange rules.
    """
    cash = st.cash
    if abs(cash) <= ABS_TOL:
        cash = 0.0
    st.cash = cash
    if abs(size) <= ABS_TOL:  # no order
        return 0
    old = units[c]
    lot, min_value = rules[1, c], rules[2, c]
    on = lot == lot or min_value == min_value
    refused = False
    if size > 0.0:
        if cash == 0.0:
            return 1
        if on:
            qty, px, fee, spend, refused = rules_buy(cash, size, old, price, o, lot, min_value)
            if qty <= 0.0:
                return 1
        else:
            qty, px, fee, spend = buy_size(cash, size, price, o)
        st.cash = add_tol(cash, -spend)
        new = add_tol(old, qty)
        side = 1.0
    else:
        qty = -size
        px = price * (1.0 - o.slippage)
        if on:
            held = old if old > 0.0 else 0.0
            qty, refused = exchange_qty(qty, held, px, lot, min_value)
            if qty <= 0.0:
                return 1
        value = qty * px
        fee = value * o.fees
        st.cash = cash + add_tol(value, -fee)
        new = add_tol(old, -qty)
        side = -1.0
    units[c] = new
    book_fill(st, fills, trades, tr, c, t, (side, qty, px, fee), old, new, REASON_SIGNAL)
    return 1 if refused else 0


@scalar
def insert_sorted(keys, idx, m, key, c):
    """Insert ``key`` (symbol ``c``) into the ascending ``keys[:m]``, after equal keys."""
    i = m - 1
    while i >= 0 and keys[i] > key:
        keys[i + 1] = keys[i]
        idx[i + 1] = idx[i]
        i -= 1
    keys[i + 1] = key
    idx[i + 1] = c


@njit()
def portfolio_value(cash, units, last, price):
    """Cash plus the symbols' units at this price, or at their last close without one."""
    v = cash
    for c in range(len(units)):
        if units[c] != 0.0:
            p = price[c]
            v += units[c] * (p if p == p else last[c])
    return v


@njit()
def run_orders(st, book, sym, t, w_row, price, scratch, o, rules):
    """(a) The orders of one weight row at ``price``: the number rejected (cash, exchange rules).

    The portfolio is valued once; each symbol with a weight and a price trades
    ``w * V / p - units``, in ascending order of ``w * V - units * p``.
    """
    fills, trades = book
    units, last, force, tr = sym
    keys, idx = scratch
    v = portfolio_value(st.cash, units, last, price)
    m = 0
    for c in range(len(w_row)):
        w = w_row[c]
        if w != w:
            continue
        p = price[c]
        if p != p or force[c] >= 0:
            continue
        insert_sorted(keys, idx, m, w * v - units[c] * p, c)
        m += 1
    rejected = 0
    if not v > 0.0:  # no value to take a share of
        return rejected
    for i in range(m):
        c = idx[i]
        size = w_row[c] * v
        size = size / price[c]
        size = size - units[c]
        rejected += order(st, fills, trades, tr, units, c, t, size, price[c], o, rules)
    return rejected


@njit()
def exit_symbol(st, book, sym, c, t, price, reason, o):
    """Close symbol ``c``'s position at ``price`` (not limited by cash): a gate or ruin exit."""
    fills, trades = book
    units, tr = sym[0], sym[3]
    old = units[c]
    cash, side, qty, px, fee = flatten(
        st.cash, old, price, 1.0 + o.slippage, 1.0 - o.slippage, o.fees
    )
    st.cash = cash
    units[c] = 0.0
    book_fill(st, fills, trades, tr, c, t, (side, qty, px, fee), old, 0.0, reason)


@njit()
def close_all(st, book, sym, t, close, reason, scratch, o):
    """(c) Ruin or a gate: close every position at this close, sells first (largest first).

    A symbol without a candle now is closed at its next close. Returns the number
    of exits left pending.
    """
    units, force = sym[0], sym[2]
    keys, idx = scratch
    m = 0
    pending = 0
    for c in range(len(units)):
        if units[c] == 0.0:
            continue
        if close[c] == close[c]:
            insert_sorted(keys, idx, m, -(units[c] * close[c]), c)
            m += 1
        elif force[c] < 0:
            force[c] = reason
            pending += 1
    for i in range(m):
        exit_symbol(st, book, sym, idx[i], t, close[idx[i]], reason, o)
    return pending


@njit()
def forced_exits(st, book, sym, t, close, o):
    """(b) Exits left by a gate or ruin, at the first close of each symbol: the number done."""
    force = sym[2]
    done = 0
    for c in range(len(force)):
        if force[c] >= 0 and close[c] == close[c]:
            exit_symbol(st, book, sym, c, t, close[c], force[c], o)
            force[c] = -1
            done += 1
    return done


@njit()
def mark(cash, units, last, close):
    """(c) The equity at this close; the symbols' last closes move to it."""
    v = cash
    for c in range(len(units)):
        p = close[c]
        if p == p:
            last[c] = p
        if units[c] != 0.0:
            v += units[c] * last[c]
    return v


@njit()
def any_weight(w_row):
    """Whether a weight row holds any order (a non-NaN weight)."""
    for w in w_row:  # noqa: SIM110 - a compiled loop that stops at the first
        if w == w:
            return True
    return False


@njit()
def open_trades(st, trades, sym, n):
    """After the last bar: each open position is a trade valued at its last close, no exit fee."""
    units, last, tr = sym[0], sym[1], sym[3]
    for c in range(len(units)):
        if tr[c, TR_SIDE] == 0.0:
            continue
        left = abs(units[c])
        put_trade(
            trades,
            st.nt,
            c,
            tr[c, TR_SIDE],
            int(tr[c, TR_BAR]),
            n - 1,
            (tr[c, IN_U], tr[c, IN_V], tr[c, IN_F]),
            (tr[c, OUT_U] + left, tr[c, OUT_V] + left * last[c], tr[c, OUT_F]),
            True,
            REASON_OPEN,
        )
        st.nt += 1


@njit()
def check_close(st, locks, t, n, eq, day, guard, o):
    """(c) Ruin and gates at this close: ``(exit reason or -1, guard)``, locks recorded.

    ``guard`` is ``(gates on, drawdown peak, re-arm the peak)``, as for one symbol.
    """
    gates_on, peak, rearm = guard
    if st.ruined:
        return -1, guard
    if not gates_on:
        return (REASON_RUIN if eq <= 0.0 else -1), guard
    reason, gate, peak, rearm = gate_check(eq, peak, rearm, st.day_ref, t, st.locked_until, o)
    if gate >= 0:
        last = lock_gate(st, locks, 0, t, n, gate, eq, day, o)
        if gate == GATE_MAX_DRAWDOWN:
            rearm = last < n - 1
    return reason, (gates_on, peak, rearm)


@njit()
def run_portfolio(open_, close, day, weights, o, rules, capacity):
    """Simulate target ``weights`` ``(n, k)`` on prices ``(n, k)`` (NaN: no candle).

    ``o`` is a :class:`sparkbt.engine.kernels.SimOptions` of plain values (its lot
    and minimum are not read: ``rules`` holds each symbol's, ``(3, k)``); ``day``
    holds each bar's UTC day number; ``capacity`` the rows to allocate for fills,
    trades and locks. Returns equity and cash ``(n,)``, units ``(n, k)``, the fill,
    trade and lock matrices, the rows each needed (when a count exceeds its
    capacity only the first rows were written: run again with the counts) and
    the number of orders rejected for want of cash or by the exchange rules.
    """
    n, k = close.shape
    equity, cash, held = np.empty(n), np.empty(n), np.empty((n, k))
    book = (np.empty((capacity[0], N_FILL)), np.empty((capacity[1], N_TRADE)))
    locks = np.empty((capacity[2], N_LOCK))
    state = np.zeros(1, dtype=STATE_DTYPE)  # its record ``st`` is a view: keep it to the end
    st = state[0]
    reset_state(st, o.cash)
    units, last = np.zeros(k), np.full(k, np.nan)
    sym = (units, last, np.full(k, -1, np.int64), np.zeros((k, 8)))
    scratch = (np.empty(k), np.empty(k, np.int64))
    guard = (o.max_drawdown == o.max_drawdown or o.daily_loss == o.daily_loss, -np.inf, False)
    gate_bar, pending, rejected = -1, 0, 0
    for t in range(n):
        if t > 0 and day[t] != day[t - 1]:
            st.day_ref = equity[t - 1]
        s = t - 1 if o.next_open else t
        # no order under a lock, nor from weights made before a gate fired (next_open)
        blocked = t <= st.locked_until or s <= gate_bar
        if s >= 0 and not st.ruined and not blocked and any_weight(weights[s]):
            price = open_[t] if o.next_open else close[t]
            rejected += run_orders(st, book, sym, t, weights[s], price, scratch, o, rules)
        if pending > 0:  # (b)
            pending -= forced_exits(st, book, sym, t, close[t], o)
        eq = mark(st.cash, units, last, close[t])  # (c)
        reason, guard = check_close(st, locks, t, n, eq, day, guard, o)
        if reason >= 0:
            st.ruined = reason == REASON_RUIN
            gate_bar = t
            pending += close_all(st, book, sym, t, close[t], reason, scratch, o)
            eq = portfolio_value(st.cash, units, last, close[t])
        equity[t] = eq  # (d)
        cash[t] = st.cash
        held[t] = units
    open_trades(st, book[1], sym, n)
    counts = np.array([st.nf, st.nt, st.nl])
    return equity, cash, held, book[0], book[1], locks, counts, rejected
