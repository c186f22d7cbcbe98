"""A backtest result seen bar by bar: what a paper session journals for each closed bar.

:func:`bar_rows` turns the result of :func:`sparkbt.backtest` (one symbol, a
portfolio or an order run) into one :class:`BarRow` per traded bar: its fills,
the units held per symbol and the equity (and a portfolio's cash) at its close,
plus the fingerprint of every candle the bar traded on. The journal stores
these rows; reconciliation builds them again from a fresh backtest and compares
them field by field (floats exactly: the same kernel on the same candles gives
the same bits).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import time_index
from sparkbt.engine.codes import REASONS

__all__ = ["BarRow", "bar_rows", "candle_fingerprint", "first_difference"]


def candle_fingerprint(ts_ns: int, values: Sequence[float]) -> str:
    """sha256 (16 hex chars) of one candle: its open time and OHLCV as little-endian bytes."""
    h = hashlib.sha256(np.int64(ts_ns).astype("<i8").tobytes())
    h.update(np.asarray(values, dtype="<f8").tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class BarRow:
    """One traded bar: open time (ns), candle fingerprints, fills, units, equity, cash."""

    ts: int
    candles: dict[str, str]
    fills: list[dict[str, Any]]
    positions: dict[str, float]
    equity: float
    cash: float | None

    @property
    def time(self) -> str:
        return pd.Timestamp(self.ts, unit="ns", tz="UTC").isoformat()

    def content(self) -> dict[str, Any]:
        """What the bar traded and held (the candles it saw are compared apart)."""
        return {
            "fills": self.fills,
            "positions": self.positions,
            "equity": self.equity,
            "cash": self.cash,
        }

    def to_dict(self) -> dict[str, Any]:
        return {"ts": self.ts, "time": self.time, "candles": self.candles, **self.content()}


def _fill(rec: np.void, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": "buy" if int(rec["side"]) > 0 else "sell",
        "units": float(rec["units"]),
        "price": float(rec["price"]),
        "fee": float(rec["fee"]),
        "reason": str(REASONS[int(rec["reason"])]),
    }


def _fingerprints(
    frames: Mapping[str, pd.DataFrame], index: pd.DatetimeIndex
) -> list[dict[str, str]]:
    """Per bar of ``index``: each symbol's candle fingerprint (none where it has no candle)."""
    out: list[dict[str, str]] = [{} for _ in range(len(index))]
    cols = ["open", "high", "low", "close", "volume"]
    for sym, frame in frames.items():
        rows = index.get_indexer(frame.index)
        keep = rows >= 0
        values = frame[cols].to_numpy()[keep]
        for pos, ts, vals in zip(rows[keep], time_index(frame).asi8[keep], values, strict=True):
            out[int(pos)][sym] = candle_fingerprint(int(ts), vals)
    return out


def bar_rows(
    result: Any, frames: Mapping[str, pd.DataFrame], after_ns: int | None = None
) -> list[BarRow]:
    """One row per traded bar of ``result`` whose open time is after ``after_ns``.

    ``frames`` are the candles given to the backtest, by symbol (for
    fingerprints). A single-symbol result names its symbol after the one key of
    ``frames``.
    """
    symbols = list(frames)
    if hasattr(result, "panel"):  # a portfolio
        index = pd.DatetimeIndex(result.panel.index)
        units = result.positions.to_numpy()
        cash: np.ndarray | None = result.cash_curve.to_numpy()
        symbols = list(result.symbols)
    else:
        index = pd.DatetimeIndex(result.candles.index)
        units = result.position.to_numpy()[:, None]
        cash = None
    equity = result.equity.to_numpy()
    ts = index.asi8
    first = 0 if after_ns is None else int(np.searchsorted(ts, after_ns, side="right"))
    fills: dict[int, list[dict[str, Any]]] = {}
    for rec in result.fill_records:
        bar = int(rec["bar"])
        if bar >= first:
            fills.setdefault(bar, []).append(_fill(rec, symbols[int(rec["col"])]))
    wanted = index[first:]
    prints = _fingerprints({s: f.loc[f.index >= wanted[0]] for s, f in frames.items()}, wanted)
    return [
        BarRow(
            ts=int(ts[i]),
            candles=prints[i - first],
            fills=fills.get(i, []),
            positions={s: float(units[i, j]) + 0.0 for j, s in enumerate(symbols)},
            equity=float(equity[i]),
            cash=None if cash is None else float(cash[i]),
        )
        for i in range(first, len(ts))
    ]


def first_difference(journal: Sequence[BarRow], fresh: Sequence[BarRow]) -> dict[str, Any] | None:
    """The first bar where two row lists disagree (a bar only one has, or a field), else None.

    Returns ``{"time", "ts", "field", "journal", "backtest"}``; ``field`` is
    ``bar`` (present on one side only), ``candles``, ``fills``, ``positions``,
    ``equity`` or ``cash``.
    """
    by_ts = {r.ts: r for r in fresh}
    seen = {r.ts for r in journal}
    extra = [
        r.ts for r in fresh if r.ts not in seen and r.ts <= (journal[-1].ts if journal else -1)
    ]
    for row in journal:
        if extra and extra[0] < row.ts:
            return _diff(extra[0], "bar", None, "present")
        other = by_ts.get(row.ts)
        if other is None:
            return _diff(row.ts, "bar", "present", None)
        for name in ("candles", "fills", "positions", "equity", "cash"):
            a, b = getattr(row, name), getattr(other, name)
            if a != b:
                return _diff(row.ts, name, a, b)
    return None


def _diff(ts: int, field: str, journal: Any, backtest: Any) -> dict[str, Any]:
    return {
        "time": pd.Timestamp(ts, unit="ns", tz="UTC").isoformat(),
        "ts": ts,
        "field": field,
        "journal": journal,
        "backtest": backtest,
    }
