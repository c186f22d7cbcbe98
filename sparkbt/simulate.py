"""``backtest()``: validate → signals → kernel → stats → result object.

:func:`simulate_targets` is the one evaluation step shared by a single
backtest and every sweep chunk: prepared targets in, kernel output and stats out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import kernels
from .candles import load_candles, period_ns
from .config import DIRECTIONS, Config
from .registry import Strategy, get_strategy
from .result import BacktestResult
from .stats import compute_stats, stats_row

__all__ = ["backtest", "market_of", "simulate_targets"]

_DAY_NS = 86_400 * 10**9


def market_of(frame: pd.DataFrame) -> kernels.Market:
    """The price arrays of canonical candles, and each bar's UTC day number."""
    return kernels.Market(
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        frame.index.asi8 // _DAY_NS,
    )


def simulate_targets(
    frame: pd.DataFrame,
    targets: np.ndarray,
    config: Config,
    sl: np.ndarray | None = None,
    tp: np.ndarray | None = None,
    *,
    want_fills: bool = True,
    bar_period_ns: int | None = None,
) -> tuple[kernels.SimOutput, dict[str, np.ndarray]]:
    """Prepared targets ``(n, m)`` on ``frame`` -> kernel output and stats (one per column).

    ``config.year_days`` must be resolved (see :meth:`Config.resolved`).
    ``bar_period_ns`` overrides the period taken from ``frame`` (a sweep's test
    window is a slice whose own step may differ from the full data's).
    """
    market = market_of(frame)
    sim = kernels.simulate(market, targets, config.sim_options(), sl, tp, want_fills=want_fills)
    stats = compute_stats(
        sim.equity,
        sim.units,
        sim.trades,
        cash=config.cash,
        close=market.close,
        ts_ns=frame.index.asi8,
        period_ns=bar_period_ns or period_ns(frame),
        year_days=float(config.year_days or 365),
    )
    return sim, stats


def prepare(raw: np.ndarray | pd.Series | None, direction: str) -> np.ndarray | None:
    """Targets as the kernels take them: ``(n, 1)``, NaN forward-filled, clipped by direction."""
    if raw is None:
        return None
    return kernels.prepare_targets(np.asarray(raw, dtype=np.float64), DIRECTIONS[direction])


def _stops(values: pd.Series | None) -> np.ndarray | None:
    return None if values is None else values.to_numpy(dtype=np.float64)[:, None]


def backtest(
    candles: pd.DataFrame,
    strategy: str | Callable[..., pd.Series] | Strategy = "sma_cross",
    *,
    cash: float = 10_000.0,
    fees: float = 0.0,
    slippage: float = 0.0,
    direction: str = "long",
    fill: str = "close",
    sl_stop: float | None = None,
    tp_stop: float | None = None,
    sl_trail: bool = False,
    gates: dict[str, Any] | None = None,
    year_days: float | None = None,
    timeframe: str | None = None,
    symbol: str | None = None,
    **params: Any,
) -> BacktestResult:
    """Backtest one strategy on candles (docs/semantics.md).

    ``strategy`` is a registered name, ``"file.py:function"``, or a function
    ``(candles, **params) -> Series``. The keyword options before ``timeframe``
    configure the engine (fills, stops, gates, year length); remaining keyword
    arguments are the strategy's parameters, validated against its schema.
    """
    started = time.perf_counter()
    config = Config(
        cash, fees, slippage, direction, fill, sl_stop, tp_stop, sl_trail, gates or {}, year_days
    )
    strat = get_strategy(strategy)
    checked = strat.validate(params)
    frame = load_candles(candles, timeframe=timeframe, symbol=symbol)
    config = config.resolved(frame)
    signals = strat.evaluate(frame, checked)
    filled = prepare(signals.target.to_numpy(), "both")  # NaN forward-filled, nothing clipped
    prepared = prepare(filled, config.direction)
    clipped = int(np.count_nonzero(filled != prepared))  # bars whose side the direction forbids
    sim, stats = simulate_targets(
        frame, prepared, config, _stops(signals.sl_stop), _stops(signals.tp_stop)
    )
    return BacktestResult(
        strategy=strat.name,
        params=checked,
        config=config.to_dict(),
        stats=stats_row(stats, 0),
        strategy_sha256=strat.source_sha256,
        candles=frame,
        targets=pd.Series(prepared[:, 0], index=frame.index, name="target"),
        equity=pd.Series(sim.equity[:, 0], index=frame.index, name="equity"),
        position=pd.Series(sim.units[:, 0], index=frame.index, name="units"),
        trade_records=sim.trades,
        fill_records=sim.fills,
        lock_records=sim.locks,
        clipped_targets=clipped,
        duration_ms=(time.perf_counter() - started) * 1e3,
    )
