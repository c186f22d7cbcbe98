"""A run of one symbol's orders: orders frame → order kernel → stats → :class:`OrderRunResult`.

The order kernel (:mod:`sparkbt.engine.order_kernels`) fills the orders bar by
bar (docs/semantics.md "Orders"); the result is an ordinary run (equity,
trades, fills, stats) plus the orders table: each order with its final status,
fill time, price, fee, whether it paid the maker fee, and why it ended as it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import period_ns, time_index
from sparkbt.engine.codes import (
    ORDER_REASONS,
    ORDER_RESULT_DTYPE,
    ORDER_STATUSES,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_PARTIAL,
    STATUS_REJECTED,
)
from sparkbt.engine.options import Config
from sparkbt.engine.order_kernels import OrderOutput, simulate_orders
from sparkbt.engine.orders import OrderTable, order_table
from sparkbt.engine.registry import Strategy
from sparkbt.engine.result import BacktestResult, fills_frame
from sparkbt.engine.stats import compute_stats, stats_row
from sparkbt.engine.statspec import ORDER_STAT_KEYS
from sparkbt.version import ENGINE_VERSION

__all__ = [
    "ORDER_TABLE_COLUMNS",
    "OrderRunResult",
    "order_counts",
    "orders_frame",
    "simulate_order_table",
]

ORDER_TABLE_COLUMNS = (
    "id",
    "timestamp",
    "side",
    "qty",
    "type",
    "price",
    "stop",
    "tif",
    "expire",
    "oco",
    "tag",
    "status",
    "filled",
    "fill_time",
    "fill_price",
    "fee",
    "fee_kind",
    "reason",
    "end_time",
)
"""The columns of ``res.orders`` and ``orders.parquet``."""


def order_counts(results: np.ndarray) -> dict[str, np.ndarray]:
    """orders_filled / orders_expired / orders_rejected of an order run (one column)."""
    count = np.bincount(results["status"], minlength=len(ORDER_STATUSES))
    return {
        "orders_filled": np.array([count[STATUS_FILLED] + count[STATUS_PARTIAL]]),
        "orders_expired": np.array([count[STATUS_EXPIRED]]),
        "orders_rejected": np.array([count[STATUS_REJECTED]]),
    }


def simulate_order_table(
    frame: pd.DataFrame, table: OrderTable, config: Config, *, bar_period_ns: int | None = None
) -> tuple[OrderOutput, dict[str, np.ndarray]]:
    """Checked orders on ``frame`` -> kernel output and stats (``config.year_days`` resolved)."""
    from sparkbt.engine.simulate import market_of

    options = config.sim_options()
    market = market_of(frame, days=not np.isnan(options.daily_loss))
    out = simulate_orders(market, table.orders, options, config.order_options(), cash_curve=False)
    stats = compute_stats(
        out.equity[:, None],
        out.units[:, None],
        out.trades,
        cash=config.cash,
        close=market.close,
        ts_ns=time_index(frame).asi8,
        period_ns=bar_period_ns or period_ns(frame),
        year_days=float(config.year_days or 365),
    )
    stats |= order_counts(out.orders)
    return out, {k: stats[k] for k in ORDER_STAT_KEYS}


def checked_orders(name: str, raw: pd.DataFrame, frame: pd.DataFrame, start: int) -> OrderTable:
    """The strategy's orders checked on every bar given, kept from bar ``start`` on.

    Orders decided on warm-up bars are dropped (as targets before the first traded
    bar are); bars are renumbered from the first traded bar.
    """
    return order_table(name, raw, time_index(frame)).since(start)


@dataclass
class OrderRunResult(BacktestResult):
    """A run of orders: a :class:`BacktestResult` plus the orders table (``res.orders``)."""

    order_records: np.ndarray = field(  # codes.ORDER_RESULT_DTYPE, one per order (kernel order)
        default_factory=lambda: np.zeros(0, dtype=ORDER_RESULT_DTYPE), repr=False
    )
    order_table: OrderTable | None = field(default=None, repr=False)  # the checked orders

    kind = "orders"

    @cached_property
    def fills(self) -> pd.DataFrame:
        """One row per fill: timestamp, side, units, price, fee, reason, and its order id."""
        table = fills_frame(self.fill_records, time_index(self.candles))
        table["order"] = self.fill_records["order"].astype(np.int64)
        return table

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every order with its final status, fill time, price, fee, fee kind and reason."""
        assert self.order_table is not None
        return orders_frame(self.order_records, self.order_table.frame, time_index(self.candles))

    @property
    def engine_version(self) -> str:
        """Orders are a v3 contract."""
        return ENGINE_VERSION

    def _id_payload(self) -> dict[str, Any]:
        """As a run's, naming the kind (orders are a v3 contract)."""
        return {**super()._id_payload(), "kind": self.kind}

    @property
    def report(self) -> dict[str, Any]:
        return {**super().report, "kind": self.kind}

    def equity_frame(self) -> pd.DataFrame:
        return super().equity_frame().drop(columns=["target"])

    def _tables(self) -> dict[str, Callable[[], pd.DataFrame]]:
        """A run's tables and ``orders.parquet``."""
        return {**super()._tables(), "orders.parquet": lambda: self.orders}


def orders_frame(res: np.ndarray, given: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The orders table (ORDER_TABLE_COLUMNS): each checked order and what became of it.

    ``res`` (codes.ORDER_RESULT_DTYPE) and ``given`` (the checked orders) are in
    kernel order; ``index`` holds the traded bars. ``end_time`` is the bar the
    order left the book (filled, cancelled, expired or rejected; NaT while open).
    """
    filled = res["fill_bar"] >= 0
    return pd.DataFrame(
        {
            "id": np.arange(len(res), dtype=np.int64),
            "timestamp": given["timestamp"].to_numpy(),
            "side": given["side"].to_numpy(),
            "qty": given["qty"].to_numpy(dtype=np.float64),
            "type": given["type"].to_numpy(),
            "price": _column(given, "price", np.nan),
            "stop": _column(given, "stop", np.nan),
            "tif": given["tif"].to_numpy(),
            "expire": _column(given, "expire", pd.NaT),
            "oco": _texts(given, "oco"),
            "tag": _texts(given, "tag"),
            "status": np.asarray(ORDER_STATUSES, dtype=object)[res["status"]],
            "filled": res["filled"],
            "fill_time": _times(index, res["fill_bar"]),
            "fill_price": res["fill_price"],
            "fee": res["fee"],
            "fee_kind": np.where(filled, np.where(res["maker"], "maker", "taker"), None),  # type: ignore[call-overload]
            "reason": np.asarray(ORDER_REASONS, dtype=object)[res["reason"]],
            "end_time": _times(index, res["end_bar"]),
        },
        columns=list(ORDER_TABLE_COLUMNS),
    )


def _times(index: pd.DatetimeIndex, bars: np.ndarray) -> pd.DatetimeIndex:
    """The time of each bar number (NaT for -1)."""
    return index[np.maximum(bars, 0)].where(bars >= 0) if len(index) else index[:0]


def _texts(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A column's values as text (None where empty), one conversion per distinct value."""
    if name not in frame.columns:
        return np.full(len(frame), None, dtype=object)
    codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
    return np.array([str(u) for u in uniques] + [None], dtype=object)[codes]


def _column(frame: pd.DataFrame, name: str, empty: Any) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), empty, dtype=object if empty is None else None)
    return frame[name].to_numpy()


def backtest_orders(
    frame: pd.DataFrame,
    strat: Strategy,
    params: dict[str, Any],
    config: Config,
    raw: pd.DataFrame,
    start: int,
    started: float,
    exchange_info: dict[str, Any] | None = None,
) -> OrderRunResult:
    """One run of a strategy's orders on ``frame`` from bar ``start`` (earlier bars: warm-up)."""
    table = checked_orders(strat.name, raw, frame, start)
    traded = frame.iloc[start:] if start else frame
    out, stats = simulate_order_table(
        traded, table, config, bar_period_ns=period_ns(frame) if start else None
    )
    return OrderRunResult(
        strategy=strat.name,
        params=params,
        config=config.to_dict(),
        stats=stats_row(stats, 0),
        strategy_sha256=strat.source_sha256,
        candles=traded,
        targets=pd.Series(  # orders have no targets: one NaN seen at every bar, no memory
            np.broadcast_to(np.float64(np.nan), len(traded)),
            index=traded.index,
            name="target",
            copy=False,
        ),
        equity=pd.Series(out.equity, index=traded.index, name="equity", copy=False),
        position=pd.Series(out.units, index=traded.index, name="units", copy=False),
        trade_records=out.trades,
        fill_records=out.fills,
        lock_records=out.locks,
        input_candles=frame if start else None,
        duration_ms=(time.perf_counter() - started) * 1e3,
        order_records=out.orders,
        order_table=table,
        exchange_info=exchange_info,
    )
