"""``load_panel``: the candles of a portfolio from files, frames, the store or the samples.

Three kinds of source, each giving a checked :class:`~sparkbt.data.panel.Panel`:

- a mapping ``{symbol: DataFrame or file path}``: each read by
  :func:`~sparkbt.data.candles.load_candles` under its key (kept as given, e.g.
  ``GOOG``); an error in one names its symbol;
- a list of store symbols (``["BTCTRY", "ETHTRY"]``, any case): each read from the
  :class:`~sparkbt.data.store.CandleStore` at ``timeframe`` (default 4h), else from
  the packaged synthetic sample of that symbol, as
  :func:`~sparkbt.data.store.resolve_candles` does. Stored and synthetic candles are
  never mixed in one panel: a fallback that would do so is refused;
- a Panel: returned as is.

Then one timeframe and one known quote currency
(:func:`~sparkbt.data.panel.quote_currency`) across symbols, each symbol once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel, check_unique, panel_of
from sparkbt.data.store import (
    DEFAULT_TIMEFRAME,
    CandleStore,
    missing_message,
    normalise_symbol,
    sample_candles,
    sample_path,
)
from sparkbt.errors import CandleError, PortfolioError, did_you_mean

__all__ = ["load_panel"]

PanelSource = Mapping[str, "pd.DataFrame | str | Path"] | Sequence[str] | Panel


def load_panel(
    source: PanelSource,
    *,
    timeframe: str | None = None,
    symbols: Sequence[str] | None = None,
    data_dir: str | Path | None = None,
) -> Panel:
    """The candles of several symbols aligned on the union of their timestamps.

    ``symbols`` picks and orders some of the source's symbols. ``timeframe``
    declares the bar period of files and frames (checked against them) and picks
    the store files (default 4h). Every refusal is a one-line CandleError.
    """
    if isinstance(source, Panel):
        panel = source
        if timeframe is not None:
            panel_of(dict(panel.frames), timeframe)  # refuses a panel of another timeframe
    elif isinstance(source, Mapping):
        panel = _from_mapping(source, timeframe)
    elif isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        panel = _from_store(source, timeframe or DEFAULT_TIMEFRAME, data_dir)
    else:
        raise PortfolioError(
            "candles: expected a mapping {symbol: frame or file path}, a list of store "
            f"symbols or a Panel (got {type(source).__name__})"
        )
    return panel if symbols is None else _select(panel, symbols)


def _from_mapping(source: Mapping[str, object], timeframe: str | None) -> Panel:
    if not source:
        raise PortfolioError(
            "candles: a portfolio needs at least one symbol (got an empty mapping)"
        )
    frames: dict[str, pd.DataFrame] = {}
    for key, item in source.items():
        sym = str(key).strip()
        if not sym:
            raise PortfolioError(f"candles: empty symbol {key!r}; name every symbol")
        check_unique([*frames, sym])
        if not isinstance(item, (pd.DataFrame, str, Path)):
            raise PortfolioError(
                f"{sym}: expected a DataFrame or a file path (got {type(item).__name__})"
            )
        try:
            frames[sym] = load_candles(item, timeframe=timeframe, symbol=sym)
        except CandleError as exc:
            raise CandleError(f"{sym}: {exc}") from exc
    return panel_of(frames, timeframe)


def _from_store(source: Sequence[str], timeframe: str, data_dir: str | Path | None) -> Panel:
    if not source:
        raise PortfolioError("candles: a portfolio needs at least one symbol (got an empty list)")
    syms = [normalise_symbol(s) for s in source]
    check_unique(syms)
    store = CandleStore(data_dir)
    frames: dict[str, pd.DataFrame] = {}
    for sym in syms:
        if store.exists(sym, timeframe):
            frames[sym] = store.read(sym, timeframe)
        elif sample_path(sym, timeframe) is not None:
            frames[sym] = sample_candles(sym, timeframe)
        else:
            raise PortfolioError(missing_message(store, sym, timeframe))
    kinds = {s: f.attrs["source"] for s, f in frames.items()}
    stored = [s for s, k in kinds.items() if k == "store"]
    sampled = [s for s, k in kinds.items() if k == "sample"]
    if stored and sampled:
        raise PortfolioError(
            f"{store.root}: {', '.join(stored)} {timeframe} come from the store but "
            f"{', '.join(sampled)} only from the packaged synthetic samples; fetch "
            f"{', '.join(sampled)} too or use only samples (real and synthetic prices do not mix)"
        )
    return panel_of(frames, timeframe)


def _select(panel: Panel, symbols: Sequence[str]) -> Panel:
    """The panel restricted to ``symbols``, in that order (matched ignoring case)."""
    if isinstance(symbols, str):
        symbols = [s for s in symbols.split(",") if s.strip()]
    by_key = {s.upper(): s for s in panel.symbols}
    check_unique(symbols)
    picked = []
    for sym in symbols:
        found = by_key.get(str(sym).strip().upper())
        if found is None:
            raise PortfolioError(
                f"symbols: {sym!r} is not among the candles ({', '.join(panel.symbols)})"
                f"{did_you_mean(str(sym).upper(), by_key)}"
            )
        picked.append(found)
    if not picked:
        raise PortfolioError("symbols: a portfolio needs at least one symbol (got none)")
    frames = {s: panel.frames[s] for s in picked}
    return panel_of(frames, panel.timeframe)
