"""The portfolio order kernel: one compiled per-bar loop filling orders of several symbols.

The rules are docs/semantics.md "Orders" applied to a portfolio: the symbols
share one cash, and each order fills against its own symbol's bar. One order
on one bar is decided and filled by the single-symbol kernel's pieces
(:func:`order_loop.at_open`, :func:`order_loop.in_bar`, :func:`order_loop.fill_order`,
:func:`order_loop.cancel_oco`): each symbol keeps its position and open trade in
its own state record (:data:`loop_state.STATE_DTYPE`), and :func:`fill_symbol`
lends it the shared cash, lock and record counts for the one fill.

Per bar ``t``, across all symbols (orders are sorted by decision bar, then row):
1. ``next_open``: market orders decided before ``t`` fill at their symbol's open;
3. resting orders whose level their symbol's open reaches fill there, oldest first;
4. the other resting orders, oldest first, against their symbol's low and high;
5. ``fill="close"``: market orders decided up to ``t`` fill at their symbol's close;
6. orders whose last bar is ``t`` expire; equity is marked at the last known
   closes; ruin and the max-drawdown / daily-loss gates close every position.

A symbol without a candle at ``t`` takes no fill at ``t``: its orders wait (a
market order fills at the symbol's next candle, an IOC order's one bar is the
symbol's next candle), and a gate's exit waits for its next close.
"""

from __future__ import annotations

import numpy as np

from sparkbt.engine.codes import (
    OR_NONE,
    OR_RUIN,
    ORDER_MARKET,
    REASON_RUIN,
    STATUS_OPEN,
)
from sparkbt.engine.loop import close_open_trade, gate_out
from sparkbt.engine.loop_state import N_LOCK, N_TRADE, STATE_DTYPE, njit, reset_state, scalar
from sparkbt.engine.order_kernels import KernelRules
from sparkbt.engine.order_loop import (
    N_ORDER_FILL,
    at_open,
    cancel_oco,
    end_orders,
    fill_order,
    in_bar,
)
from sparkbt.engine.portfolio_loop import check_close, insert_sorted

__all__ = ["run_portfolio_orders"]


@njit()
def collateral(states, c, last):
    """What the short positions of the symbols other than ``c`` hold of the cash (<= 0)."""
    held = 0.0
    for j in range(states.shape[0]):
        u = states[j].units
        if j != c and u < 0.0:
            held += (u - abs(u)) * last[j]
    return held


@njit()
def lend(g, st, cash):
    """Symbol record ``st`` takes the shared cash, lock and record counts for one fill."""
    st.cash = cash
    st.locked_until = g.locked_until
    st.nf, st.nt, st.nl = g.nf, g.nt, g.nl


@njit()
def give_back(g, st, recs, c, nf0, nt0):
    """The shared counts after a fill of symbol ``c``; its new records are labelled ``c``."""
    fills, trades = recs[0], recs[1]
    for r in range(nf0, min(st.nf, fills.shape[0])):
        fills[r, 0] = c
    for r in range(nt0, min(st.nt, trades.shape[0])):
        trades[r, 0] = c
    g.nf, g.nt, g.nl = st.nf, st.nt, st.nl


@njit()
def fill_symbol(g, states, recs, ob, res, sym, k, t, n, fill, last, o, x, rules):
    """Fill order ``k`` of symbol ``sym[k]`` at ``fill = (base, maker, close, lo_k)`` on bar
    ``t`` (orders before ``lo_k`` are final).

    The symbol's own position reduces first (:func:`order_loop.fill_order`) under
    its own lot and minimum value (its column of ``rules``); an opening leg is cut
    to the cash the other symbols' shorts leave free. An order that filled cancels
    its OCO group.
    """
    base, maker, cl, lo_k = fill
    c = sym[k]
    st = states[c]
    x = KernelRules(x.direction, x.maker_fees, rules[1, c], rules[2, c])
    others = collateral(states, c, last)
    cash_in = g.cash + others
    lend(g, st, cash_in)
    nf0, nt0 = g.nf, g.nt
    done = fill_order(st, recs, ob, res, k, t, n, base, maker, cl, o, x)
    g.cash = st.cash if others == 0.0 else g.cash + (st.cash - cash_in)
    give_back(g, st, recs, c, nf0, nt0)
    if done:
        cancel_oco(ob, res, lo_k, k, t)


@njit()
def market_step(g, states, recs, ob, res, sym, lo_k, s, t, n, base, close, last, o, x, rules):
    """Steps 1 and 5: open market orders decided up to bar ``s`` fill at ``base[t]``.

    An order whose symbol has no candle at ``t`` waits for its next one.
    """
    for k in range(lo_k, ob.shape[0]):
        if ob[k].bar > s:
            break
        if ob[k].type != ORDER_MARKET or res[k].status != STATUS_OPEN:
            continue
        c = sym[k]
        if base[t, c] != base[t, c]:
            continue
        fill = (base[t, c], False, close[t, c], lo_k)
        fill_symbol(g, states, recs, ob, res, sym, k, t, n, fill, last, o, x, rules)


@njit()
def resting_step(g, states, recs, ob, res, sym, trig, window, t, n, prices, last, o, x, rules):
    """Steps 3 and 4 over the resting orders ``window`` (decided before ``t``), oldest first."""
    open_, high, low, close = prices
    lo_k, hi_k = window
    for step in range(2):
        for k in range(lo_k, hi_k):
            if res[k].status != STATUS_OPEN or ob[k].type == ORDER_MARKET or ob[k].expire < t:
                continue
            c = sym[k]
            o_ = open_[t, c]
            if o_ != o_:  # no candle: not eligible on this bar
                continue
            if step == 0:
                go, hit = at_open(ob[k], trig[k], o_)
                price, maker = o_, False
            else:
                price, maker, hit = in_bar(ob[k], trig[k], high[t, c], low[t, c])
                go = price == price
            trig[k] = hit
            if go:
                fill = (price, maker, close[t, c], lo_k)
                fill_symbol(g, states, recs, ob, res, sym, k, t, n, fill, last, o, x, rules)


@njit()
def exit_symbol(g, states, recs, c, t, n, reason, eq, close_t, o):
    """A gate or ruin closes symbol ``c``'s position at ``close_t`` (not limited by cash)."""
    st = states[c]
    lend(g, st, g.cash)
    gate_out(st, recs[0], recs[1], recs[2], True, c, t, n, reason, eq, close_t, o)
    g.cash = st.cash
    g.nf, g.nt, g.nl = st.nf, st.nt, st.nl


@njit()
def close_all(g, states, recs, force, t, n, reason, eq, close, scratch, o):
    """Ruin or a gate: every position closes at this close, the largest long first.

    A symbol without a candle now closes at its next close (``force``).
    """
    keys, idx = scratch
    m = 0
    for c in range(states.shape[0]):
        u = states[c].units
        if u == 0.0:
            continue
        if close[c] == close[c]:
            insert_sorted(keys, idx, m, -(u * close[c]), c)
            m += 1
        elif force[c] < 0:
            force[c] = reason
    for i in range(m):
        c = idx[i]
        exit_symbol(g, states, recs, c, t, n, reason, eq, close[c], o)


@njit()
def forced_exits(g, states, recs, force, t, n, close, o):
    """Exits left by a gate or ruin, at the first close of each symbol."""
    for c in range(force.shape[0]):
        if force[c] >= 0 and close[c] == close[c]:
            if states[c].units != 0.0:
                exit_symbol(g, states, recs, c, t, n, force[c], np.nan, close[c], o)
            force[c] = -1


@scalar
def mark(g, states, last, close, t):
    """The equity at close ``t`` (each symbol at its last known close); last closes move on."""
    v = g.cash
    for c in range(states.shape[0]):
        p = close[t, c]
        if p == p:
            last[c] = p
        u = states[c].units
        if u != 0.0:
            v += u * last[c]
    return v


@scalar
def due(ob, res, sym, lo_k, hi_k, t, prices):
    """Which steps may act on bar ``t``: ``(market, resting, ending)``.

    ``market``: an open market order decided by ``t``; ``resting``: an open resting
    order decided before ``t`` whose symbol's bar reaches its limit or stop;
    ``ending``: one whose last bar is ``t``. A step not due is not called (a call
    passing arrays costs atomic reference counts on every bar).
    """
    high, low = prices[1], prices[2]
    market, resting, ending = False, False, False
    k = lo_k
    while k < ob.shape[0] and ob[k].bar <= t:
        if res[k].status == STATUS_OPEN:
            if ob[k].type == ORDER_MARKET:
                market = True
            elif k < hi_k:
                ending |= ob[k].expire <= t
                c = sym[k]
                hi, lo = high[t, c], low[t, c]
                if ob[k].side > 0:
                    resting |= lo <= ob[k].price or hi >= ob[k].stop
                else:
                    resting |= hi >= ob[k].price or lo <= ob[k].stop
        k += 1
    return market, resting, ending


@njit()
def run_bars(g, states, prices, day, book, out, recs, o, x):
    """Every bar: equity, cash ``(n,)`` and units ``(n, k)`` in ``out``; records in ``recs``.

    ``x`` is the order options and the per-symbol rules.
    """
    ob, res, sym, trig = book
    open_, close = prices[0], prices[3]
    x, rules = x
    equity, cash, units = out
    n, k = close.shape
    m = ob.shape[0]
    last = np.full(k, np.nan)
    force = np.full(k, -1, np.int64)
    scratch = (np.empty(k), np.empty(k, np.int64))
    guard = (o.max_drawdown == o.max_drawdown or o.daily_loss == o.daily_loss, -np.inf, False)
    lo_k = 0  # orders before lo_k are final
    hi_k = 0  # orders decided before t
    for t in range(n):
        while hi_k < m and ob[hi_k].bar < t:
            hi_k += 1
        while lo_k < hi_k and res[lo_k].status != STATUS_OPEN:
            lo_k += 1
        if t > 0 and day[t] != day[t - 1]:
            g.day_ref = equity[t - 1]
        if not g.ruined:  # steps 1 to 6, each when it may act (no order runs after ruin)
            market, resting, ending = due(ob, res, sym, lo_k, hi_k, t, prices)
            if market and o.next_open and t > 0:  # (1)
                market_step(
                    g,
                    states,
                    recs,
                    ob,
                    res,
                    sym,
                    lo_k,
                    t - 1,
                    t,
                    n,
                    open_,
                    close,
                    last,
                    o,
                    x,
                    rules,
                )
            if resting:  # (3), (4)
                resting_step(
                    g,
                    states,
                    recs,
                    ob,
                    res,
                    sym,
                    trig,
                    (lo_k, hi_k),
                    t,
                    n,
                    prices,
                    last,
                    o,
                    x,
                    rules,
                )
            if market and not o.next_open:  # (5)
                market_step(
                    g, states, recs, ob, res, sym, lo_k, t, t, n, close, close, last, o, x, rules
                )
            if ending:  # (6)
                end_orders(ob, res, lo_k, hi_k, t, OR_NONE)
        for c in range(k):
            if force[c] >= 0:  # a gate or ruin left exits for symbols without a candle
                forced_exits(g, states, recs, force, t, n, close[t], o)
                break
        eq = mark(g, states, last, close, t)
        if guard[0] or eq <= 0.0:
            reason, guard = check_close(g, recs[2], t, n, eq, day, guard, o)
            if reason >= 0:
                g.ruined = reason == REASON_RUIN
                close_all(g, states, recs, force, t, n, reason, eq, close[t], scratch, o)
                if g.ruined:
                    end_orders(ob, res, lo_k, m, t, OR_RUIN)
                eq = mark(g, states, last, close, t)
        equity[t] = eq
        cash[t] = g.cash
        for c in range(k):
            units[t, c] = states[c].units
    for c in range(k):
        st = states[c]
        lend(g, st, g.cash)
        close_open_trade(st, recs[1], c, n, last[c])
        g.nt = st.nt


@njit()
def run_portfolio_orders(open_, high, low, close, day, ob, sym, res, o, x, rules, capacity):
    """Fill orders ``ob`` of symbols ``sym`` on prices ``(n, k)`` (NaN: no candle).

    ``ob`` (:data:`codes.ORDER_DTYPE`) is sorted by decision bar, its prices and
    quantities already on each symbol's tick and lot; ``res``
    (:data:`codes.ORDER_RESULT_DTYPE`) receives what became of each order. ``o``
    is a :class:`sparkbt.engine.kernels.SimOptions`, ``x`` the order options (its lot
    and minimum are not read) and ``rules`` each symbol's tick, lot and minimum value
    ``(3, k)``, NaN: off.
    Returns equity and cash ``(n,)``, units ``(n, k)``, the fill, trade and lock
    matrices and the rows each needed (above ``capacity``: run again with more).
    """
    n, k = close.shape
    out = (np.empty(n), np.empty(n), np.empty((n, k)))
    recs = (
        np.empty((capacity[0], N_ORDER_FILL)),  # put_fill sets the order row
        np.empty((capacity[1], N_TRADE)),
        np.empty((capacity[2], N_LOCK)),
    )
    trig = np.zeros(ob.shape[0], dtype=np.bool_)
    state = np.zeros(1, dtype=STATE_DTYPE)  # the shared record: cash, locks, counts, ruin
    g = state[0]
    reset_state(g, o.cash)
    states = np.zeros(k, dtype=STATE_DTYPE)  # one per symbol: its position and open trade
    for c in range(k):
        reset_state(states[c], 0.0)
    book = (ob, res, sym, trig)
    run_bars(g, states, (open_, high, low, close), day, book, out, recs, o, (x, rules))
    end = state[0]
    return *out, *recs, np.array([end.nf, end.nt, end.nl])
