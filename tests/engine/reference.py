"""A plain per-bar reference simulator written straight from docs/semantics.md.

Deliberately naive (a Python loop over bars, one fill at a time) so that the
vectorized kernels can be checked against an independent reading of the rules.
Each bar runs the steps a..g of the engine v2 decisions, in that order:
a. next_open fill of the order made on the previous bar, b. stops, c. signal order,
d. mark, e. ruin, f. gates, g. record.
"""

from __future__ import annotations

import math

import numpy as np


def _prepare(targets, direction):
    """Forward-fill NaN (0 before the first value) and clip by direction."""
    out, last = [], 0.0
    for v in targets:
        if not math.isnan(v):
            last = float(v)
        if direction == "long":
            out.append(max(last, 0.0))
        elif direction == "short":
            out.append(min(last, 0.0))
        else:
            out.append(last)
    return out


def _sign(x):
    return 1 if x > 0 else -1


def reference_simulate(
    open,
    high,
    low,
    close,
    targets,
    *,
    day=None,
    cash=10_000.0,
    fees=0.0,
    slippage=0.0,
    direction="long",
    fill="close",
    sl_stop=None,
    tp_stop=None,
    sl_trail=False,
    gates=None,
    sl=None,
    tp=None,
):
    """Return a dict: equity (np.ndarray), units (np.ndarray), fills (list of dicts: bar, side
    (+1 buy/-1 sell), units, price, fee, reason), trades (list of dicts: side (+1/-1), entry_bar,
    exit_bar, units, entry_price, exit_price, entry_fee, exit_fee, pnl, ret, exit_reason,
    is_open), locks (list of dicts: gate, first_bar, last_bar, equity, limit), ruined (bool)."""
    n = len(close)
    day = [0] * n if day is None else [int(d) for d in day]
    gates = gates or {}
    max_dd, daily = gates.get("max_drawdown"), gates.get("daily_loss")
    streak_n, cooldown = gates.get("loss_streak"), gates.get("cooldown")
    prep = _prepare(targets, direction)

    s = dict(
        cash=float(cash), u=0.0, held=0.0, wait_edge=False, locked_until=-1, streak=0, rearm=-1
    )
    trade = None  # the open trade, as a dict of running totals
    fills, trades, locks = [], [], []

    def make_fill(t, side, qty, base, reason):
        price = base * (1 + slippage) if side > 0 else base * (1 - slippage)
        fee = qty * price * fees
        if side > 0:
            s["cash"] -= qty * price + fee
        else:
            s["cash"] += qty * price - fee
        s["u"] += side * qty
        fills.append(dict(bar=t, side=side, units=qty, price=price, fee=fee, reason=reason))
        return price, fee

    def reduce(t, qty, base, reason):
        """Fill against the open trade; a qty of all the units closes it. Returns the trade record
        when the trade is closed, else None."""
        nonlocal trade
        # a residue under 1e-12 of the quantity sold is rounding, not a position
        closing = qty >= abs(s["u"]) or abs(s["u"]) - qty < 1e-12 * qty
        price, fee = make_fill(t, -_sign(s["u"]), qty, base, reason)
        trade["out_units"] += qty
        trade["out_value"] += qty * price
        trade["out_fee"] += fee
        if not closing:
            return None
        s["u"] = 0.0
        rec = _finish(trade, t, reason, False)
        trades.append(rec)
        trade = None
        return rec

    def close_all(t, base, reason):
        """Close the whole position (if any); returns the closed trade record or None."""
        if s["u"] == 0 or trade is None:
            return None
        return reduce(t, abs(s["u"]), base, reason)

    def lock(gate, t, last, limit):
        """Record a lock row if it extends the current lock (equity is filled in at step g)."""
        last = min(last, n - 1)
        if last > s["locked_until"]:
            locks.append(dict(gate=gate, first_bar=t, last_bar=last, equity=None, limit=limit))
            s["locked_until"] = last
            if gate == "max_drawdown":
                s["rearm"] = last + 1

    def after_close(t, rec):
        """Loss streak and cooldown after a closing fill (any reason except ruin)."""
        if streak_n is not None:
            s["streak"] = s["streak"] + 1 if rec["pnl"] < 0 else 0
            if s["streak"] >= streak_n:
                lock("loss_streak", t, t + cooldown if cooldown is not None else n - 1, streak_n)
                s["streak"] = 0
                s["held"], s["wait_edge"] = 0.0, True
        if cooldown is not None and cooldown >= 1:
            lock("cooldown", t, t + cooldown, cooldown)
            s["wait_edge"] = True

    def trade_to(t, old, x, sig_bar, base):
        """Trade the position from prepared target old to x at base price (close or open)."""
        nonlocal trade
        if old != 0 and (x == 0 or _sign(x) != _sign(old)):  # exit leg
            rec = close_all(t, base, "signal")
            if rec is not None:
                after_close(t, rec)
            old = 0.0
        if x != 0 and abs(x) > abs(old):  # entry leg (from flat or adding on the same side)
            if t <= s["locked_until"]:  # the fill bar is locked: not made
                if s["u"] == 0:
                    s["held"], s["wait_edge"] = 0.0, True
                return
            side = _sign(x)
            u = s["u"]
            free = s["cash"] + u * base - abs(u) * base
            commit = max(free, 0.0) * (abs(x) - abs(old)) / (1 - abs(old))
            price = base * (1 + slippage) if side > 0 else base * (1 - slippage)
            qty = commit / (price * (1 + fees))
            if qty == 0:  # a size that underflows to zero units is no fill
                return
            if trade is None:
                stop = sl[sig_bar] if sl is not None and not math.isnan(sl[sig_bar]) else sl_stop
                take = tp[sig_bar] if tp is not None and not math.isnan(tp[sig_bar]) else tp_stop
                trade = dict(
                    side=side,
                    entry_bar=t,
                    sl=stop,
                    tp=take,
                    ref=close[t],
                    in_units=0.0,
                    in_value=0.0,
                    in_fee=0.0,
                    out_units=0.0,
                    out_value=0.0,
                    out_fee=0.0,
                )
            price, fee = make_fill(t, side, qty, base, "signal")
            trade["in_units"] += qty
            trade["in_value"] += qty * price
            trade["in_fee"] += fee
        elif x != 0 and abs(x) < abs(old):  # partial exit on the same side
            qty = abs(s["u"]) * (1 - abs(x) / abs(old))
            if qty > 0:
                rec = reduce(t, qty, base, "signal")
                if rec is not None:  # rounded to the whole position: the trade is closed
                    after_close(t, rec)

    def check_stops(t):
        """Step b for an open trade entered before bar t; returns True when a stop fired."""
        side, stop, take = trade["side"], trade["sl"], trade["tp"]
        entry = close[trade["entry_bar"]]
        o, h, lo = open[t], high[t], low[t]
        hit = None
        stop_reason = "trailing_stop" if sl_trail else "stop_loss"
        if side > 0:
            lvl_s = trade["ref"] * (1 - stop) if stop is not None else None
            lvl_p = entry * (1 + take) if take is not None else None
            if lvl_s is not None and o <= lvl_s:
                hit = (o, stop_reason)
            elif lvl_p is not None and o >= lvl_p:
                hit = (o, "take_profit")
            elif lvl_s is not None and lo <= lvl_s:
                hit = (lvl_s, stop_reason)
            elif lvl_p is not None and h >= lvl_p:
                hit = (lvl_p, "take_profit")
        else:
            lvl_s = trade["ref"] * (1 + stop) if stop is not None else None
            lvl_p = entry * (1 - take) if take is not None else None
            if lvl_s is not None and o >= lvl_s:
                hit = (o, stop_reason)
            elif lvl_p is not None and o <= lvl_p:
                hit = (o, "take_profit")
            elif lvl_s is not None and h >= lvl_s:
                hit = (lvl_s, stop_reason)
            elif lvl_p is not None and lo <= lvl_p:
                hit = (lvl_p, "take_profit")
        if hit is None:
            if sl_trail:  # the trailing reference moves after this bar's check
                trade["ref"] = max(trade["ref"], h) if side > 0 else min(trade["ref"], lo)
            return False
        rec = close_all(t, hit[0], hit[1])
        s["held"], s["wait_edge"] = 0.0, True
        after_close(t, rec)
        return True

    equity, units = [], []
    pending = None  # (old, x, signal bar) of a next_open order
    ruined = False
    peak = None
    day_ref = float(cash)
    for t in range(n):
        if t > 0 and day[t] != day[t - 1]:
            day_ref = equity[t - 1]  # final equity of the last bar of the previous day
        if not ruined:
            # a. the order made on bar t-1 fills at this bar's open
            if pending is not None:
                old, x, sig_bar = pending
                pending = None
                trade_to(t, old, x, sig_bar, open[t])
            # b. stops
            stopped = False
            if trade is not None and s["u"] != 0 and trade["entry_bar"] < t:
                stopped = check_stops(t)
            # c. signal order
            if not stopped:
                x = prep[t]
                edge = x != (prep[t - 1] if t > 0 else 0.0)
                order = None
                if s["wait_edge"]:
                    if edge and x != 0:
                        s["wait_edge"] = False
                        order = (0.0, x)
                elif x != s["held"]:
                    order = (s["held"], x)
                if order is not None:
                    s["held"] = x
                    if fill == "close":
                        trade_to(t, order[0], x, t, close[t])
                    elif t < n - 1:
                        pending = (order[0], x, t)
        # d. mark
        eq = s["cash"] + s["u"] * close[t]
        # e. ruin
        if not ruined and eq <= 0:
            close_all(t, close[t], "ruin")
            pending, ruined = None, True
            s["held"] = 0.0
        # f. gates, each checked only while bar t is not locked
        if not ruined:
            peak = eq if peak is None or t == s["rearm"] else max(peak, eq)
            for gate, limit in (("max_drawdown", max_dd), ("daily_loss", daily)):
                if limit is None or t <= s["locked_until"]:
                    continue
                if gate == "max_drawdown":
                    hit = 1 - eq / peak >= limit
                    last = t + cooldown if cooldown is not None else n - 1
                else:
                    hit = eq <= day_ref * (1 - limit)
                    last = t
                    while last + 1 < n and day[last + 1] == day[t]:
                        last += 1
                if hit:
                    rec = close_all(t, close[t], "gate")
                    pending = None
                    s["held"], s["wait_edge"] = 0.0, True
                    lock(gate, t, last, limit)
                    if rec is not None:
                        after_close(t, rec)
        # g. record; a lock row holds the equity marked at d of its trigger bar
        for row in locks:
            if row["equity"] is None:
                row["equity"] = eq
        equity.append(s["cash"] + s["u"] * close[t])
        units.append(s["u"])
    if trade is not None:
        trade["out_value"] += abs(s["u"]) * close[-1]
        trade["out_units"] += abs(s["u"])
        trades.append(_finish(trade, n - 1, "open", True))
    return dict(
        equity=np.array(equity),
        units=np.array(units),
        fills=fills,
        trades=trades,
        locks=locks,
        ruined=ruined,
    )


def _finish(tr, bar, reason, is_open):
    gross = tr["out_value"] - tr["in_value"]
    if tr["side"] < 0:
        gross = -gross
    pnl = gross - tr["in_fee"] - tr["out_fee"]
    return dict(
        side=tr["side"],
        entry_bar=tr["entry_bar"],
        exit_bar=bar,
        units=tr["in_units"],
        entry_price=tr["in_value"] / tr["in_units"],
        exit_price=tr["out_value"] / tr["out_units"],
        entry_fee=tr["in_fee"],
        exit_fee=tr["out_fee"],
        pnl=pnl,
        ret=pnl / tr["in_value"],
        exit_reason=reason,
        is_open=is_open,
    )
