"""A plain per-bar Python loop of the portfolio rules (docs/semantics.md), for tests.

Slow and obvious on purpose: the compiled kernel must agree with it. Fill at
the close or the next open, fees, slippage, cash-limited buys, NaN weights
(hold) and NaN prices (no candle). No gates.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Reference(NamedTuple):
    equity: np.ndarray  # (n,)
    cash: np.ndarray  # (n,)
    units: np.ndarray  # (n, k)
    orders: list[tuple[int, int, float, float, float]]  # bar, symbol, units (signed), price, fee
    rejected: int


def simulate(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    *,
    cash: float = 10_000.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    next_open: bool = False,
) -> Reference:
    n, k = close.shape
    units = np.zeros(k)
    last = np.full(k, np.nan)
    eq, cash_out, held = np.zeros(n), np.zeros(n), np.zeros((n, k))
    orders: list[tuple[int, int, float, float, float]] = []
    rejected = 0
    for t in range(n):
        wt = None
        if next_open and t > 0:
            wt, price = weights[t - 1], open_[t]
        elif not next_open:
            wt, price = weights[t], close[t]
        if wt is not None:
            mark = np.where(np.isnan(price), last, price)
            value = cash + sum(units[c] * mark[c] for c in range(k) if units[c] != 0.0)
            plan = []
            for c in range(k):
                if np.isnan(wt[c]) or np.isnan(price[c]):
                    continue
                size = wt[c] * value
                size = size / price[c]
                size = size - units[c]
                plan.append((wt[c] * value - units[c] * price[c], c, size))
            plan.sort(key=lambda x: x[0])  # stable: ties keep column order
            for _, c, size in plan:
                if abs(size) <= 1e-12:
                    continue
                fill = price[c] * (1 + slippage) if size > 0 else price[c] * (1 - slippage)
                if size > 0:
                    cost = size * fill * (1 + fees)
                    if cost > cash and not np.isclose(cost, cash, rtol=1e-9, atol=0):
                        if cash <= 0:
                            rejected += 1
                            continue
                        size = cash / (1 + fees) / fill
                        cost = cash
                    elif cost > cash:
                        cost = cash
                    fee = size * fill * fees
                    cash = cash - cost if cost != cash else 0.0
                else:
                    fee = -size * fill * fees
                    cash += -size * fill - fee
                if abs(cash) < 1e-12:
                    cash = 0.0
                units[c] += size
                orders.append((t, c, size, fill, fee))
        has = ~np.isnan(close[t])
        last[has] = close[t][has]
        eq[t] = cash + sum(units[c] * last[c] for c in range(k) if units[c] != 0.0)
        cash_out[t] = cash
        held[t] = units
    return Reference(eq, cash_out, held, orders, rejected)
