"""A portfolio's orders: orders frames → one checked table → portfolio order kernel → stats.

A portfolio strategy (first parameter ``panel``) may return one orders frame
with a ``symbol`` column; a single-symbol strategy given several symbols may
return orders on each symbol's own candles (a ``symbol`` column there, if any,
names that symbol). Either way the orders become one table over the union
bars, sorted by decision bar (then symbol, then row), and run through
:func:`sparkbt.engine.portfolio_order_kernels.simulate_portfolio_orders`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.engine.codes import ORDER_RESULT_DTYPE
from sparkbt.engine.exchange import symbol_rules
from sparkbt.engine.options import Config
from sparkbt.engine.order_kernels import Orders
from sparkbt.engine.order_run import order_counts, orders_frame
from sparkbt.engine.orders import OrderTable, order_table
from sparkbt.engine.portfolio_order_kernels import (
    PortfolioOrderOutput,
    simulate_portfolio_orders,
)
from sparkbt.engine.portfolio_result import PortfolioResult, with_symbol
from sparkbt.engine.registry import Signals, Strategy
from sparkbt.engine.result import fills_frame
from sparkbt.engine.statspec import ORDER_STATS, PORTFOLIO_STAT_KEYS
from sparkbt.errors import StrategyError
from sparkbt.evidence import write_parquet

__all__ = [
    "PORTFOLIO_ORDER_STAT_KEYS",
    "PortfolioOrderResult",
    "is_orders",
    "portfolio_order_table",
    "simulate_portfolio_table",
    "strategy_output",
]

_DAY_NS = 86_400 * 10**9

PORTFOLIO_ORDER_STAT_KEYS: tuple[str, ...] = PORTFOLIO_STAT_KEYS + tuple(
    s.name for s in ORDER_STATS
)
"""Keys of the stats of a portfolio's orders: a portfolio's keys, then the order counts."""


def is_orders(raw: Any) -> bool:
    """Whether a strategy's output is an orders frame (``side`` and ``qty`` columns)."""
    return isinstance(raw, pd.DataFrame) and {"side", "qty"} <= set(raw.columns)


def strategy_output(strat: Strategy, panel: Panel, params: dict[str, Any]) -> Any:
    """What the strategy returns on ``panel``: its frame (``panel`` first) or Signals per symbol."""
    if strat.kind == "weights":
        return strat.func(panel, **params)
    return {symbol: strat.evaluate(frame, params) for symbol, frame in panel.frames.items()}


def portfolio_order_table(name: str, output: Any, panel: Panel) -> OrderTable | None:
    """The checked orders of a strategy's output over the union bars, or None (not orders)."""
    if not isinstance(output, dict):
        return order_table(name, output, panel.index, panel.symbols) if is_orders(output) else None
    given: dict[str, Signals] = output
    has = [s for s, sig in given.items() if sig.orders is not None]
    if not has:
        return None
    if len(has) < len(given):
        other = next(s for s in given if s not in has)
        raise StrategyError(f"{name}: returned orders for {has[0]} but targets for {other}")
    tables = []
    for j, (symbol, signals) in enumerate(given.items()):
        assert signals.orders is not None
        t = order_table(f"{name} on {symbol}", signals.orders, panel.index, [symbol])
        tables.append(
            t._replace(symbol=np.full(len(t.rows), j, dtype=np.int64), names=tuple(given))
        )
    return merge_tables(tables)


def merge_tables(tables: list[OrderTable]) -> OrderTable:
    """One table of several symbols' orders, sorted by (decision bar, symbol, row)."""
    if len(tables) == 1:
        return tables[0]
    orders = Orders(
        *(np.concatenate(parts) for parts in zip(*(t.orders for t in tables), strict=True))
    )
    groups = np.cumsum([0] + [int(t.orders.oco.max(initial=-1)) + 1 for t in tables[:-1]])
    oco = np.concatenate(
        [
            np.where(t.orders.oco >= 0, t.orders.oco + g, -1)
            for t, g in zip(tables, groups, strict=True)
        ]
    )
    orders = orders._replace(oco=oco)  # each symbol's OCO groups are its own
    offsets = np.cumsum([0] + [len(t.rows) for t in tables[:-1]])
    rows = np.concatenate([t.rows + off for t, off in zip(tables, offsets, strict=True)])
    symbol = np.concatenate([t.symbol for t in tables if t.symbol is not None])
    order = np.lexsort((rows, symbol, orders.bar))
    return OrderTable(
        Orders(*(np.asarray(a)[order] for a in orders)),
        rows[order],
        pd.concat([t.source for t in tables], ignore_index=True),
        pd.DatetimeIndex(tables[0].stamps.append([t.stamps for t in tables[1:]])),
        symbol[order],
        tables[0].names,
    )


def simulate_portfolio_table(
    panel: Panel, table: OrderTable, config: Config, bar_period_ns: int
) -> tuple[PortfolioOrderOutput, dict[str, np.ndarray]]:
    """Checked orders on ``panel`` -> kernel output and stats (PORTFOLIO_ORDER_STAT_KEYS)."""
    from sparkbt.engine.portfolio import portfolio_stats

    symbol = table.symbol if table.symbol is not None else np.zeros(len(table.rows), np.int64)
    out = simulate_portfolio_orders(
        panel.arrays(),
        panel.index.asi8 // _DAY_NS,
        table.orders,
        symbol,
        config.sim_options(),
        config.order_options(),
        symbol_rules(config, panel.symbols),
    )
    stats = portfolio_stats(panel, out, config, bar_period_ns)  # type: ignore[arg-type]
    stats |= order_counts(out.orders)
    return out, {k: stats[k] for k in PORTFOLIO_ORDER_STAT_KEYS}


@dataclass(repr=False)
class PortfolioOrderResult(PortfolioResult):
    """A portfolio run of orders: a :class:`PortfolioResult` plus the orders table."""

    order_records: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=ORDER_RESULT_DTYPE), repr=False
    )
    order_table: OrderTable | None = field(default=None, repr=False)

    @cached_property
    def fills(self) -> pd.DataFrame:
        """One row per fill: symbol, timestamp, side, units, price, fee, reason, its order id."""
        table = fills_frame(self.fill_records, self.panel.index)
        table["order"] = self.fill_records["order"].astype(np.int64)
        return with_symbol(table, self.fill_records["col"], self.symbols)

    @cached_property
    def orders(self) -> pd.DataFrame:
        """Every order with its symbol, final status, fill time, price, fee and reason."""
        assert self.order_table is not None
        given = self.order_table.frame
        table = orders_frame(self.order_records, given, self.panel.index)
        table.insert(0, "symbol", given["symbol"].to_numpy(dtype=object))
        return table

    @property
    def report(self) -> dict[str, Any]:
        """The portfolio's report.json, saying that it ran orders."""
        return {**super().report, "orders": True}

    def save(self, evidence_dir: str | Path | None = None) -> Path:
        """The portfolio's evidence folder, with ``orders.parquet``."""
        return self._save({"orders.parquet": lambda p: write_parquet(self.orders, p)}, evidence_dir)


def backtest_portfolio_orders(
    panel: Panel,
    strat: Strategy,
    checked: dict[str, Any],
    config: Config,
    table: OrderTable,
    start: int,
    period: int,
    started: float,
) -> PortfolioOrderResult:
    """One portfolio run of checked orders from union bar ``start`` (earlier bars: warm-up)."""
    table = table.since(start)
    traded = panel.since(start)
    out, stats = simulate_portfolio_table(traded, table, config, period)
    from sparkbt.engine.portfolio import result_fields

    return PortfolioOrderResult(
        **result_fields(strat, checked, config, stats, panel, traded, out, started),
        targets=pd.DataFrame(np.nan, index=traded.index, columns=traded.symbols),
        order_records=out.orders,
        order_table=table,
    )
