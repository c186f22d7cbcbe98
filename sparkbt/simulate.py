"""``backtest()``: validate → signals → kernel → stats → result object."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import kernels
from .candles import infer_timeframe, load_candles, parse_timeframe
from .errors import ConfigError
from .registry import Strategy, get_strategy
from .result import BacktestResult
from .stats import compute_stats, stats_row

__all__ = ["Config", "backtest"]

DIRECTIONS = {"long": kernels.LONG, "short": kernels.SHORT, "both": kernels.BOTH}


@dataclass(frozen=True)
class Config:
    """Simulation settings (SEMANTICS.md "Inputs"), validated on creation."""

    cash: float = 10_000.0
    fees: float = 0.0
    slippage: float = 0.0
    direction: str = "long"

    def __post_init__(self) -> None:
        def number(name: str, value: Any) -> float:
            try:
                if isinstance(value, bool):
                    raise TypeError
                out = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{name}: expected a number (got {value!r})") from None
            if not math.isfinite(out):
                raise ConfigError(f"{name}: expected a finite number (got {value!r})")
            object.__setattr__(self, name, out)
            return out

        if number("cash", self.cash) <= 0:
            raise ConfigError(f"cash: must be > 0 (got {self.cash!r})")
        for name in ("fees", "slippage"):
            v = number(name, getattr(self, name))
            if not 0.0 <= v < 1.0:
                raise ConfigError(
                    f"{name}: must be a fraction in [0, 1), e.g. 0.001 for 0.1% (got {v!r})"
                )
        d = str(self.direction).strip().lower()
        if d not in DIRECTIONS:
            raise ConfigError(f"direction: expected long, short or both (got {self.direction!r})")
        object.__setattr__(self, "direction", d)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": self.cash,
            "fees": self.fees,
            "slippage": self.slippage,
            "direction": self.direction,
        }


def period_ns(candles: pd.DataFrame) -> int:
    """Bar period in ns: the declared timeframe, else the median step (1 day for one bar)."""
    tf = candles.attrs.get("timeframe")
    if tf:
        return int(parse_timeframe(tf).value)
    inferred = infer_timeframe(candles.index)
    return int(inferred.value) if inferred is not None else 86_400 * 10**9


def backtest(
    candles: pd.DataFrame,
    strategy: str | Callable[..., pd.Series] | Strategy = "sma_cross",
    *,
    cash: float = 10_000.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    direction: str = "long",
    timeframe: str | None = None,
    symbol: str | None = None,
    **params: Any,
) -> BacktestResult:
    """Backtest one strategy on candles with fill-at-close semantics.

    ``strategy`` is a registered name, ``"file.py:function"``, or a function
    ``(candles, **params) -> Series``. Remaining keyword arguments are the
    strategy's parameters, validated against its schema.
    """
    started = time.perf_counter()
    config = Config(cash, fees, slippage, direction)
    strat = get_strategy(strategy)
    checked = strat.validate(params)
    frame = load_candles(candles, timeframe=timeframe, symbol=symbol)
    targets = strat.signals(frame, checked)
    close = frame["close"].to_numpy()
    prepared = kernels.prepare_targets(targets.to_numpy(), DIRECTIONS[config.direction])
    sim = kernels.simulate(close, prepared, config.cash, config.fees, config.slippage)
    ts = frame.index.asi8
    stats = stats_row(
        compute_stats(
            sim.equity,
            sim.units,
            sim.trades,
            cash=config.cash,
            close=close,
            ts_ns=ts,
            period_ns=period_ns(frame),
        ),
        0,
    )
    return BacktestResult(
        strategy=strat.name,
        params=checked,
        config=config.to_dict(),
        stats=stats,
        strategy_sha256=strat.source_sha256,
        candles=frame,
        targets=pd.Series(prepared[:, 0], index=frame.index, name="target"),
        equity=pd.Series(sim.equity[:, 0], index=frame.index, name="equity"),
        position=pd.Series(sim.units[:, 0], index=frame.index, name="units"),
        trade_records=sim.trades,
        fill_records=sim.fills,
        duration_ms=(time.perf_counter() - started) * 1e3,
    )
