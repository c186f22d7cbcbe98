"""BTCTurk protocol constants, endpoint configuration and the feed error tree.

::

    ExchangeError (SparkbtError)     the exchange could not give a usable answer
    ├── ExchangeUnavailable          unreachable host, timeouts, 5xx/429 past the retries
    └── ExchangeDataError            an answer that breaks the protocol (bad JSON, misaligned t)
    UnknownSymbolError (InputError)  the pair is not listed by the exchange
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from sparkbt.data.timeframes import format_timeframe, parse_timeframe
from sparkbt.errors import InputError, SparkbtError

__all__ = [
    "DEFAULT_GRAPH_URL",
    "DEFAULT_REST_URL",
    "DEFAULT_WS_URL",
    "MAX_CANDLES_PER_REQUEST",
    "Endpoints",
    "ExchangeDataError",
    "ExchangeError",
    "ExchangeUnavailable",
    "UnknownSymbolError",
    "resolution_for",
]

DEFAULT_GRAPH_URL = "https://graph-api.btcturk.com"
DEFAULT_REST_URL = "https://api.btcturk.com"
DEFAULT_WS_URL = "wss://ws-feed-pro.btcturk.com"
ENV_GRAPH_URL = "SPARKBT_BTCTURK_GRAPH_URL"
ENV_REST_URL = "SPARKBT_BTCTURK_REST_URL"
ENV_WS_URL = "SPARKBT_BTCTURK_WS_URL"

# ccxt caps one klines request at 11,000 candles; stay a little under it.
MAX_CANDLES_PER_REQUEST = 10_000

# WebSocket message types (first element of every frame).
MSG_HELLO = 991
MSG_SUBSCRIBE = 151
MSG_RESULT = 100
MSG_TRADE_SNAPSHOT = 421
MSG_TRADE = 422

_RESOLUTIONS: dict[str, str] = {
    "1m": "1",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "4h": "240",
    "1d": "1D",
    "1w": "1W",
}


class ExchangeError(SparkbtError):
    """The exchange could not give a usable answer."""


class ExchangeUnavailable(ExchangeError):
    """Unreachable host, timeouts, or 5xx/429 answers after the bounded retries."""


class ExchangeDataError(ExchangeError):
    """An answer that breaks the protocol (bad JSON, unknown shape, misaligned candle)."""


class UnknownSymbolError(InputError):
    """The pair is not listed by the exchange."""


def resolution_for(timeframe: str) -> tuple[str, pd.Timedelta]:
    """The klines ``resolution`` parameter and the bar period for a sparkbt timeframe."""
    td = parse_timeframe(timeframe)
    tf = format_timeframe(td)
    if tf not in _RESOLUTIONS:
        raise InputError(f"timeframe: BTCTurk serves {', '.join(_RESOLUTIONS)} (got {timeframe!r})")
    return _RESOLUTIONS[tf], td


def aligned(seconds: int, period: pd.Timedelta) -> bool:
    """Whether a candle open time (unix s) starts a period: epoch-aligned, weeks on Mondays."""
    step = int(period.total_seconds())
    if step == 604800:
        return (seconds - 4 * 86400) % step == 0  # 1970-01-05 was a Monday
    return seconds % step == 0


@dataclass(frozen=True)
class Endpoints:
    """Base URLs: explicit argument, else environment variable, else the public host."""

    graph: str = DEFAULT_GRAPH_URL
    rest: str = DEFAULT_REST_URL
    ws: str = DEFAULT_WS_URL

    @classmethod
    def resolve(
        cls, graph: str | None = None, rest: str | None = None, ws: str | None = None
    ) -> Endpoints:
        def pick(value: str | None, env: str, default: str) -> str:
            url = value or os.environ.get(env) or default
            return url.rstrip("/")

        return cls(
            graph=pick(graph, ENV_GRAPH_URL, DEFAULT_GRAPH_URL),
            rest=pick(rest, ENV_REST_URL, DEFAULT_REST_URL),
            ws=pick(ws, ENV_WS_URL, DEFAULT_WS_URL),
        )
