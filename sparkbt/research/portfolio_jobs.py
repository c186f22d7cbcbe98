"""Portfolio sweep jobs: combinations → weights → one shared-cash simulation each → stats rows.

A portfolio combination is evaluated by the step a portfolio backtest takes:
:func:`sparkbt.engine.weights.portfolio_weights` then
:func:`sparkbt.engine.portfolio.simulate_weights`, so each row equals the stats of
``backtest(panel, strategy, **params, **options)`` bit for bit. A worker holds the
panel and one combination's weights and kernel output at a time (``bars x symbols``
arrays, freed before the next), so memory is bounded whatever the grid; the chunk
height only spreads the work over workers. Consecutive rows that differ only in
engine options other than ``direction`` reuse the weights of the row before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, cast

import numpy as np
import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.data.panel_load import load_panel
from sparkbt.engine.options import Config
from sparkbt.engine.orders import OrderTable
from sparkbt.engine.portfolio import (
    check_portfolio_config,
    panel_period_ns,
    simulate_weights,
)
from sparkbt.engine.portfolio_orders import (
    portfolio_order_table,
    simulate_portfolio_table,
    strategy_output,
)
from sparkbt.engine.registry import Strategy
from sparkbt.engine.weights import portfolio_weights
from sparkbt.errors import ConfigError, StrategyError
from sparkbt.research.sweep_jobs import StrategyPickle

__all__ = [
    "PortfolioJob",
    "check_portfolio_options",
    "is_portfolio",
    "plan_portfolio_chunks",
    "portfolio_input",
]


def is_portfolio(candles: Any, strategy: Strategy) -> bool:
    """Whether ``backtest(candles, strategy)`` runs a portfolio (several symbols or weights)."""
    return isinstance(candles, (Mapping, Panel)) or strategy.kind == "weights"


def portfolio_input(candles: Any, timeframe: str | None = None, symbol: str | None = None) -> Panel:
    """The panel ``backtest`` builds from ``candles``: one frame becomes a one-symbol panel."""
    if not isinstance(candles, (Mapping, Panel)):
        frame = load_candles(candles, timeframe=timeframe, symbol=symbol)
        candles = {frame.attrs.get("symbol") or "asset": frame}
    return load_panel(candles, timeframe=timeframe)


def check_portfolio_options(config: Config, options: Mapping[str, list[Any]]) -> None:
    """Refuse stops, loss_streak and cooldown in any swept value (one-line ConfigError)."""
    check_portfolio_config(config)
    for name, values in options.items():
        for value in values:
            check_portfolio_config(config.replace(**{name: _option_value(value)}))


def _option_value(value: Any) -> Any:
    """A swept option's value as ``Config`` takes it (the grid holds None as NaN)."""
    return None if isinstance(value, float) and value != value else value


@dataclass
class PortfolioJob(StrategyPickle):
    """Everything a worker needs to turn rows ``[lo, hi)`` of ``combos`` into stats rows."""

    panel: Panel  # the whole input: the strategy sees every bar
    strategy: Strategy
    config: Config  # year_days resolved on the panel; swept options override it per row
    combos: pd.DataFrame  # parameters, then the swept engine options
    start: int = 0  # first traded union bar (earlier bars are warm-up)
    _last: tuple[Any, Any] | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_last"] = None
        state.pop("traded", None)
        return state

    @cached_property
    def traded(self) -> Panel:
        """The bars simulated: the panel from ``start`` on."""
        return self.panel.since(self.start)

    def warm(self) -> None:
        """Build the traded panel's wide arrays once, before workers fork and share them."""
        self.traded.has_candle()
        self.panel.has_candle()

    @property
    def option_names(self) -> list[str]:
        """The swept engine options: the combination columns that are not parameters."""
        params = set(self.strategy.param_names)
        return [c for c in self.combos.columns if c not in params]

    def weights(self, params: dict[str, Any], direction: str) -> np.ndarray | OrderTable:
        """Checked weights of one combination (those of the previous row when they match),
        or its checked orders (traded bars only) when the strategy returns orders."""
        key = (params, direction)
        if self._last is not None and self._last[0] == key:
            return cast(np.ndarray, self._last[1])
        self._last = None  # free the previous combination's weights first
        checked = self.strategy.validate(params)
        output = strategy_output(self.strategy, self.panel, checked)
        table = portfolio_order_table(self.strategy.name, output, self.panel)
        if table is not None:
            values: np.ndarray | OrderTable = table.since(self.start)
        else:
            values = portfolio_weights(
                self.strategy, self.panel, checked, direction, self.start, output
            ).values
        self._last = (key, values)
        return values

    def run(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Stats of combinations ``lo..hi-1``, one simulation each, as ``backtest`` runs it.

        The keys are PORTFOLIO_STAT_KEYS, or PORTFOLIO_ORDER_STAT_KEYS when the
        strategy returns orders (then every combination must).
        """
        combos = self.combos.iloc[lo:hi]
        names = self.option_names
        params = cast(list[dict[str, Any]], combos[self.strategy.param_names].to_dict("records"))
        options = cast(list[dict[str, Any]], combos[names].to_dict("records"))
        period = panel_period_ns(self.panel)
        out: dict[str, np.ndarray] = {}
        for i, (p, o) in enumerate(zip(params, options, strict=True)):
            cfg = self.config.replace(**{k: _option_value(v) for k, v in o.items()})
            given = self.weights(p, cfg.direction)
            if isinstance(given, OrderTable):
                _, stats = simulate_portfolio_table(self.traded, given, cfg, period)
            else:
                _, stats = simulate_weights(self.traded, given, cfg, bar_period_ns=period)
            if not out:
                out = {k: np.empty(len(combos)) for k in stats}
            if set(stats) != set(out):
                raise StrategyError(
                    f"{self.strategy.name}: returned orders for some parameters, weights for others"
                )
            for k in out:
                out[k][i] = stats[k][0]
        self._last = None
        return out

    def fixed_bytes(self) -> int:
        """Memory a worker holds whatever the chunk: the candles and their wide copies."""
        frames = sum(int(f.memory_usage(deep=False).sum()) for f in self.panel.frames.values())
        return frames + 6 * self.cells() * 8

    def cells(self) -> int:
        return len(self.panel) * len(self.panel.symbols)

    def bytes_per_combination(self) -> int:
        """Peak working memory of one combination: 16 ``bars x symbols`` float arrays.

        The strategy's frames, the checked and clipped weights, the kernel's price
        copies, units and output, and the statistics' per-bar temporaries peak near
        8 such arrays for the built-in strategies, hence 16
        (``tests/research/sweep/test_portfolio_sweep.py`` measures it).
        """
        return self.cells() * 8 * 16 + len(self.panel) * 160


def plan_portfolio_chunks(
    job: PortfolioJob, workers: int, max_memory: int, chunk_size: int | None = None
) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)``; ConfigError when one combination per worker does not fit.

    A worker evaluates its chunk one combination at a time, so the budget bounds
    the workers' fixed memory plus one combination each, not the chunk height.
    """
    total = len(job.combos)
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ConfigError(f"chunk_size: must be >= 1 (got {chunk_size!r})")
        rows = int(chunk_size)
    else:
        per_worker = max_memory // max(workers, 1)
        need = job.fixed_bytes() + job.bytes_per_combination()
        if per_worker < need:
            n, k = len(job.panel), len(job.panel.symbols)
            raise ConfigError(
                f"max_memory {max_memory / 2**20:,.0f} MiB is too small for {n:,} bars x "
                f"{k} symbols with {workers} worker(s): one combination needs about "
                f"{need / 2**20:,.0f} MiB per worker"
            )
        # enough chunks to keep every worker busy, few enough to share weights between rows
        rows = max(1, -(-total // max(workers * 4, 1)))
    return [(lo, min(lo + rows, total)) for lo in range(0, total, rows)]
