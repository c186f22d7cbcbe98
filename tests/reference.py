"""A plain per-bar reference simulator written straight from SEMANTICS.md.

Deliberately naive (a Python loop over bars, one fill at a time) so that the
vectorized kernels can be checked against an independent reading of the rules.
"""

from __future__ import annotations

import numpy as np


def reference_simulate(close, targets, cash=10_000.0, fees=0.0, slippage=0.0, direction="long"):
    """Return (equity, units, fills, trades) for one column of targets."""
    c, u = float(cash), 0.0
    held = 0.0  # target held after the previous bar
    last = 0.0  # last non-NaN opinion
    equity, units, fills, trades = [], [], [], []
    trade = None

    def fill(t, side, qty, price):
        nonlocal c, u
        fee = qty * price * fees
        if side > 0:
            c -= qty * price + fee
            u += qty
        else:
            c += qty * price - fee
            u -= qty
        if qty > 0:  # a size that underflows to zero units is no fill
            fills.append((t, side, qty, price, fee))
        return fee

    def reduce(t, qty):
        nonlocal trade
        if u > 0:
            price = close[t] * (1 - slippage)
            fee = fill(t, -1, qty, price)
        else:
            price = close[t] * (1 + slippage)
            fee = fill(t, +1, qty, price)
        trade["out_units"] += qty
        trade["out_value"] += qty * price
        trade["out_fee"] += fee

    for t in range(len(close)):
        x = targets[t]
        if not np.isnan(x):
            last = x
        x = last
        if direction == "long":
            x = max(x, 0.0)
        elif direction == "short":
            x = min(x, 0.0)
        if x != held:
            old = held
            if old != 0 and (x == 0 or np.sign(x) != np.sign(old)):
                reduce(t, abs(u))
                u = 0.0
                if trade["in_units"] > 0:
                    trades.append(_finish(trade, t, False))
                trade, old = None, 0.0
            if x != 0 and abs(x) > abs(old):
                free = c + u * close[t] - abs(u) * close[t]
                commit = max(free, 0.0) * (abs(x) - abs(old)) / (1 - abs(old))
                side = 1 if x > 0 else -1
                price = close[t] * (1 + slippage) if side > 0 else close[t] * (1 - slippage)
                qty = commit / (price * (1 + fees))
                if trade is None:
                    trade = dict(
                        side=side,
                        entry_bar=t,
                        in_units=0.0,
                        in_value=0.0,
                        in_fee=0.0,
                        out_units=0.0,
                        out_value=0.0,
                        out_fee=0.0,
                    )
                fee = fill(t, side, qty, price)
                trade["in_units"] += qty
                trade["in_value"] += qty * price
                trade["in_fee"] += fee
            elif x != 0 and abs(x) < abs(old):
                reduce(t, abs(u) * (1 - abs(x) / abs(old)))
            held = x
        equity.append(c + u * close[t])
        units.append(u)
    if trade is not None:
        trade["out_value"] += abs(u) * close[-1]
        trade["out_units"] += abs(u)
        if trade["in_units"] > 0:
            trades.append(_finish(trade, len(close) - 1, True))
    return np.array(equity), np.array(units), fills, trades


def _finish(tr, bar, is_open):
    gross = tr["out_value"] - tr["in_value"]
    if tr["side"] < 0:
        gross = -gross
    pnl = gross - tr["in_fee"] - tr["out_fee"]
    return dict(
        side=tr["side"],
        entry_bar=tr["entry_bar"],
        exit_bar=bar,
        units=tr["in_units"],
        in_value=tr["in_value"],
        pnl=pnl,
        ret=pnl / tr["in_value"],
        fees=tr["in_fee"] + tr["out_fee"],
        is_open=is_open,
    )
