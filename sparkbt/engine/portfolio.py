"""``backtest()`` of several symbols sharing one cash: panel → weights → kernel → stats.

:func:`simulate_weights` is the evaluation step shared by a portfolio backtest
and every portfolio sweep: prepared weights in, kernel output and stats out.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.data.timeframes import parse_timeframe
from sparkbt.engine.exchange import resolve_portfolio_rules, symbol_rules
from sparkbt.engine.options import Config, infer_year_days
from sparkbt.engine.portfolio_kernels import PortfolioOutput, simulate_portfolio
from sparkbt.engine.portfolio_orders import (
    backtest_portfolio_orders,
    portfolio_order_table,
    strategy_output,
)
from sparkbt.engine.portfolio_result import PortfolioResult
from sparkbt.engine.registry import Strategy
from sparkbt.engine.stats import compute_stats, stats_row
from sparkbt.engine.statspec import PORTFOLIO_STAT_KEYS
from sparkbt.engine.weights import portfolio_weights
from sparkbt.errors import ConfigError

__all__ = [
    "PER_TRADE_OPTIONS",
    "backtest_portfolio",
    "check_portfolio_config",
    "panel_period_ns",
    "simulate_weights",
]

_DAY_NS = 86_400 * 10**9

PER_TRADE_OPTIONS = ("sl_stop", "tp_stop", "sl_trail", "loss_streak", "cooldown")
"""Options that follow one trade of one symbol; a portfolio refuses them."""


def check_portfolio_config(config: Config) -> None:
    """Refuse the per-trade rules (stops, loss streak, cooldown) for a portfolio: ConfigError."""
    set_ = [name for name in PER_TRADE_OPTIONS[:3] if getattr(config, name) not in (None, False)]
    set_ += [name for name in PER_TRADE_OPTIONS[3:] if name in (config.gates or {})]
    if set_:
        raise ConfigError(
            f"{set_[0]}: stops, loss_streak and cooldown are per-trade rules of one symbol; "
            "a portfolio takes the max_drawdown and daily_loss gates only"
        )


def panel_period_ns(panel: Panel) -> int:
    """Bar period in ns: the panel's timeframe, else the median step of its bars (1 day)."""
    if panel.timeframe:
        return int(parse_timeframe(panel.timeframe).value)
    steps = np.diff(panel.index.asi8)
    return int(np.median(steps)) if len(steps) else _DAY_NS


def resolved(config: Config, panel: Panel) -> Config:
    """``config`` with ``year_days`` inferred from the panel's bars when left unset."""
    if config.year_days is not None:
        return config
    return config.replace(year_days=infer_year_days(panel.index))


def simulate_weights(
    panel: Panel, weights: np.ndarray, config: Config, *, bar_period_ns: int | None = None
) -> tuple[PortfolioOutput, dict[str, np.ndarray]]:
    """Checked weights ``(bars, symbols)`` on ``panel`` -> kernel output and the stats row."""
    open_, high, low, close = panel.arrays()
    day = panel.index.asi8 // _DAY_NS
    rules = symbol_rules(config, panel.symbols)
    out = simulate_portfolio(open_, high, low, close, day, weights, config.sim_options(), rules)
    return out, portfolio_stats(panel, out, config, bar_period_ns or panel_period_ns(panel))


def portfolio_stats(
    panel: Panel, out: PortfolioOutput, config: Config, period: int
) -> dict[str, np.ndarray]:
    """Every statistic of the portfolio's equity and trades, then turnover and rejections."""
    trades = out.trades.copy()
    trades["col"] = 0  # the trades of every symbol are the portfolio's trades
    held = np.any(out.units != 0.0, axis=1)[:, None].astype(np.float64)
    stats = compute_stats(
        out.equity[:, None],
        held,
        trades,
        cash=config.cash,
        close=out.equity,
        ts_ns=panel.index.asi8,
        period_ns=period,
        year_days=float(config.year_days or 365),
    )
    stats["benchmark_return"] = np.array([basket_return(panel.arrays()[3])])
    mean_equity = float(np.mean(out.equity))
    stats["turnover"] = np.array([out.traded_value / mean_equity if mean_equity > 0 else np.nan])
    stats["rejected_orders"] = np.array([out.rejected])
    return {k: stats[k] for k in PORTFOLIO_STAT_KEYS}


def basket_return(close: np.ndarray) -> float:
    """Return of an equal-weight basket bought at each symbol's first close and held."""
    has = ~np.isnan(close)
    cols = np.arange(close.shape[1])
    first = close[np.argmax(has, axis=0), cols]
    last = close[len(close) - 1 - np.argmax(has[::-1], axis=0), cols]
    return float(np.mean(last / first) - 1.0)


def backtest_portfolio(
    panel: Panel,
    strat: Strategy,
    checked: dict[str, Any],
    config: Config,
    start: int,
    started: float | None = None,
    data_dir: str | Path | None = None,
) -> PortfolioResult:
    """One portfolio run: weights from bar ``start`` on (earlier bars are warm-up).

    Exchange rules come from the snapshots of the store at ``data_dir``.
    """
    started = time.perf_counter() if started is None else started
    check_portfolio_config(config)
    config, rules = resolve_portfolio_rules(resolved(config, panel), panel.symbols, data_dir)
    output = strategy_output(strat, panel, checked)
    table = portfolio_order_table(strat.name, output, panel)
    if table is not None:
        res = backtest_portfolio_orders(
            panel, strat, checked, config, table, start, panel_period_ns(panel), started
        )
        res.exchange_info = rules
        return res
    weights = portfolio_weights(strat, panel, checked, config.direction, start, output)
    traded = panel.since(start)
    out, stats = simulate_weights(
        traded, weights.values, config, bar_period_ns=panel_period_ns(panel)
    )
    return PortfolioResult(
        **result_fields(strat, checked, config, stats, panel, traded, out, started),
        targets=pd.DataFrame(weights.values, index=traded.index, columns=traded.symbols),
        clipped_weights=weights.clipped,
        exchange_info=rules,
    )


def result_fields(
    strat: Strategy,
    checked: dict[str, Any],
    config: Config,
    stats: dict[str, np.ndarray],
    panel: Panel,
    traded: Panel,
    out: Any,
    started: float,
) -> dict[str, Any]:
    """The fields every portfolio result takes from its run (``out``: a kernel's output with
    equity, cash, units, trades, fills and locks)."""
    index = traded.index
    return {
        "strategy": strat.name,
        "params": checked,
        "config": config.to_dict(),
        "stats": stats_row(stats, 0),
        "strategy_sha256": strat.source_sha256,
        "panel": traded,
        "equity": pd.Series(out.equity, index=index, name="equity"),
        "cash_curve": pd.Series(out.cash, index=index, name="cash"),
        "positions": pd.DataFrame(out.units, index=index, columns=traded.symbols),
        "trade_records": out.trades,
        "fill_records": out.fills,
        "lock_records": out.locks,
        "input_panel": panel if len(traded) < len(panel) else None,
        "duration_ms": (time.perf_counter() - started) * 1e3,
    }
