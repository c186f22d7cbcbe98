"""The order kernel: one compiled per-bar loop that fills one symbol's orders.

The rules are docs/semantics.md "Orders" and "Exchange rules". Orders are a
record array of :data:`codes.ORDER_DTYPE` sorted by (decision bar, row); what
became of each is written to a record array of :data:`codes.ORDER_RESULT_DTYPE`.
The position, trade, lock and record counts live in the target kernel's state
record (:data:`loop_state.STATE_DTYPE`), and stops, gates, ruin, trades and
locks go through the target kernel's phases (:mod:`sparkbt.engine.loop`), so a
position opened by an order is treated exactly as one opened by a target.

Per bar ``t`` with open O, high H, low L, close C:
1. ``next_open``: market orders decided on bar ``t-1`` fill at O (:func:`market_orders`);
2. the engine's stops of a position opened before ``t`` (:func:`engine_stop`);
3. resting orders whose level O already reaches fill at O, oldest first;
4. the other resting orders, oldest first, against L and H (:func:`at_open`, :func:`in_bar`);
5. ``fill="close"``: market orders of bar ``t`` fill at C;
6. orders whose last bar is ``t`` expire; equity is marked; ruin and gates as for targets.

Every fill goes through :func:`fill_order`: a reducing leg (up to the opposite
position), then an opening leg cut by direction (reduce only), a gate lock and
the cash, each leg dropped below the minimum value, quantities truncated to the lot.
"""

from __future__ import annotations

import numpy as np

from sparkbt.engine.codes import (
    GATE_MAX_DRAWDOWN,
    LONG,
    OR_EXPIRED,
    OR_LOCKED,
    OR_MIN_NOTIONAL,
    OR_NO_CASH,
    OR_NONE,
    OR_OCO,
    OR_REDUCE_ONLY,
    OR_RUIN,
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    REASON_RUIN,
    REASON_SIGNAL,
    SHORT,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_OPEN,
    STATUS_PARTIAL,
    STATUS_REJECTED,
)
from sparkbt.engine.loop import (
    book_exit,
    close_open_trade,
    close_trade,
    gate_check,
    gate_out,
    lock_gate,
    stop_scan,
)
from sparkbt.engine.loop_state import (
    N_FILL,
    N_LOCK,
    N_TRADE,
    STATE_DTYPE,
    lot_down,
    njit,
    phase,
    put_fill,
    reset_state,
    scalar,
)

__all__ = ["run_orders"]

N_ORDER_FILL = N_FILL + 1  # the fill matrix of an order run has the order's row last


@scalar
def taker_price(base, side, slip, limit):
    """A taker fill at ``base``: adverse slippage, never past the limit price (NaN: none)."""
    if side > 0:
        px = base * (1.0 + slip)
        return min(px, limit) if limit == limit else px
    px = base * (1.0 - slip)
    return max(px, limit) if limit == limit else px


@scalar
def open_room(st, want, side, px, rate, t, x):
    """Units the opening leg may trade, and why it was cut: direction, a lock, the cash.

    The cash left free is ``cash + units * px - |units| * px`` (a short's proceeds
    are its collateral), so an all-in order sizes as a target of ±1 does.
    """
    if want <= 0.0:
        return 0.0, OR_NONE
    if (x.direction == LONG and side < 0) or (x.direction == SHORT and side > 0):
        return 0.0, OR_REDUCE_ONLY
    if t <= st.locked_until:
        return 0.0, OR_LOCKED
    free = st.cash + st.units * px - abs(st.units) * px
    if want * px * (1.0 + rate) <= free:
        return want, OR_NONE
    if free <= 0.0:
        return 0.0, OR_NO_CASH
    return lot_down(free / (px * (1.0 + rate)), x.lot_size), OR_NO_CASH


@phase
def order_fill(st, fills, k, t, side, qty, px, fee):
    """Count and write one fill of order ``k`` (its row in the last column)."""
    put_fill(fills, st.nf, 0, t, side, qty, px, fee, REASON_SIGNAL)
    if st.nf < fills.shape[0]:
        fills[st.nf, N_FILL] = k
    st.nf += 1


@phase
def reduce_leg(st, recs, k, t, n, side, q, px, rate, o):
    """Give up ``q`` units of the opposite position at ``px``; a flat position ends its trade."""
    fills, trades, locks = recs
    fee = q * px * rate
    if q >= abs(st.units):  # closing: as the target kernel's flatten
        q = abs(st.units)
        fee = q * px * rate
        st.cash = st.cash + q * px - fee if side < 0 else st.cash - q * px - fee
        st.units = 0.0
    else:
        st.cash += -side * q * px - fee
        st.units += side * q
    book_exit(st, fills, True, 0, t, side, q, px, fee, REASON_SIGNAL)
    if st.nf - 1 < fills.shape[0]:
        fills[st.nf - 1, N_FILL] = k
    if st.units == 0.0 and st.in_trade:
        close_trade(st, trades, locks, 0, t, n, REASON_SIGNAL, np.nan, o, True)
    return fee


@phase
def open_leg(st, fills, k, t, side, q, px, rate, entry_close, o):
    """Buy or sell short ``q`` units at ``px``; from flat this opens a trade (stops from ``o``)."""
    fee = q * px * rate
    st.cash = st.cash - (side * q * px + fee)
    st.units = st.units + side * q
    order_fill(st, fills, k, t, side, q, px, fee)
    if not st.in_trade:
        st.in_trade = True
        st.tr_side = side
        st.tr_bar = t
        st.tr_ref = entry_close
        st.tr_trail = entry_close
        st.tr_sl = o.sl_stop
        st.tr_tp = o.tp_stop
        st.in_u = st.in_v = st.in_f = 0.0
        st.out_u = st.out_v = st.out_f = 0.0
    st.in_u += q
    st.in_v += q * px
    st.in_f += fee
    return fee


@scalar
def finish(r, t, qty, done, px, fee, maker, why):
    """Write order result ``r`` after a fill attempt of ``done`` of ``qty`` units."""
    r.end_bar = t
    if done <= 0.0:
        r.status = STATUS_REJECTED
        r.reason = why
        return
    r.status = STATUS_FILLED if done >= qty * (1.0 - 1e-12) else STATUS_PARTIAL
    r.reason = OR_NONE if r.status == STATUS_FILLED else why
    r.fill_bar = t
    r.fill_price = px
    r.filled = done
    r.fee = fee
    r.maker = maker


@njit()
def fill_order(st, recs, ob, res, k, t, n, base, maker, cl, o, x):
    """Fill order ``k`` at ``base`` on bar ``t``: a reducing leg, then an opening leg.

    A maker fill is at ``base`` exactly with ``maker_fees``; a taker fill slips
    adversely (never past the limit) and pays ``fees``. Returns True when
    anything filled (its OCO group is then cancelled).
    """
    side = ob[k].side
    qty = ob[k].qty
    rate = x.maker_fees if maker else o.fees
    px = base if maker else taker_price(base, side, o.slippage, ob[k].price)
    red = min(qty, abs(st.units)) if st.units * side < 0.0 else 0.0
    if red > 0.0 and red * px < x.min_notional:
        finish(res[k], t, qty, 0.0, px, 0.0, maker, OR_MIN_NOTIONAL)
        return False
    fee = 0.0
    if red > 0.0:
        fee += reduce_leg(st, recs, k, t, n, side, red, px, rate, o)
    q, why = open_room(st, qty - red, side, px, rate, t, x)
    if q > 0.0 and q * px < x.min_notional:
        q, why = 0.0, OR_MIN_NOTIONAL
    if q > 0.0:
        fee += open_leg(st, recs[0], k, t, side, q, px, rate, cl, o)
    finish(res[k], t, qty, red + q, px, fee, maker, why)
    return red + q > 0.0


@scalar
def cancel_oco(ob, res, lo_k, k, t):
    """Order ``k`` filled: the other open orders of its OCO group decided by ``t`` are cancelled.

    Orders before ``lo_k`` are final already, so the scan starts there.
    """
    g = ob[k].oco
    if g < 0:
        return
    for i in range(lo_k, ob.shape[0]):
        if ob[i].bar > t:
            break
        if i != k and ob[i].oco == g and res[i].status == STATUS_OPEN:
            res[i].status = STATUS_CANCELLED
            res[i].reason = OR_OCO
            res[i].end_bar = t


@scalar
def at_open(order, triggered, o_):
    """Step 3: whether resting ``order`` fills at the open ``o_``, and whether it is
    triggered after it (a stop-limit whose stop the open reaches is a limit from then on).

    The helpers of a bar take an order's record and scalars, never arrays: passing an
    array costs atomic reference counting on every call.
    """
    side = order.side
    typ = order.type
    p = order.price
    s = order.stop
    if typ == ORDER_STOP:
        return (o_ >= s if side > 0 else o_ <= s), triggered
    if typ != ORDER_LIMIT and not triggered:  # an untriggered stop-limit
        if (side > 0 and o_ < s) or (side < 0 and o_ > s):
            return False, False
        triggered = True  # the open is at or through the stop: a limit from here on
    return (o_ <= p if side > 0 else o_ >= p), triggered


@scalar
def in_bar(order, triggered, hi, lo):
    """Step 4: the price at which resting ``order`` fills inside the bar, whether as maker,
    and whether it is triggered after it.

    NaN when it does not fill. A stop-limit whose stop the bar reaches fills at
    the stop when its limit is beyond it, else rests as a limit from the next bar.
    """
    side = order.side
    typ = order.type
    p = order.price
    s = order.stop
    if typ == ORDER_LIMIT or (typ != ORDER_STOP and triggered):
        if (side > 0 and lo <= p) or (side < 0 and hi >= p):
            return p, True, triggered
        return np.nan, False, triggered
    if (side > 0 and hi < s) or (side < 0 and lo > s):
        return np.nan, False, triggered
    if typ == ORDER_STOP or (side > 0 and p > s) or (side < 0 and p < s):
        return s, False, triggered
    return np.nan, False, True


@scalar
def widen(lv, order):
    """The book's extremes ``lv`` with resting ``order`` added (NaN levels are skipped).

    ``lv`` holds the highest buy limit, lowest buy stop, lowest sell limit,
    highest sell stop and earliest last bar of the open resting orders: a bar
    whose range reaches none of these levels, before that last bar, cannot fill,
    trigger or expire any of them.
    """
    bp, bs, sp, ss, last = lv
    price, stop = order.price, order.stop
    if order.side > 0:
        bp = max(bp, price) if price == price else bp
        bs = min(bs, stop) if stop == stop else bs
    else:
        sp = min(sp, price) if price == price else sp
        ss = max(ss, stop) if stop == stop else ss
    return bp, bs, sp, ss, min(last, order.expire)


@scalar
def book_levels(ob, res, lo_k, hi_k):
    """The extremes (see :func:`widen`) of the open resting orders ``lo_k..hi_k``."""
    lv = (-np.inf, np.inf, np.inf, -np.inf, np.iinfo(np.int64).max)
    for k in range(lo_k, hi_k):
        if res[k].status == STATUS_OPEN and ob[k].type != ORDER_MARKET:
            lv = widen(lv, ob[k])
    return lv


@scalar
def has_market(ob, k, t):
    """Whether a market order is decided on bar ``t`` (orders from ``k`` on)."""
    while k < ob.shape[0] and ob[k].bar == t:
        if ob[k].type == ORDER_MARKET:
            return True
        k += 1
    return False


@njit()
def market_orders(st, recs, ob, res, lo_k, s, t, n, base, cl, o, x):
    """Steps 1 and 5: market orders decided on bar ``s`` fill at ``base`` on bar ``t``."""
    for k in range(lo_k, ob.shape[0]):
        if ob[k].bar > s:
            break
        if ob[k].bar != s or ob[k].type != ORDER_MARKET or res[k].status != STATUS_OPEN:
            continue
        if fill_order(st, recs, ob, res, k, t, n, base, False, cl, o, x):
            cancel_oco(ob, res, lo_k, k, t)


@njit()
def engine_stop(st, recs, t, n, bar, o):
    """Step 2: the engine's stops close a position opened before ``t``, as for targets."""
    o_, hi, lo, _ = bar
    price, reason, st.tr_trail = stop_scan(
        st.tr_side, o_, hi, lo, st.tr_trail, st.tr_ref, st.tr_sl, st.tr_tp, o.sl_trail
    )
    if price != price:
        return
    fills, trades, locks = recs
    side = -1.0 if st.units > 0 else 1.0
    px = price * (1.0 + o.slippage) if side > 0 else price * (1.0 - o.slippage)
    q = abs(st.units)
    fee = q * px * o.fees
    st.cash = st.cash + q * px - fee if side < 0 else st.cash - q * px - fee
    st.units = 0.0
    book_exit(st, fills, True, 0, t, side, q, px, fee, reason)
    close_trade(st, trades, locks, 0, t, n, reason, np.nan, o, True)


@scalar
def end_orders(ob, res, lo_k, hi_k, t, reason):
    """Open orders ``lo_k..hi_k`` that may not fill after ``t`` expire (or all end, for ruin)."""
    for k in range(lo_k, hi_k):
        r = res[k]
        if r.status != STATUS_OPEN:
            continue
        if reason == OR_RUIN:
            r.status = STATUS_CANCELLED
            r.reason = OR_RUIN
            r.end_bar = t
        elif ob[k].type != ORDER_MARKET and ob[k].expire <= t:
            r.status = STATUS_EXPIRED
            r.reason = OR_EXPIRED
            r.end_bar = t


@njit()
def close_gates(st, recs, t, n, eq, cl, day, gates_on, peak, rearm, o):
    """Step 6: ruin and gates at this close (as :func:`loop.run_column`): ``(peak, rearm)``."""
    fills, trades, locks = recs
    reason = REASON_RUIN if eq <= 0.0 else -1
    if gates_on:
        reason, gate, peak, rearm = gate_check(eq, peak, rearm, st.day_ref, t, st.locked_until, o)
        if gate >= 0:
            last = lock_gate(st, locks, 0, t, n, gate, eq, day, o)
            if gate == GATE_MAX_DRAWDOWN:
                rearm = last < n - 1
    if reason >= 0:
        gate_out(st, fills, trades, locks, True, 0, t, n, reason, eq, cl, o)
    return peak, rearm


@njit()
def run_bars(st, prices, day, ob, res, trig, out, recs, o, x):
    """One symbol's bars: equity, units and cash in ``out``; fills, trades, locks in ``recs``."""
    open_, high, low, close = prices
    equity, units, cash = out
    n = close.shape[0]
    m = ob.shape[0]
    daily = o.daily_loss == o.daily_loss  # the only reader of ``day`` (empty without it)
    gates_on = o.max_drawdown == o.max_drawdown or daily
    peak = -np.inf
    rearm = False
    lo_k = 0  # orders before lo_k are final
    hi_k = 0  # orders decided before t
    lv = book_levels(ob, res, 0, 0)  # the resting orders' extremes, kept without a scan
    stale = False  # an order left the book: lv is rebuilt (it stays a bound meanwhile)
    for t in range(n):
        was_k = hi_k  # orders decided on bar t-1 start here
        while hi_k < m and ob[hi_k].bar < t:
            hi_k += 1
        while lo_k < hi_k and res[lo_k].status != STATUS_OPEN:
            lo_k += 1
        if stale:
            lv = book_levels(ob, res, lo_k, hi_k)
            stale = False
        else:
            for k in range(was_k, hi_k):
                if res[k].status == STATUS_OPEN and ob[k].type != ORDER_MARKET:
                    lv = widen(lv, ob[k])
        if st.ruined:
            equity[t], units[t] = st.cash, 0.0
            if cash.shape[0]:
                cash[t] = st.cash
            continue
        if daily and t > 0 and day[t] != day[t - 1]:
            st.day_ref = equity[t - 1]
        lock_from = st.nl
        o_, hi, lo, cl = open_[t], high[t], low[t], close[t]
        # each phase runs only when it may act, and the steps over the book are written
        # out here: a call passing arrays costs atomic reference counts
        if o.next_open and has_market(ob, was_k, t - 1):  # (1)
            market_orders(st, recs, ob, res, lo_k, t - 1, t, n, o_, cl, o, x)
            stale = True  # a fill may cancel its OCO group
        if st.in_trade and st.tr_bar < t and (st.tr_sl == st.tr_sl or st.tr_tp == st.tr_tp):
            engine_stop(st, recs, t, n, (o_, hi, lo, cl), o)  # (2)
        if lo <= lv[0] or hi >= lv[1] or hi >= lv[2] or lo <= lv[3]:  # (3) at the open, (4) inside
            for step in range(2):
                for k in range(lo_k, hi_k):
                    if res[k].status != STATUS_OPEN or ob[k].type == ORDER_MARKET:
                        continue
                    if ob[k].expire < t:
                        continue
                    if step == 0:
                        go, trig[k] = at_open(ob[k], trig[k], o_)
                        price, maker = o_, False
                    else:
                        price, maker, trig[k] = in_bar(ob[k], trig[k], hi, lo)
                        go = price == price
                    if go and fill_order(st, recs, ob, res, k, t, n, price, maker, cl, o, x):
                        cancel_oco(ob, res, lo_k, k, t)
            stale = True
        if not o.next_open and has_market(ob, hi_k, t):  # (5)
            market_orders(st, recs, ob, res, lo_k, t, t, n, cl, cl, o, x)
            stale = True
        if lv[4] <= t:  # (6)
            end_orders(ob, res, lo_k, hi_k, t, OR_NONE)
            stale = True
        eq = st.cash + st.units * cl
        if st.nl > lock_from:
            locks = recs[2]
            for k in range(lock_from, min(st.nl, locks.shape[0])):
                locks[k, 4] = eq
        if gates_on or eq <= 0.0:
            peak, rearm = close_gates(st, recs, t, n, eq, cl, day, gates_on, peak, rearm, o)
        if st.ruined:
            end_orders(ob, res, lo_k, m, t, OR_RUIN)
        equity[t] = st.cash + st.units * cl
        units[t] = st.units
        if cash.shape[0]:  # (an empty cash curve: not asked for)
            cash[t] = st.cash
    close_open_trade(st, recs[1], 0, n, close[n - 1])


@njit()
def run_orders(open_, high, low, close, day, ob, res, o, x, capacity, want_cash):
    """Fill orders ``ob`` (:data:`codes.ORDER_DTYPE`, sorted by decision bar) on one symbol.

    ``o`` is a :class:`sparkbt.engine.kernels.SimOptions`, ``x`` the order options
    (direction, maker fee rate, lot step, minimum value; NaN = off). ``res``
    (:data:`codes.ORDER_RESULT_DTYPE`, one per order, open or already rejected)
    receives what became of each order. Returns equity, units and cash ``(n,)`` (cash
    empty unless ``want_cash``),
    the fill, trade and lock matrices and the rows each needed (a count above
    its ``capacity`` means: run again with more).
    """
    n = close.shape[0]
    m = ob.shape[0]
    out = (np.empty(n), np.empty(n), np.empty(n if want_cash else 0))
    recs = (
        np.empty((capacity[0], N_ORDER_FILL)),  # put_fill sets the order row
        np.empty((capacity[1], N_TRADE)),
        np.empty((capacity[2], N_LOCK)),
    )
    trig = np.zeros(m, dtype=np.bool_)
    state = np.zeros(1, dtype=STATE_DTYPE)
    st = state[0]
    reset_state(st, o.cash)
    run_bars(st, (open_, high, low, close), day, ob, res, trig, out, recs, o, x)
    end = state[0]
    return *out, *recs, np.array([end.nf, end.nt, end.nl])
