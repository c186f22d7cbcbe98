"""Before a session starts on the live feed: its symbols checked against the exchange and
its warm-up history fetched into the candle store (BTCTurk REST).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["prepare_symbols", "stored_symbols"]


async def prepare_symbols(
    symbols: list[str], timeframe: str, warmup: int, data_dir: str | Path | None
) -> None:
    """Symbols the exchange lists (UnknownSymbolError otherwise); ``warmup`` bars stored."""
    import pandas as pd

    from sparkbt.data.feeds.btcturk import BtcturkRest, fetch_history, resolution_for
    from sparkbt.data.store import CandleStore

    _, period = resolution_for(timeframe)
    async with BtcturkRest() as rest:
        for sym in symbols:
            await rest.check_symbol(sym)
    if warmup <= 0:
        return
    since = pd.Timestamp.now(tz="UTC").floor(period) - warmup * period
    for sym in symbols:
        await fetch_history(sym, timeframe, since, None, store=CandleStore(data_dir))


def stored_symbols(symbols: list[str], timeframe: str, data_dir: str | Path | None) -> None:
    """An InputError naming the first symbol the candle store holds no ``timeframe`` candles of.

    A session following the store (fed by another process) needs the store to have them.
    """
    from sparkbt.data.store import CandleStore
    from sparkbt.errors import InputError

    store = CandleStore(data_dir)
    for sym in symbols:
        if not store.exists(sym, timeframe):
            raise InputError(f"symbol: the candle store holds no {timeframe} candles of {sym}")
