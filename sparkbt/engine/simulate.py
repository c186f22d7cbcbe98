"""``backtest()``: validate → signals → kernel → stats → result object.

:func:`simulate_targets` is the one evaluation step shared by a single
backtest and every sweep chunk: prepared targets in, kernel output and stats out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.data.panel_load import load_panel
from sparkbt.data.timeframes import period_ns, time_index
from sparkbt.engine import kernels
from sparkbt.engine.exchange import resolve_exchange_rules
from sparkbt.engine.option_spec import with_option_keywords
from sparkbt.engine.options import DIRECTIONS, OPTIONS, Config, split_options
from sparkbt.engine.order_run import backtest_orders
from sparkbt.engine.portfolio import backtest_portfolio
from sparkbt.engine.portfolio_result import PortfolioResult
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.engine.result import BacktestResult
from sparkbt.engine.stats import compute_stats, stats_row
from sparkbt.errors import ConfigError

__all__ = ["backtest", "market_of", "simulate_targets", "trade_start"]

_DAY_NS = 86_400 * 10**9


def market_of(frame: pd.DataFrame, *, days: bool = True) -> kernels.Market:
    """The price arrays of canonical candles, and each bar's UTC day number (``days=False``:
    none, for a run without a daily-loss gate, the only reader of days)."""
    return kernels.Market(
        frame["open"].to_numpy(),
        frame["high"].to_numpy(),
        frame["low"].to_numpy(),
        frame["close"].to_numpy(),
        time_index(frame).asi8 // _DAY_NS if days else np.zeros(0, dtype=np.int64),
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
    window is a slice whose own step may differ from the full data's). With
    exchange rules (lot, minimum value) the stats end with ``rejected_orders``.
    """
    market = market_of(frame)
    sim = kernels.simulate(market, targets, config.sim_options(), sl, tp, want_fills=want_fills)
    stats = compute_stats(
        sim.equity,
        sim.units,
        sim.trades,
        cash=config.cash,
        close=market.close,
        ts_ns=time_index(frame).asi8,
        period_ns=bar_period_ns or period_ns(frame),
        year_days=float(config.year_days or 365),
    )
    if sim.rejected is not None:
        stats["rejected_orders"] = sim.rejected
    return sim, stats


def prepare(raw: np.ndarray | pd.Series, direction: str) -> np.ndarray:
    """Targets as the kernels take them: ``(n, 1)``, NaN forward-filled, clipped by direction."""
    return kernels.prepare_targets(np.asarray(raw, dtype=np.float64), DIRECTIONS[direction])


def _stops(values: pd.Series | None, start: int = 0) -> np.ndarray | None:
    return None if values is None else values.to_numpy(dtype=np.float64)[start:, None]


def trade_start(frame: pd.DataFrame, trade_from: Any) -> int:
    """Position of the first bar at or after ``trade_from`` (0 when it is None or not after
    the first bar).

    ``trade_from`` is a timestamp or text pandas parses (``2024-01-01``,
    ``2024-01-01T08:00Z``); without a time zone it is UTC. Raises ConfigError
    when it does not parse or is after the last bar.
    """
    if trade_from is None:
        return 0
    ts: pd.Timestamp | None
    try:
        ts = pd.Timestamp(trade_from)
    except (ValueError, TypeError):
        ts = None
    if ts is None or pd.isna(ts):
        raise ConfigError(
            f"trade_from: expected a timestamp like 2024-01-01 or 2024-01-01T08:00Z "
            f"(got {trade_from!r})"
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    index = time_index(frame)
    if ts > index[-1]:
        raise ConfigError(
            f"trade_from: {ts.isoformat()} is after the last candle "
            f"(candles span {index[0].isoformat()} to {index[-1].isoformat()})"
        )
    return int(index.searchsorted(ts, side="left"))


@with_option_keywords(OPTIONS)
def backtest(
    candles: pd.DataFrame | Mapping[str, Any] | Panel,
    strategy: str | Callable[..., Any] | Strategy = "sma_cross",
    *,
    timeframe: str | None = None,
    symbol: str | None = None,
    trade_from: Any = None,
    data_dir: str | Path | None = None,
    **keywords: Any,
) -> BacktestResult | PortfolioResult:
    """Backtest one strategy on candles (docs/semantics.md).

    ``candles`` of one symbol (a frame or a file) give a :class:`BacktestResult`.
    A mapping ``{symbol: frame or file}`` or a :class:`Panel` runs a portfolio
    of those symbols sharing one cash and gives a :class:`PortfolioResult`; so
    does a weights strategy (first parameter ``panel``) given one frame.

    ``strategy`` is a registered name, ``"file.py:function"``, or a function
    ``(candles, **params) -> Series``. Keywords named in ``OPTIONS``
    (docs/options.md) configure the engine (costs, fills, stops, gates, year
    length); the other keywords are the strategy's parameters, validated
    against its schema.

    ``trade_from`` (a timestamp, or text pandas parses; UTC when it has no time
    zone) makes the bars before it warm-up bars: the strategy is evaluated on
    every candle given, so its indicators are warm at the first bar at or after
    ``trade_from``, and the simulation starts there with fresh cash. Equity,
    trades, fills, stats, drawdown and the benchmark cover the traded bars
    only; targets before the first traded bar are not carried into it (a
    missing target there means flat, as on a first bar). The run id names the
    whole input (its data fingerprint) and the first traded bar, so the same
    candles and ``trade_from`` give the same run. A ``trade_from`` at or before
    the first candle leaves no warm-up bars: the run is the one without it,
    same id. After the last candle it is a ConfigError. ``year_days`` left to
    inference is inferred from the whole input.

    ``exchange_rules`` takes the tick, lot and minimum value from the exchange
    info stored with the candles in the store at ``data_dir`` (default: the
    default store); the report's ``metadata["exchange_rules"]`` names the snapshot.
    """
    started = time.perf_counter()
    options, params = split_options(keywords)
    config = Config(**options)
    strat = get_strategy(strategy)
    checked = strat.validate(params)
    if isinstance(candles, (Mapping, Panel)) or strat.kind == "weights":
        if not isinstance(candles, (Mapping, Panel)):
            frame = load_candles(candles, timeframe=timeframe, symbol=symbol)
            candles = {frame.attrs.get("symbol") or "asset": frame}
        panel = load_panel(candles, timeframe=timeframe)
        start = trade_start(pd.DataFrame(index=panel.index), trade_from)
        return backtest_portfolio(panel, strat, checked, config, start, started, data_dir)
    frame = load_candles(candles, timeframe=timeframe, symbol=symbol)
    start = trade_start(frame, trade_from)
    config, rules = resolve_exchange_rules(
        config.resolved(frame), frame.attrs.get("symbol"), data_dir
    )
    signals = strat.evaluate(frame, checked)
    if signals.orders is not None:
        return backtest_orders(frame, strat, checked, config, signals.orders, start, started, rules)
    traded = frame.iloc[start:] if start else frame
    # NaN forward-filled from the first traded bar, nothing clipped
    filled = prepare(signals.target.to_numpy()[start:], "both")
    prepared = prepare(filled, config.direction)
    clipped = int(np.count_nonzero(filled != prepared))  # bars whose side the direction forbids
    sim, stats = simulate_targets(
        traded,
        prepared,
        config,
        _stops(signals.sl_stop, start),
        _stops(signals.tp_stop, start),
        bar_period_ns=period_ns(frame) if start else None,
    )
    frame, input_frame = traded, (frame if start else None)
    return BacktestResult(
        strategy=strat.name,
        params=checked,
        config=config.to_dict(),
        stats=stats_row(stats, 0),
        strategy_sha256=strat.source_sha256,
        candles=frame,
        targets=pd.Series(prepared[:, 0], index=frame.index, name="target", copy=False),
        equity=pd.Series(sim.equity[:, 0], index=frame.index, name="equity", copy=False),
        position=pd.Series(sim.units[:, 0], index=frame.index, name="units", copy=False),
        trade_records=sim.trades,
        fill_records=sim.fills,
        lock_records=sim.locks,
        clipped_targets=clipped,
        input_candles=input_frame,
        duration_ms=(time.perf_counter() - started) * 1e3,
        exchange_info=rules,
    )
