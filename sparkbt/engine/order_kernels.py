"""The order kernel's array interface: orders in, equity, fills, trades and order results out.

One symbol's orders (docs/semantics.md "Orders" and "Exchange rules") as a
struct of arrays, one row per order sorted by (decision bar, row), run through
the compiled loop :mod:`sparkbt.engine.order_loop`. Exchange rules that act on
the orders themselves (tick rounding of prices, lot truncation of quantities,
time in force as a last bar) are applied here; the loop applies the rest
(cash and reduce-only cuts, the lot on cut quantities, the minimum value).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sparkbt.engine.codes import (
    LOCK_DTYPE,
    LONG,
    OR_LOT,
    ORDER_DTYPE,
    ORDER_FILL_DTYPE,
    ORDER_LIMIT,
    ORDER_RESULT_DTYPE,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    ORDER_TYPES,
    STATUS_OPEN,
    STATUS_REJECTED,
    TIF_GTD,
    TIF_IOC,
    TRADE_DTYPE,
    records,
)
from sparkbt.engine.kernels import Market, SimOptions
from sparkbt.errors import InputError

__all__ = [
    "KernelRules",
    "OrderOptions",
    "OrderOutput",
    "Orders",
    "order_book",
    "order_results",
    "simulate_orders",
    "to_steps",
]


class Orders(NamedTuple):
    """One symbol's orders, one row each, sorted by (``bar``, row)."""

    bar: np.ndarray  # int64: the bar it was decided on
    side: np.ndarray  # int8: +1 buy, -1 sell
    qty: np.ndarray  # float64 units > 0
    type: np.ndarray  # int8: codes.ORDER_TYPES
    price: np.ndarray  # float64 limit price (NaN: none)
    stop: np.ndarray  # float64 stop price (NaN: none)
    tif: np.ndarray  # int8: codes.TIFS
    expire: np.ndarray  # int64: last bar a GTD order may fill on (ignored otherwise)
    oco: np.ndarray  # int64: OCO group (-1: none)


class OrderOptions(NamedTuple):
    """Options of order runs beyond :class:`SimOptions` (NaN = off)."""

    direction: int = LONG  # codes.LONG / SHORT / BOTH: LONG sells reduce only
    maker_fees: float = float("nan")  # fee rate of maker fills (NaN: ``fees``)
    tick_size: float = float("nan")
    lot_size: float = float("nan")
    min_notional: float = float("nan")


class OrderOutput(NamedTuple):
    """Result of an order run: per-bar arrays ``(n,)``, records, and one result per order."""

    equity: np.ndarray
    units: np.ndarray
    cash: np.ndarray  # empty when not asked for (simulate_orders cash_curve=False)
    fills: np.ndarray  # ORDER_FILL_DTYPE, in the order they happened
    trades: np.ndarray  # TRADE_DTYPE
    locks: np.ndarray  # LOCK_DTYPE
    orders: np.ndarray  # ORDER_RESULT_DTYPE, one per order row


def _tick(p: np.ndarray, tick: float | np.ndarray, up: np.ndarray) -> np.ndarray:
    """Prices rounded to the tick: up where ``up``, else down (a 1e-9 step slack for floats)."""
    steps = np.where(up, np.ceil(p / tick - 1e-9), np.floor(p / tick + 1e-9))
    return steps * tick


def _check(orders: Orders, n: int) -> None:
    bar = np.asarray(orders.bar)
    if len(bar) and (bar.min() < 0 or bar.max() >= n):
        raise InputError("an order's bar is outside the candles")
    if np.any(np.diff(bar) < 0):
        raise InputError("orders must be sorted by their bar")
    side = np.asarray(orders.side)
    if not ((side == 1) | (side == -1)).all():
        raise InputError("an order's side must be +1 (buy) or -1 (sell)")
    if not np.all(np.asarray(orders.qty, dtype=np.float64) > 0):
        raise InputError("an order's qty must be > 0")
    typ = np.asarray(orders.type)
    if not ((typ >= 0) & (typ < len(ORDER_TYPES))).all():
        raise InputError("unknown order type code")
    needs_price = (typ == ORDER_LIMIT) | (typ == ORDER_STOP_LIMIT)
    needs_stop = (typ == ORDER_STOP) | (typ == ORDER_STOP_LIMIT)
    if np.any(needs_price & ~(np.asarray(orders.price) > 0)):
        raise InputError("a limit or stop-limit order needs a price > 0")
    if np.any(needs_stop & ~(np.asarray(orders.stop) > 0)):
        raise InputError("a stop or stop-limit order needs a stop > 0")


def order_book(orders: Orders, n: int, rules: OrderOptions = OrderOptions()) -> np.ndarray:
    """The kernel's order records (:data:`codes.ORDER_DTYPE`) for ``n`` bars.

    Time in force becomes a last bar (GTC: ``n``, never; IOC: the first eligible
    bar; GTD: ``expire``); prices and quantities are put on the rules' tick and lot
    (:func:`to_steps`).
    """
    _check(orders, n)
    ob = np.zeros(len(orders.bar), dtype=ORDER_DTYPE)
    for name in ("bar", "side", "qty", "type", "price", "stop", "oco"):
        ob[name] = getattr(orders, name)
    tif = np.asarray(orders.tif)
    ob["expire"] = np.where(
        tif == TIF_GTD, orders.expire, np.where(tif == TIF_IOC, ob["bar"] + 1, n)
    )
    to_steps(ob, rules.tick_size, rules.lot_size)
    return ob


def to_steps(ob: np.ndarray, tick: float | np.ndarray, lot: float | np.ndarray) -> None:
    """Put orders ``ob`` on the exchange's steps, in place: buy limits and sell stops round
    down to the ``tick``, sell limits and buy stops up; quantities truncate down to the
    ``lot``. Each is one number or one per order (a portfolio's symbols); NaN: none."""
    n = len(ob)
    ticks = np.broadcast_to(np.asarray(tick, dtype=np.float64), n)
    lots = np.broadcast_to(np.asarray(lot, dtype=np.float64), n)
    has = ~np.isnan(ticks)
    if has.any():
        buy = ob["side"][has] > 0
        ob["price"][has] = _tick(ob["price"][has], ticks[has], ~buy)
        ob["stop"][has] = _tick(ob["stop"][has], ticks[has], buy)
    has = ~np.isnan(lots)
    if has.any():
        ob["qty"][has] = np.floor(ob["qty"][has] / lots[has] + 1e-9) * lots[has]


def order_results(ob: np.ndarray) -> np.ndarray:
    """One open result per order of ``ob`` (rejected already when the lot left no units)."""
    res = np.zeros(len(ob), dtype=ORDER_RESULT_DTYPE)
    res["status"] = np.where(ob["qty"] > 0, STATUS_OPEN, STATUS_REJECTED)
    res["reason"] = np.where(ob["qty"] > 0, 0, OR_LOT)  # truncated to no lot at all
    res["fill_bar"] = -1
    res["fill_price"] = np.nan
    res["end_bar"] = np.where(ob["qty"] > 0, -1, ob["bar"])  # no lot: refused when decided
    return res


def simulate_orders(
    market: Market,
    orders: Orders,
    options: SimOptions,
    rules: OrderOptions = OrderOptions(),
    *,
    cash_curve: bool = True,
) -> OrderOutput:
    """Fill one symbol's ``orders`` on ``market`` (docs/semantics.md "Orders").

    ``cash_curve=False`` leaves ``cash`` empty (a run's result does not keep it).
    """
    from sparkbt.engine.order_loop import run_orders

    n = len(market.close)
    ob = order_book(orders, n, rules)
    kernel_rules = KernelRules.of(options, rules)
    args = (
        *(np.ascontiguousarray(a, dtype=np.float64) for a in market[:4]),
        np.ascontiguousarray(market.day, dtype=np.int64),
        ob,
    )
    k = len(ob)
    capacity = np.array([3 * k + 4, k + 2, 3 * k + 6])
    # rows past a capacity are counted, not written: a second run has the exact counts
    for _ in range(2):
        done = order_results(ob)  # fresh: the kernel writes what became of each order
        eq, units, cash, f, t, lk, used = run_orders(
            *args, done, options.plain(), kernel_rules, capacity, cash_curve
        )
        if not (used > capacity).any():
            break
        capacity = np.maximum(used, capacity)
    nf, nt, nl = (int(u) for u in used)
    fills = np.zeros(nf, dtype=ORDER_FILL_DTYPE)
    for c, name in enumerate(ORDER_FILL_DTYPE.names or ()):
        fills[name] = f[:nf, c]
    return OrderOutput(
        eq, units, cash, fills, records(t[:nt], TRADE_DTYPE), records(lk[:nl], LOCK_DTYPE), done
    )


class KernelRules(NamedTuple):
    """The order options the compiled loops read (maker fee resolved, tick already applied)."""

    direction: int
    maker_fees: float
    lot_size: float
    min_notional: float

    @classmethod
    def of(cls, options: SimOptions, rules: OrderOptions) -> KernelRules:
        maker = options.fees if np.isnan(rules.maker_fees) else rules.maker_fees
        return cls(
            int(rules.direction), float(maker), float(rules.lot_size), float(rules.min_notional)
        )
