"""The candles an assessment runs on: one pair's frame, or a portfolio's panel.

A version of one pair with a targets strategy is assessed on that pair's
candles (:func:`sparkbt.data.store.resolve_candles`); a version naming several
symbols, or of a weights strategy, on their :class:`~sparkbt.data.panel.Panel`
(:func:`sparkbt.data.panel_load.load_panel`: the store, else the packaged
samples). :class:`Market` gives every step of the assessment what it needs of
either: bar count and times, the in-sample slice, the bar period, engine
options resolved on it, the data summary and the fingerprint sweeps are
matched by.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.data.panel_load import load_panel
from sparkbt.data.store import resolve_candles
from sparkbt.data.timeframes import period_ns
from sparkbt.engine.options import Config
from sparkbt.engine.portfolio import check_portfolio_config, panel_period_ns, resolved
from sparkbt.engine.registry import Strategy
from sparkbt.evidence import data_fingerprint
from sparkbt.research.paramsets import ParamSetVersion
from sparkbt.research.portfolio_walkforward import panel_window

__all__ = ["Market", "load_market"]


@dataclass(frozen=True)
class Market:
    """The candles of an assessment: a frame (one pair) or a panel (a portfolio)."""

    candles: pd.DataFrame | Panel

    @property
    def is_portfolio(self) -> bool:
        return isinstance(self.candles, Panel)

    @property
    def index(self) -> pd.DatetimeIndex:
        """The bars: the frame's timestamps, or the union of the panel's."""
        if isinstance(self.candles, Panel):
            return self.candles.index
        return pd.DatetimeIndex(self.candles.index)

    def __len__(self) -> int:
        return len(self.candles)

    def head(self, stop: int) -> pd.DataFrame | Panel:
        """Bars ``[0, stop)``: the in-sample candles (a panel keeps the symbols with a candle)."""
        if isinstance(self.candles, Panel):
            return panel_window(self.candles, 0, stop)
        return self.candles.iloc[:stop]

    def period_ns(self) -> int:
        """The bar period in nanoseconds (annualises per-bar figures)."""
        if isinstance(self.candles, Panel):
            return panel_period_ns(self.candles)
        return period_ns(self.candles)

    def config(self, version: ParamSetVersion) -> Config:
        """The engine options of ``version``, ``year_days`` resolved on these candles.

        A portfolio refuses the per-trade rules (stops, loss streak, cooldown): ConfigError.
        """
        opts = dict(version.options)
        opts["gates"] = dict(opts.get("gates") or {})
        config = Config(**opts)
        if isinstance(self.candles, Panel):
            check_portfolio_config(config)
            return resolved(config, self.candles)
        return config.resolved(self.candles)

    def fingerprint(self) -> str | dict[str, str]:
        """What a stored sweep's identity names the candles by (per symbol for a panel)."""
        if isinstance(self.candles, Panel):
            return {s: data_fingerprint(f) for s, f in self.candles.frames.items()}
        return data_fingerprint(self.candles)

    def summary(self, version: ParamSetVersion) -> dict[str, Any]:
        """Which candles the assessment ran on (a portfolio names its symbols, fingerprints)."""
        candles = self.candles
        index = self.index
        common = {"candles": len(index), "start": index[0], "end": index[-1]}
        if not isinstance(candles, Panel):
            return {
                "pair": version.pair,
                "timeframe": version.timeframe,
                "source": candles.attrs.get("source"),
                "synthetic": bool(candles.attrs.get("synthetic", False)),
                **common,
                "data_sha256": data_fingerprint(candles),
            }
        by_symbol = self.fingerprint()
        text = json.dumps(by_symbol, separators=(",", ":"))
        frames = candles.frames
        return {
            "pair": version.pair,
            "symbols": candles.symbols,
            "timeframe": version.timeframe,
            "sources": {s: f.attrs.get("source") for s, f in frames.items()},
            "synthetic": any(bool(f.attrs.get("synthetic", False)) for f in frames.values()),
            **common,
            "candles_by_symbol": {s: len(f) for s, f in frames.items()},
            # the combined fingerprint a portfolio run's metadata names (data_sha256)
            "data_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "data_sha256_by_symbol": by_symbol,
        }


def load_market(version: ParamSetVersion, strat: Strategy, data_dir: str | Path | None) -> Market:
    """The candles of ``version``: its panel when it names several symbols or ``strat``
    is a weights strategy, else its pair's frame. One-line CandleError when missing."""
    if version.is_portfolio or strat.kind == "weights":
        panel = load_panel(version.pairs, timeframe=version.timeframe, data_dir=data_dir)
        return Market(panel)
    return Market(resolve_candles(version.pair, version.timeframe, data_dir))
