"""Candles of several symbols aligned on one calendar: the input of a portfolio.

A :class:`Panel` keeps each symbol's canonical frame as it was loaded and the
union of their timestamps. Prices are never invented: a symbol without a
candle at a timestamp has NaN there in the wide frames (``panel.close`` etc.),
and the simulator neither trades it nor revalues it at that bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import time_index
from sparkbt.errors import CandleError

__all__ = ["FIELDS", "Panel"]

FIELDS = ("open", "high", "low", "close", "volume")
"""The candle columns a panel exposes as wide frames (timestamps x symbols)."""


@dataclass(frozen=True, eq=False)
class Panel:
    """Canonical candles per symbol (in column order) and the union of their timestamps."""

    frames: Mapping[str, pd.DataFrame]
    timeframe: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.frames:
            raise CandleError("candles: a portfolio needs at least one symbol (got none)")
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
        """open, high, low, close as C-contiguous float64 ``(bars, symbols)``; NaN = no candle."""
        return tuple(  # type: ignore[return-value]
            np.ascontiguousarray(self._wide[name].to_numpy()) for name in FIELDS[:4]
        )

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
            raise CandleError(
                f"candles: {', '.join(empty)} have no candle at or after {first.isoformat()}"
            )
        return Panel(frames, self.timeframe, dict(self.attrs))
