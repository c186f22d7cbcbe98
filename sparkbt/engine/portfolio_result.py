"""The result of one portfolio backtest, as pandas objects, and its evidence on disk."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.engine.codes import LOCK_DTYPE
from sparkbt.engine.result import (
    fills_frame,
    headline,
    locks_frame,
    params_text,
    stats_rows_html,
    trades_frame,
)
from sparkbt.engine.stats import json_safe
from sparkbt.evidence import (
    content_id,
    data_fingerprint,
    default_evidence_dir,
    dump_json,
    write_atomic,
    write_parquet,
)
from sparkbt.version import ENGINE_VERSION, __version__

__all__ = ["ASSET_COLUMNS", "PortfolioResult", "with_symbol"]

ASSET_COLUMNS: dict[str, str] = {
    "pnl": "profit and loss of the symbol's trades, fees paid, open ones at the last close",
    "contribution": "pnl / starting cash",
    "fees": "fees paid on the symbol's fills",
    "trades": "round trips (0 units to 0), the open one included",
    "exposure": "share of bars ending with units of the symbol",
    "mean_abs_weight": "mean over bars of |units x last close| / equity",
}
"""The per-symbol table (``res.assets``, ``assets.parquet``): column and meaning."""


def with_symbol(table: pd.DataFrame, cols: np.ndarray, symbols: list[str]) -> pd.DataFrame:
    table.insert(0, "symbol", np.asarray(symbols, dtype=object)[cols] if len(cols) else [])
    return table


@dataclass
class PortfolioResult:
    """One portfolio run: stats, per-symbol figures, equity, positions, weights, trades, fills."""

    strategy: str
    params: dict[str, Any]
    config: dict[str, Any]
    stats: dict[str, Any]
    strategy_sha256: str
    panel: Panel = field(repr=False)  # the traded bars
    targets: pd.DataFrame = field(repr=False)  # weights given to the kernel (NaN = no order)
    equity: pd.Series = field(repr=False)
    cash_curve: pd.Series = field(repr=False)
    positions: pd.DataFrame = field(repr=False)  # units per symbol after each bar
    trade_records: np.ndarray = field(repr=False)  # codes.TRADE_DTYPE, col = symbol
    fill_records: np.ndarray = field(repr=False)  # codes.FILL_DTYPE, col = symbol
    lock_records: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=LOCK_DTYPE), repr=False
    )
    clipped_weights: int = field(default=0, repr=False)
    input_panel: Panel | None = field(default=None, repr=False)  # the whole input, warm-up included
    duration_ms: float = field(default=0.0, repr=False)
    # the exchange-info snapshots the rules came from (exchange.resolve_portfolio_rules)
    exchange_info: dict[str, Any] | None = field(default=None, repr=False)
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        repr=False,
    )

    kind = "portfolio"

    @property
    def symbols(self) -> list[str]:
        return self.panel.symbols

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per round trip of a symbol (0 units back to 0), with its ``symbol``."""
        table = trades_frame(self.trade_records, self.panel.index)
        return with_symbol(table, self.trade_records["col"], self.symbols)

    @cached_property
    def fills(self) -> pd.DataFrame:
        """One row per fill, in execution order: symbol, timestamp, side, units, price, fee."""
        table = fills_frame(self.fill_records, self.panel.index)
        return with_symbol(table, self.fill_records["col"], self.symbols)

    @cached_property
    def locks(self) -> pd.DataFrame:
        """One row per risk-gate lock of the portfolio."""
        return locks_frame(self.lock_records, self.panel.index)

    @cached_property
    def weights(self) -> pd.DataFrame:
        """Realised weights: each symbol's units at its last close, over equity, per bar."""
        last = self.panel.close.ffill().fillna(0.0).to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            w = self.positions.to_numpy() * last / self.equity.to_numpy()[:, None]
        w[~np.isfinite(w)] = 0.0
        return pd.DataFrame(w + 0.0, index=self.panel.index, columns=self.symbols)

    @cached_property
    def assets(self) -> pd.DataFrame:
        """Per symbol: pnl, contribution, fees, trades, exposure, mean |weight| (ASSET_COLUMNS)."""
        k = len(self.symbols)
        tcol, fcol = self.trade_records["col"], self.fill_records["col"]
        pnl = np.bincount(tcol, weights=self.trade_records["pnl"], minlength=k)
        frame = pd.DataFrame(
            {
                "pnl": pnl,
                "contribution": pnl / float(self.config["cash"]),
                "fees": np.bincount(fcol, weights=self.fill_records["fee"], minlength=k),
                "trades": np.bincount(tcol, minlength=k).astype(np.int64),
                "exposure": np.mean(self.positions.to_numpy() != 0.0, axis=0),
                "mean_abs_weight": np.abs(self.weights.to_numpy()).mean(axis=0),
            },
            index=pd.Index(self.symbols, name="symbol"),
        )
        return frame[list(ASSET_COLUMNS)]

    @property
    def drawdown(self) -> pd.Series:
        """Fall from the running peak of equity, as a positive fraction."""
        return (1.0 - self.equity / self.equity.cummax()).rename("drawdown")

    @property
    def warmup_bars(self) -> int:
        """Bars before the first traded bar the strategy saw (``trade_from``); 0 if none."""
        return 0 if self.input_panel is None else len(self.input_panel) - len(self.panel)

    @cached_property
    def data_sha256_by_symbol(self) -> dict[str, str]:
        """Each symbol's candle fingerprint over the whole input (warm-up included)."""
        whole = self.panel if self.input_panel is None else self.input_panel
        return {s: data_fingerprint(f) for s, f in whole.frames.items()}

    @cached_property
    def data_sha256(self) -> str:
        """One fingerprint of every symbol's candles (the symbols in order, each fingerprint)."""
        text = json.dumps(self.data_sha256_by_symbol, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @cached_property
    def run_id(self) -> str:
        """Content id: every symbol's data, strategy and its source, params, config, engine."""
        payload: dict[str, Any] = {
            "engine_version": ENGINE_VERSION,
            "kind": self.kind,
            "data_sha256": self.data_sha256_by_symbol,
            "timeframe": self.panel.timeframe,
            "strategy": self.strategy,
            "strategy_sha256": self.strategy_sha256,
            "params": self.params,
            "config": self.config,
        }
        if self.warmup_bars:
            payload["trade_from"] = self.panel.index[0].isoformat()
        return content_id(payload)

    @property
    def metadata(self) -> dict[str, Any]:
        """Symbols, timeframe, sources, span, sizes and fingerprints of the run's candles."""
        index, frames = self.panel.index, self.panel.frames
        meta: dict[str, Any] = {
            "symbols": self.symbols,
            "timeframe": self.panel.timeframe,
            "sources": {s: f.attrs.get("source") or "dataframe" for s, f in frames.items()},
            "synthetic": any(bool(f.attrs.get("synthetic", False)) for f in frames.values()),
            "clipped_weights": int(self.clipped_weights),
            "start": index[0].isoformat(),
            "end": index[-1].isoformat(),
            "candle_count": len(index),
            "candles": {s: len(f) for s, f in frames.items()},
            "data_sha256": self.data_sha256,
            "data_sha256_by_symbol": self.data_sha256_by_symbol,
            "strategy_sha256": self.strategy_sha256,
        }
        if self.input_panel is not None and self.warmup_bars:
            meta["warmup_bars"] = self.warmup_bars
            meta["warmup_start"] = self.input_panel.index[0].isoformat()
        if self.exchange_info is not None:
            meta["exchange_rules"] = self.exchange_info
        return meta

    @property
    def report(self) -> dict[str, Any]:
        """The content of report.json."""
        assets = self.assets
        return {
            "id": self.run_id,
            "engine_version": ENGINE_VERSION,
            "sparkbt_version": __version__,
            "kind": self.kind,
            "strategy": self.strategy,
            "params": self.params,
            "config": self.config,
            "stats": self.stats,
            "assets": {
                s: {c: json_safe(assets.at[s, c]) for c in assets.columns} for s in assets.index
            },
            "metadata": self.metadata,
            "timing": {"created_at": self.created_at, "duration_ms": round(self.duration_ms, 3)},
        }

    def equity_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "timestamp": self.equity.index,
                "equity": self.equity.to_numpy(),
                "cash": self.cash_curve.to_numpy(),
                "drawdown": self.drawdown.to_numpy(),
            }
        )

    def _wide_frame(self, wide: pd.DataFrame) -> pd.DataFrame:
        out = wide.reset_index(drop=True)
        out.columns = [str(c) for c in out.columns]
        out.insert(0, "timestamp", self.panel.index)
        return out

    def save(self, evidence_dir: str | Path | None = None) -> Path:
        """Write ``<evidence_dir>/backtest/<id>/`` atomically; return the folder."""
        return self._save({}, evidence_dir)

    def _save(self, extra: dict[str, Any], evidence_dir: str | Path | None) -> Path:
        """The evidence folder with the portfolio's files and ``extra`` ones."""
        root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
        report = dump_json(self.report)
        assets = self.assets.reset_index()
        return write_atomic(
            root / "backtest" / self.run_id,
            {
                "report.json": lambda p: p.write_text(report),
                "trades.parquet": lambda p: write_parquet(self.trades, p),
                "fills.parquet": lambda p: write_parquet(self.fills, p),
                "equity.parquet": lambda p: write_parquet(self.equity_frame(), p),
                "locks.parquet": lambda p: write_parquet(self.locks, p),
                "assets.parquet": lambda p: write_parquet(assets, p),
                "positions.parquet": lambda p: write_parquet(self._wide_frame(self.positions), p),
                "weights.parquet": lambda p: write_parquet(self._wide_frame(self.weights), p),
                **extra,
            },
        )

    def __repr__(self) -> str:
        market = f"{','.join(self.symbols)} {self.panel.timeframe or ''}"
        line = headline(self.strategy, self.params, self.stats, market)
        return f"<PortfolioResult {self.run_id} {line}>"

    def _repr_html_(self) -> str:
        rows = stats_rows_html(self.stats)
        params = html.escape(params_text(self.params))
        meta = self.metadata
        return (
            f"<div><b>{html.escape(self.strategy)}</b>({params}) on "
            f"{html.escape(', '.join(self.symbols))} {html.escape(str(meta['timeframe'] or ''))}, "
            f"{meta['candle_count']:,} bars {html.escape(meta['start'][:10])} → "
            f"{html.escape(meta['end'][:10])}<br><small>run {self.run_id} · engine "
            f"v{ENGINE_VERSION}</small><table>{rows}</table>"
            f"{self.assets.to_html(float_format=lambda x: f'{x:,.4g}')}</div>"
        )
