"""Candles of several symbols aligned on one calendar: the input of a portfolio.

A :class:`Panel` keeps each symbol's canonical frame as it was loaded and the
union of their timestamps. Prices are never invented: a symbol without a
candle at a timestamp has NaN there in the wide frames (``panel.close`` etc.),
and the simulator neither trades it nor revalues it at that bar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import format_timeframe, parse_timeframe, time_index
from sparkbt.errors import PortfolioError

__all__ = ["FIELDS", "KNOWN_QUOTES", "Panel", "check_unique", "panel_of", "quote_currency"]

FIELDS = ("open", "high", "low", "close", "volume")
"""The candle columns a panel exposes as wide frames (timestamps x symbols)."""

KNOWN_QUOTES = ("USDT", "USDC", "TRY", "BTC", "EUR")
"""Quote currencies recognised at the end of a symbol: those BTCTurk pairs are quoted in."""
_SEPARATORS = re.compile(r"[-_/.]")


@dataclass(frozen=True, eq=False)
class Panel:
    """Canonical candles per symbol (in column order) and the union of their timestamps."""

    frames: Mapping[str, pd.DataFrame]
    timeframe: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.frames:
            raise PortfolioError("candles: a portfolio needs at least one symbol (got none)")
        object.__setattr__(self, "frames", dict(self.frames))

    @property
    def symbols(self) -> list[str]:
        """The symbols, in the order of the weights columns and of every per-symbol table."""
        return list(self.frames)

    @cached_property
    def index(self) -> pd.DatetimeIndex:
        """The union of every symbol's timestamps, sorted (UTC)."""
        stamps = np.unique(
            np.concatenate([time_index(f).as_unit("ns").asi8 for f in self.frames.values()])
        )
        return pd.DatetimeIndex(stamps.view("M8[ns]"), tz="UTC", name="timestamp")

    def __len__(self) -> int:
        return len(self.index)

    def field(self, name: str) -> pd.DataFrame:
        """One candle column as a frame (timestamps x symbols); NaN where a symbol has no candle."""
        if name not in FIELDS:
            raise KeyError(f"panel: no field {name!r} (fields: {', '.join(FIELDS)})")
        return self._wide[name]

    @property
    def open(self) -> pd.DataFrame:
        return self.field("open")

    @property
    def high(self) -> pd.DataFrame:
        return self.field("high")

    @property
    def low(self) -> pd.DataFrame:
        return self.field("low")

    @property
    def close(self) -> pd.DataFrame:
        return self.field("close")

    @property
    def volume(self) -> pd.DataFrame:
        return self.field("volume")

    @cached_property
    def _wide(self) -> dict[str, pd.DataFrame]:
        index = self.index
        rows = {s: index.get_indexer(time_index(f)) for s, f in self.frames.items()}
        out: dict[str, pd.DataFrame] = {}
        for name in FIELDS:
            values = np.full((len(index), len(self.frames)), np.nan)
            for j, (sym, frame) in enumerate(self.frames.items()):
                values[rows[sym], j] = frame[name].to_numpy(dtype=np.float64)
            wide = pd.DataFrame(values, index=index, columns=pd.Index(self.symbols, name="symbol"))
            wide.attrs["timeframe"] = self.timeframe
            out[name] = wide
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """open, high, low, close as C-contiguous float64 ``(bars, symbols)``; NaN = no candle.

        Built once per panel (a sweep evaluates many weights on the same arrays): read only.
        """
        return self._arrays

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        out = []
        for name in FIELDS[:4]:
            values = np.ascontiguousarray(self._wide[name].to_numpy())
            values.flags.writeable = False
            out.append(values)
        return out[0], out[1], out[2], out[3]

    def has_candle(self) -> np.ndarray:
        """``(bars, symbols)`` bool: True where the symbol has a candle."""
        has: np.ndarray = ~np.isnan(self._wide["close"].to_numpy())
        return has

    def since(self, start: int) -> Panel:
        """The panel from union bar ``start`` on (each frame cut at that timestamp)."""
        if start <= 0:
            return self
        first = self.index[start]
        frames = {}
        for sym, frame in self.frames.items():
            cut = frame.loc[frame.index >= first]
            cut.attrs = dict(frame.attrs)
            frames[sym] = cut
        empty = [s for s, f in frames.items() if not len(f)]
        if empty:
            raise PortfolioError(
                f"candles: {', '.join(empty)} have no candle at or after {first.isoformat()}"
            )
        return Panel(frames, self.timeframe, dict(self.attrs))

    def until(self, stop: int) -> Panel:
        """The panel up to and including union bar ``stop`` (a symbol listed later has no rows).

        What a strategy would have seen live at that bar's close: the look-ahead
        check compares its output on these prefixes with the full run's.
        """
        last = self.index[stop]
        frames = {}
        for sym, frame in self.frames.items():
            cut = frame.loc[frame.index <= last]
            cut.attrs = dict(frame.attrs)
            frames[sym] = cut
        return Panel(frames, self.timeframe, dict(self.attrs))


def quote_currency(symbol: str) -> str | None:
    """The quote currency an exchange pair names (``BTCTRY`` -> ``TRY``), else None.

    The rule, one for store, file and frame symbols alike: ignoring case and the
    separators ``- _ / .``, a symbol ending with one of :data:`KNOWN_QUOTES` after
    at least two more characters names that quote (``ETH-USDT``, ``AVAXTRY``,
    ``ETHBTC``). Any other symbol (``GOOG``, ``EURUSD``, ``WBTC``) names no quote
    and is taken as given: a portfolio may hold it beside any other.
    """
    letters = _SEPARATORS.sub("", str(symbol)).upper()
    for quote in KNOWN_QUOTES:
        if letters.endswith(quote) and len(letters) >= len(quote) + 2:
            return quote
    return None


def check_unique(symbols: Iterable[str], key: Any = str.upper) -> None:
    """CandleError naming the first symbol given twice (compared by ``key``)."""
    seen: dict[str, str] = {}
    for sym in symbols:
        k = key(sym)
        if k in seen:
            raise PortfolioError(
                f"candles: symbol {k} given twice ({seen[k]!r} and {sym!r}); give each symbol once"
            )
        seen[k] = sym


def _grouped(by_value: Mapping[str, str | None]) -> str:
    """``"4h (BTCTRY, ETHTRY) and 1h (SOLTRY)"``, values in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for sym, value in by_value.items():
        if value is not None:
            groups.setdefault(value, []).append(sym)
    return " and ".join(f"{v} ({', '.join(syms)})" for v, syms in groups.items())


def panel_of(frames: Mapping[str, pd.DataFrame], timeframe: str | None = None) -> Panel:
    """A Panel of canonical frames after the portfolio checks, recording where each came from.

    Refused: no symbol, a symbol given twice (ignoring case), symbols of different
    timeframes (a frame whose timeframe is unknown takes the others'), symbols of
    different known quote currencies (:func:`quote_currency`). ``attrs`` holds per
    symbol ``source``, ``synthetic``, ``volume_missing`` and ``path`` (files), and the
    panel's ``quote`` (None when no symbol names one).
    """
    if not frames:
        raise PortfolioError("candles: a portfolio needs at least one symbol (got none)")
    check_unique(frames)
    tfs = {sym: f.attrs.get("timeframe") for sym, f in frames.items()}
    known_tfs = {tf for tf in tfs.values() if tf is not None}
    if len(known_tfs) > 1:
        raise PortfolioError(
            f"candles: a portfolio needs one timeframe, got {_grouped(tfs)}; "
            "resample or pick symbols of one timeframe"
        )
    if timeframe is not None:
        timeframe = format_timeframe(parse_timeframe(timeframe))
        if known_tfs - {timeframe}:
            raise PortfolioError(
                f"candles: timeframe {timeframe} asked, but the candles are {_grouped(tfs)}"
            )
    quotes = {sym: quote_currency(sym) for sym in frames}
    known_quotes = {q for q in quotes.values() if q is not None}
    if len(known_quotes) > 1:
        raise PortfolioError(
            f"candles: a portfolio needs one quote currency, got {_grouped(quotes)}; "
            "prices in different currencies cannot share one cash"
        )
    attrs: dict[str, Any] = {
        "source": {s: f.attrs.get("source") for s, f in frames.items()},
        "synthetic": {s: bool(f.attrs.get("synthetic", False)) for s, f in frames.items()},
        "volume_missing": {
            s: bool(f.attrs.get("volume_missing", False)) for s, f in frames.items()
        },
        "path": {s: f.attrs["path"] for s, f in frames.items() if f.attrs.get("path")},
        "quote": next(iter(known_quotes), None),
    }
    return Panel(frames, timeframe or next(iter(known_tfs), None), attrs)
