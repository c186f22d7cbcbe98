"""BTCTurk spot market data: REST history backfill and the live trade feed.

Library API (async)::

    from sparkbt.data.feeds.btcturk import BtcturkRest, Endpoints, LiveFeed, fetch_history
    from sparkbt.data.store import CandleStore

    store = CandleStore("data")
    result = await fetch_history("BTCTRY", "1h", "2024-01-01", None, store=store)
    summary = await LiveFeed(["BTCTRY", "ETHTRY"], "1m", store=store).run(duration=600)

Policies: a period without trades stays **missing** (no flat candles are
invented; zero-volume klines are dropped); float32 noise in klines is undone
(see :func:`clean_float32`); only candles of ended periods are stored; the store
is written only through :meth:`CandleStore.merge` (atomic, idempotent).
Base URLs come from arguments, else ``SPARKBT_BTCTURK_GRAPH_URL``,
``SPARKBT_BTCTURK_REST_URL``, ``SPARKBT_BTCTURK_WS_URL``, else the public hosts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from sparkbt.data.exchange_info import write_exchange_info
from sparkbt.data.feeds._limits import Backoff, ConnectionBudget, RateLimiter
from sparkbt.data.feeds._protocol import (
    Endpoints,
    ExchangeDataError,
    ExchangeError,
    ExchangeUnavailable,
    UnknownSymbolError,
    resolution_for,
)
from sparkbt.data.feeds._rest import BtcturkRest, clean_float32, klines_frame
from sparkbt.data.feeds._ws import StaleConnection, TradeStream, subscribe_frame
from sparkbt.data.feeds.aggregate import CandleBuilder, Trade, parse_trade
from sparkbt.data.feeds.live import FeedSummary, LiveFeed
from sparkbt.data.feeds.metrics import FeedMetrics, serve_metrics
from sparkbt.data.store import CandleStore, MergeResult
from sparkbt.errors import InputError

__all__ = [
    "Backoff",
    "BtcturkRest",
    "CandleBuilder",
    "ConnectionBudget",
    "Endpoints",
    "ExchangeDataError",
    "ExchangeError",
    "ExchangeUnavailable",
    "FeedMetrics",
    "FeedSummary",
    "FetchResult",
    "LiveFeed",
    "RateLimiter",
    "StaleConnection",
    "Trade",
    "TradeStream",
    "UnknownSymbolError",
    "clean_float32",
    "fetch_history",
    "fetch_range",
    "klines_frame",
    "parse_trade",
    "resolution_for",
    "serve_metrics",
    "subscribe_frame",
]


@dataclass(frozen=True)
class FetchResult:
    """Outcome of a history fetch: range asked, requests made, what the store gained."""

    symbol: str
    timeframe: str
    start: pd.Timestamp
    end: pd.Timestamp
    received: int
    added: int
    updated: int
    total: int | None
    path: str


def _utc(value: str | pd.Timestamp, name: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: expected a date such as 2024-01-01 (got {value!r})") from exc
    if pd.isna(ts):
        raise InputError(f"{name}: expected a date such as 2024-01-01 (got {value!r})")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def fetch_range(
    timeframe: str,
    since: str | pd.Timestamp,
    until: str | pd.Timestamp | None,
    now: Callable[[], float] = time.time,
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Validated ``[start, end)`` of open times: ``until`` is capped at the period in progress."""
    _, period = resolution_for(timeframe)
    start = _utc(since, "--since")
    current = pd.Timestamp(now(), unit="s", tz="UTC").floor(period)
    end = current if until is None else min(_utc(until, "--until"), current)
    if until is not None and start >= _utc(until, "--until"):
        raise InputError(f"--since ({start.isoformat()}) must be before --until ({until})")
    if start >= end:
        raise InputError(
            f"--since ({start.isoformat()}): nothing has ended yet in [{start}, {end}); "
            "pick an earlier date"
        )
    return start, end


async def fetch_history(
    symbol: str,
    timeframe: str,
    since: str | pd.Timestamp,
    until: str | pd.Timestamp | None,
    *,
    store: CandleStore,
    rest: BtcturkRest | None = None,
    now: Callable[[], float] = time.time,
    on_page: Callable[[int], None] | None = None,
) -> FetchResult:
    """Page klines for ``[since, until)`` into the store (merge per page: idempotent).

    The symbol is checked against exchangeinfo before anything is written; its
    exchangeinfo entry is then stored as the pair's dated exchange rules
    (:mod:`sparkbt.data.exchange_info`).
    """
    start, end = fetch_range(timeframe, since, until, now)
    client = rest or BtcturkRest()
    received = added = updated = 0
    last: MergeResult | None = None
    async with client:
        sym = await client.check_symbol(symbol)
        fetched = pd.Timestamp(now(), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
        info = (await client.symbols())[sym]
        write_exchange_info(sym, "btcturk", info, fetched, store.root)
        async for frame in client.kline_pages(sym, timeframe, start, end):
            if len(frame):
                last = store.merge(sym, timeframe, frame)
                received += len(frame)
                added += last.added
                updated += last.updated
            if on_page is not None:
                on_page(received)
    return FetchResult(
        symbol=sym,
        timeframe=timeframe,
        start=start,
        end=end,
        received=received,
        added=added,
        updated=updated,
        total=None if last is None else last.total,
        path=str(store.path(sym, timeframe)),
    )
