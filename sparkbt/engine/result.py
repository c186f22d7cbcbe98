"""The result of one backtest, as pandas objects, and its evidence on disk."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import time_index
from sparkbt.engine.codes import GATES, LOCK_DTYPE, REASONS
from sparkbt.engine.options import contract_version
from sparkbt.engine.statspec import PERCENT_KEYS, format_stat
from sparkbt.evidence import (
    content_id,
    data_fingerprint,
    default_evidence_dir,
    dump_json,
    write_atomic,
    write_parquet,
)
from sparkbt.version import __version__

__all__ = [
    "PERCENT_KEYS",
    "BacktestResult",
    "fills_frame",
    "format_stat",
    "locks_frame",
    "trades_frame",
]

TRADE_COLUMNS = (
    "id",
    "side",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "units",
    "pnl",
    "return",
    "entry_fee",
    "exit_fee",
    "fees",
    "bars_held",
    "open",
    "exit_reason",
)
LOCK_COLUMNS = ("gate", "start", "end", "bars", "equity", "limit")


def trades_frame(records: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """TRADE_DTYPE records of one column -> the trades table (open trades: exit = last bar)."""
    return pd.DataFrame(
        {
            "id": np.arange(len(records), dtype=np.int64),
            "side": np.where(records["side"] > 0, "long", "short"),
            "entry_time": index[records["entry_bar"]],
            "exit_time": index[records["exit_bar"]],
            "entry_price": records["entry_price"],
            "exit_price": records["exit_price"],
            "units": records["units"],
            "pnl": records["pnl"],
            "return": records["ret"],
            "entry_fee": records["entry_fee"],
            "exit_fee": records["exit_fee"],
            "fees": records["entry_fee"] + records["exit_fee"],
            "bars_held": (records["exit_bar"] - records["entry_bar"]).astype(np.int64),
            "open": records["is_open"].astype(bool),
            "exit_reason": _names(REASONS, records["exit_reason"]),
        },
        columns=list(TRADE_COLUMNS),
    )


def _names(names: tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    return np.asarray(names, dtype=object)[codes.astype(np.int64)]


def locks_frame(records: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """LOCK_DTYPE records of one column -> the locks table: gate, first/last locked bar."""
    return pd.DataFrame(
        {
            "gate": _names(GATES, records["gate"]),
            "start": index[records["first_bar"]],
            "end": index[records["last_bar"]],
            "bars": (records["last_bar"] - records["first_bar"] + 1).astype(np.int64),
            "equity": records["equity"].astype(np.float64),
            "limit": records["limit"].astype(np.float64),
        },
        columns=list(LOCK_COLUMNS),
    )


def fills_frame(records: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """FILL_DTYPE records of one column -> the fills table."""
    return pd.DataFrame(
        {
            "timestamp": index[records["bar"]],
            "side": np.where(records["side"] > 0, "buy", "sell"),
            "units": records["units"],
            "price": records["price"],
            "fee": records["fee"],
            "reason": _names(REASONS, records["reason"]),
        }
    )


@dataclass
class BacktestResult:
    """One backtest: stats (dict), trades/fills (DataFrames), equity/position (Series)."""

    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    stats: dict[str, Any]
    strategy_sha256: str
    candles: pd.DataFrame = field(repr=False)
    targets: pd.Series = field(repr=False)
    equity: pd.Series = field(repr=False)
    position: pd.Series = field(repr=False)
    trade_records: np.ndarray = field(repr=False)  # codes.TRADE_DTYPE
    fill_records: np.ndarray = field(repr=False)  # codes.FILL_DTYPE
    lock_records: np.ndarray = field(  # codes.LOCK_DTYPE
        default_factory=lambda: np.zeros(0, dtype=LOCK_DTYPE), repr=False
    )
    # bars whose (forward-filled) target the direction set to flat: shorts under
    # "long", longs under "short"
    clipped_targets: int = field(default=0, repr=False)
    # the whole input when the run had warm-up bars (``candles`` are the traded
    # bars at its end); None when every candle given was traded
    input_candles: pd.DataFrame | None = field(default=None, repr=False)
    duration_ms: float = field(default=0.0, repr=False)
    # the exchange-info snapshot the rules came from (exchange.resolve_exchange_rules); None: none
    exchange_info: dict[str, Any] | None = field(default=None, repr=False)
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        repr=False,
    )

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per round trip (built on first use from the kernel's records)."""
        return trades_frame(self.trade_records, time_index(self.candles))

    @cached_property
    def fills(self) -> pd.DataFrame:
        """One row per fill: timestamp, side, units, price, fee."""
        return fills_frame(self.fill_records, time_index(self.candles))

    @cached_property
    def locks(self) -> pd.DataFrame:
        """One row per risk-gate lock: gate, first and last locked bar, equity, limit."""
        return locks_frame(self.lock_records, time_index(self.candles))

    @property
    def warmup_bars(self) -> int:
        """Candles before the first traded bar the strategy saw (``trade_from``); 0 if none."""
        if self.input_candles is None:
            return 0
        return len(self.input_candles) - len(self.candles)

    @cached_property
    def data_sha256(self) -> str:
        """Fingerprint of the whole input, warm-up bars included (computed on first use)."""
        return data_fingerprint(self.candles if self.input_candles is None else self.input_candles)

    @property
    def engine_version(self) -> str:
        """The contract the run was made under: v2, or v3 when its config sets a v3 option."""
        return contract_version(self.config)

    @cached_property
    def run_id(self) -> str:
        """Content id: data, strategy and its source, params, config, engine version.

        A run with warm-up bars also names its first traded bar (``trade_from``);
        ``data_sha256`` is then the fingerprint of the whole input.
        """
        return content_id(self._id_payload())

    def _id_payload(self) -> dict[str, Any]:
        """What the run id hashes (a kind of run may add its own keys)."""
        payload = {
            "engine_version": self.engine_version,
            "data_sha256": self.data_sha256,
            "symbol": self.candles.attrs.get("symbol"),
            "timeframe": self.candles.attrs.get("timeframe"),
            "strategy": self.strategy,
            "strategy_sha256": self.strategy_sha256,
            "params": self.params,
            "config": self.config,
        }
        if self.warmup_bars:
            payload["trade_from"] = self.candles.index[0].isoformat()
        return payload

    @property
    def metadata(self) -> dict[str, Any]:
        """What the run was made of: symbol, timeframe, where the candles came from, span, size.

        ``source`` (sample, store, file, dataframe or exchange) and ``synthetic``
        describe the candles; they are not part of the run id (the data
        fingerprint is); ``volume_missing`` says the input had no volume column
        (volume is 0.0). ``clipped_targets`` counts the bars whose target the
        direction set to flat (short targets under ``long``, long ones under
        ``short``), after NaN forward-fill. ``start``, ``end`` and
        ``candle_count`` describe the traded bars; a run with warm-up bars
        (``trade_from``) adds ``warmup_bars`` and ``warmup_start`` (the first
        candle the strategy saw), and its ``data_sha256`` covers them too.
        """
        index = self.candles.index
        attrs = self.candles.attrs
        meta = {
            "symbol": attrs.get("symbol"),
            "timeframe": attrs.get("timeframe"),
            "source": attrs.get("source") or "dataframe",
            "synthetic": bool(attrs.get("synthetic", False)),
            "volume_missing": bool(attrs.get("volume_missing", False)),
            "clipped_targets": int(self.clipped_targets),
            "start": index[0].isoformat(),
            "end": index[-1].isoformat(),
            "candle_count": len(index),
            "data_sha256": self.data_sha256,
            "strategy_sha256": self.strategy_sha256,
        }
        if self.input_candles is not None and self.warmup_bars:
            meta["warmup_bars"] = self.warmup_bars
            meta["warmup_start"] = self.input_candles.index[0].isoformat()
        if self.exchange_info is not None:
            meta["exchange_rules"] = self.exchange_info
        return meta

    @property
    def drawdown(self) -> pd.Series:
        """Fall from the running peak of equity, as a positive fraction."""
        return (1.0 - self.equity / self.equity.cummax()).rename("drawdown")

    @property
    def report(self) -> dict[str, Any]:
        """The content of report.json."""
        return {
            "id": self.run_id,
            "engine_version": self.engine_version,
            "sparkbt_version": __version__,
            "strategy": self.strategy,
            "params": self.params,
            "config": self.config,
            "stats": self.stats,
            "metadata": self.metadata,
            "timing": {"created_at": self.created_at, "duration_ms": round(self.duration_ms, 3)},
        }

    def equity_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "timestamp": self.equity.index,
                "equity": self.equity.to_numpy(),
                "units": self.position.to_numpy(),
                "target": self.targets.to_numpy(),
                "drawdown": self.drawdown.to_numpy(),
            }
        )

    def save(self, evidence_dir: str | Path | None = None) -> Path:
        """Write ``<evidence_dir>/backtest/<id>/`` atomically; return the folder."""
        root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
        report = dump_json(self.report)
        writers: dict[str, Callable[[Path], object]] = {
            "report.json": lambda p: p.write_text(report)
        }
        for name, table in self._tables().items():
            writers[name] = lambda p, table=table: write_parquet(table(), p)  # type: ignore[misc]
        return write_atomic(root / "backtest" / self.run_id, writers)

    def _tables(self) -> dict[str, Callable[[], pd.DataFrame]]:
        """The evidence's Parquet files and what each holds (a kind of run may add its own)."""
        return {
            "trades.parquet": lambda: self.trades,
            "fills.parquet": lambda: self.fills,
            "equity.parquet": self.equity_frame,
            "locks.parquet": lambda: self.locks,
        }

    def __repr__(self) -> str:
        market = f"{self.metadata.get('symbol') or ''} {self.metadata.get('timeframe') or ''}"
        line = headline(self.strategy, self.params, self.stats, market)
        return f"<BacktestResult {self.run_id} {line}>"

    def _repr_html_(self) -> str:
        rows = stats_rows_html(self.stats)
        params = html.escape(params_text(self.params))
        meta = self.metadata
        return (
            f"<div><b>{html.escape(self.strategy)}</b>({params}) on "
            f"{html.escape(str(meta.get('symbol') or 'candles'))} "
            f"{html.escape(str(meta.get('timeframe') or ''))}, {meta['candle_count']:,} bars "
            f"{html.escape(meta['start'][:10])} → {html.escape(meta['end'][:10])}"
            f"<br><small>run {self.run_id} · engine v{self.engine_version}</small>"
            f"<table>{rows}</table></div>"
        )


def params_text(params: dict[str, Any]) -> str:
    """``fast=10, slow=30``: a run's parameters as its reprs show them."""
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


def headline(strategy: str, params: dict[str, Any], stats: dict[str, Any], market: str) -> str:
    """A run in one line: strategy(params), what it traded, return, Sharpe, drawdown, trades."""
    return (
        f"{strategy}({params_text(params)}) {market} "
        f"return={format_stat('total_return', stats['total_return'])} "
        f"sharpe={format_stat('sharpe', stats['sharpe'])} "
        f"max_dd={format_stat('max_drawdown', stats['max_drawdown'])} "
        f"trades={stats['total_trades']}"
    )


def stats_rows_html(stats: dict[str, Any]) -> str:
    """One HTML table row per statistic, formatted by its unit (a notebook's repr)."""
    return "".join(
        f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
        f"<td style='text-align:right'>{html.escape(format_stat(k, v))}</td></tr>"
        for k, v in stats.items()
    )
