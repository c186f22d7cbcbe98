"""The kernels' record schema: integer codes and the columns of fills, trades and locks.

One definition read by the compiled loop (:mod:`sparkbt.engine.loop`, which
uses the integer constants as numba globals), the array kernels
(:mod:`sparkbt.engine.kernels`), the statistics, the result tables and the web
UI. Nothing of sparkbt is imported here, so the loop stays free of it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BOTH",
    "EXIT_REASONS",
    "FILL_COLS",
    "FILL_DTYPE",
    "GATES",
    "GATE_COOLDOWN",
    "GATE_DAILY_LOSS",
    "GATE_LOSS_STREAK",
    "GATE_MAX_DRAWDOWN",
    "LOCK_COLS",
    "LOCK_DTYPE",
    "LONG",
    "ORDER_DTYPE",
    "ORDER_FILL_DTYPE",
    "ORDER_LIMIT",
    "ORDER_MARKET",
    "ORDER_REASONS",
    "ORDER_RESULT_DTYPE",
    "ORDER_STATUSES",
    "ORDER_STOP",
    "ORDER_STOP_LIMIT",
    "ORDER_TYPES",
    "OR_EXPIRED",
    "OR_LOCKED",
    "OR_LOT",
    "OR_MIN_NOTIONAL",
    "OR_NONE",
    "OR_NO_CASH",
    "OR_OCO",
    "OR_REDUCE_ONLY",
    "OR_RUIN",
    "REASONS",
    "REASON_GATE",
    "REASON_OPEN",
    "REASON_RUIN",
    "REASON_SIGNAL",
    "REASON_STOP_LOSS",
    "REASON_TAKE_PROFIT",
    "REASON_TRAILING_STOP",
    "SHORT",
    "STATUS_CANCELLED",
    "STATUS_EXPIRED",
    "STATUS_FILLED",
    "STATUS_OPEN",
    "STATUS_PARTIAL",
    "STATUS_REJECTED",
    "TIFS",
    "TIF_GTC",
    "TIF_GTD",
    "TIF_IOC",
    "TRADE_COLS",
    "TRADE_DTYPE",
    "records",
]

# directions a strategy may trade (``direction`` option)
LONG, SHORT, BOTH = 0, 1, 2

# why a fill happened / a trade ended: ``reason`` of fills, ``exit_reason`` of trades
REASON_SIGNAL, REASON_STOP_LOSS, REASON_TRAILING_STOP, REASON_TAKE_PROFIT = 0, 1, 2, 3
REASON_GATE, REASON_RUIN, REASON_OPEN = 4, 5, 6
REASONS = ("signal", "stop_loss", "trailing_stop", "take_profit", "gate", "ruin", "open")
"""Reason names by code."""
EXIT_REASONS = REASONS[:REASON_OPEN]
"""Exit reasons of closed trades (every reason but ``open``), by code."""

# risk gates: ``gate`` of locks
GATE_MAX_DRAWDOWN, GATE_DAILY_LOSS, GATE_LOSS_STREAK, GATE_COOLDOWN = 0, 1, 2, 3
GATES = ("max_drawdown", "daily_loss", "loss_streak", "cooldown")
"""Gate names by code."""

FILL_DTYPE = np.dtype(
    [
        ("col", np.int64),
        ("bar", np.int64),
        ("side", np.int8),  # +1 buy, -1 sell
        ("units", np.float64),
        ("price", np.float64),
        ("fee", np.float64),
        ("reason", np.int8),  # code in REASONS
    ]
)

TRADE_DTYPE = np.dtype(
    [
        ("col", np.int64),
        ("side", np.int8),  # +1 long, -1 short
        ("entry_bar", np.int64),
        ("exit_bar", np.int64),  # last bar for an open trade
        ("units", np.float64),
        ("entry_price", np.float64),
        ("exit_price", np.float64),  # last close for an open trade
        ("entry_fee", np.float64),
        ("exit_fee", np.float64),
        ("pnl", np.float64),
        ("ret", np.float64),
        ("is_open", np.bool_),
        ("exit_reason", np.int8),  # code in REASONS ("open" for an open trade)
    ]
)

LOCK_DTYPE = np.dtype(
    [
        ("col", np.int64),
        ("gate", np.int8),  # code in GATES
        ("first_bar", np.int64),  # the bar whose close triggered the lock
        ("last_bar", np.int64),  # last bar on which no position may open
        ("equity", np.float64),  # equity marked at the trigger bar's close
        ("limit", np.float64),
    ]
)

# orders (docs/semantics.md "Orders"): ``type``, ``tif`` and the final ``status`` of an order
ORDER_MARKET, ORDER_LIMIT, ORDER_STOP, ORDER_STOP_LIMIT = 0, 1, 2, 3
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
"""Order type names by code."""
TIF_GTC, TIF_IOC, TIF_GTD = 0, 1, 2
TIFS = ("gtc", "ioc", "gtd")
"""Time-in-force names by code."""
STATUS_OPEN, STATUS_FILLED, STATUS_PARTIAL = 0, 1, 2
STATUS_EXPIRED, STATUS_CANCELLED, STATUS_REJECTED = 3, 4, 5
ORDER_STATUSES = ("open", "filled", "partial", "expired", "cancelled", "rejected")
"""Order status names by code."""
# why an order was cut, rejected, cancelled or expired: ``reason`` of order results
OR_NONE, OR_NO_CASH, OR_REDUCE_ONLY, OR_MIN_NOTIONAL, OR_LOCKED = 0, 1, 2, 3, 4
OR_OCO, OR_EXPIRED, OR_RUIN, OR_LOT = 5, 6, 7, 8
ORDER_REASONS = (
    "none",
    "no_cash",
    "reduce_only",
    "min_notional",
    "locked",
    "oco",
    "expired",
    "ruin",
    "lot",
)
"""Order reason names by code."""

ORDER_DTYPE = np.dtype(
    [
        ("bar", np.int64),  # the bar the order was decided on
        ("side", np.int8),  # +1 buy, -1 sell
        ("qty", np.float64),  # units > 0
        ("type", np.int8),  # code in ORDER_TYPES
        ("price", np.float64),  # limit price (NaN: none)
        ("stop", np.float64),  # stop price (NaN: none)
        ("expire", np.int64),  # last bar it may fill on (n: never expires)
        ("oco", np.int64),  # one-cancels-other group (-1: none)
    ]
)
"""An order as the order kernel reads it (time in force already resolved to ``expire``)."""

ORDER_RESULT_DTYPE = np.dtype(
    [
        ("status", np.int8),  # code in ORDER_STATUSES
        ("fill_bar", np.int64),  # -1: never filled
        ("fill_price", np.float64),  # NaN: never filled
        ("filled", np.float64),  # units filled
        ("fee", np.float64),
        ("maker", np.bool_),  # filled as a resting limit at its price inside the bar
        ("reason", np.int8),  # code in ORDER_REASONS
        ("end_bar", np.int64),  # the bar it left the book (filled, cancelled, ...); -1: open
    ]
)
"""What became of each order."""

ORDER_FILL_DTYPE = np.dtype([*FILL_DTYPE.descr, ("order", np.int64)])
"""A fill of an order run: FILL_DTYPE plus the order's row (-1 for stop, gate and ruin exits)."""

FILL_COLS: tuple[str, ...] = FILL_DTYPE.names or ()
"""Columns of the loop's float fill matrix, in record order."""
TRADE_COLS: tuple[str, ...] = TRADE_DTYPE.names or ()
"""Columns of the loop's float trade matrix, in record order."""
LOCK_COLS: tuple[str, ...] = LOCK_DTYPE.names or ()
"""Columns of the loop's float lock matrix, in record order."""


def records(matrix: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A float record matrix of a compiled kernel (columns in ``dtype`` order) as records."""
    out = np.zeros(len(matrix), dtype=dtype)
    for k, name in enumerate(dtype.names or ()):
        out[name] = matrix[:, k]
    return out
