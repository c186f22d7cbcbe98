"""Building order arrays for the order kernel's tests."""

from __future__ import annotations

import numpy as np

from sparkbt.engine.codes import ORDER_TYPES, TIFS
from sparkbt.engine.kernels import Market, SimOptions
from sparkbt.engine.order_kernels import OrderOptions, OrderOutput, Orders, simulate_orders

NAN = float("nan")


def order(
    bar: int,
    side: int,
    qty: float,
    type: str = "market",
    price: float = NAN,
    stop: float = NAN,
    tif: str = "gtc",
    expire: int = -1,
    oco: int = -1,
) -> tuple:
    """One order row (type and tif by name)."""
    return (bar, side, qty, ORDER_TYPES.index(type), price, stop, TIFS.index(tif), expire, oco)


def orders(*rows: tuple) -> Orders:
    """Orders from rows of :func:`order`, kept in the given order (sorted by bar)."""
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    dtypes = (np.int64, np.int8, np.float64, np.int8, np.float64, np.float64, np.int8)
    dtypes += (np.int64, np.int64)
    return Orders(*(np.array(c, dtype=d) for c, d in zip(cols, dtypes, strict=True)))


def market(ohlc: list[tuple[float, float, float, float]]) -> Market:
    """A market of ``(open, high, low, close)`` rows, all on one UTC day."""
    a = np.array(ohlc, dtype=np.float64)
    return Market(a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.zeros(len(a), dtype=np.int64))


def run(mkt: Market, *rows: tuple, rules: OrderOptions | None = None, **opts) -> OrderOutput:
    """Run order rows on ``mkt`` with SimOptions ``opts`` and order ``rules``."""
    return simulate_orders(mkt, orders(*rows), SimOptions(**opts), rules or OrderOptions())
