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
    "REASONS",
    "REASON_GATE",
    "REASON_OPEN",
    "REASON_RUIN",
    "REASON_SIGNAL",
    "REASON_STOP_LOSS",
    "REASON_TAKE_PROFIT",
    "REASON_TRAILING_STOP",
    "SHORT",
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
