"""Async BTCTurk REST client: klines history (paged), exchange info, recent trades.

Every request goes through the shared :class:`RateLimiter`; a 429 pauses the
limiter for its ``Retry-After``; 5xx answers, timeouts and connection errors are
retried with jittered exponential backoff, at most ``max_retries`` times, then
raise :class:`ExchangeUnavailable`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import COLUMNS, validate_candles
from sparkbt.data.feeds._limits import Backoff, RateLimiter
from sparkbt.data.feeds._protocol import (
    MAX_CANDLES_PER_REQUEST,
    Endpoints,
    ExchangeDataError,
    ExchangeUnavailable,
    UnknownSymbolError,
    aligned,
    resolution_for,
)
from sparkbt.data.feeds.metrics import FeedMetrics
from sparkbt.data.timeframes import time_index
from sparkbt.errors import CandleError, did_you_mean, require

__all__ = ["BtcturkRest", "clean_float32", "klines_frame"]


def clean_float32(values: np.ndarray, rel_tol: float = 1e-12) -> np.ndarray:
    """Undo float32 noise in klines: ``6.0079998970032`` → ``6.008``.

    Rule: when a value is within ``rel_tol`` of a float32 (it is that float32
    printed with 13 or more significant digits), it is replaced by the shortest
    decimal that reads back as the same float32. Genuine float64 values such as
    ``2345678.91`` are ~1e-8 away from any float32 and pass unchanged; values
    whose float32 spelling is already short (``0.5``, ``6.008``) are unchanged too.
    """
    out = np.asarray(values, dtype="float64").copy()
    with np.errstate(over="ignore", invalid="ignore"):
        f32 = out.astype(np.float32)
        wide = f32.astype(np.float64)
        near = np.isfinite(out) & np.isfinite(wide) & (np.abs(wide - out) <= rel_tol * np.abs(out))
    for i in np.flatnonzero(near):
        out[i] = float(np.format_float_positional(f32[i], unique=True, trim="-"))
    return out


def _empty() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in COLUMNS}, index=index)


def klines_frame(body: Any, period: pd.Timedelta, where: str) -> pd.DataFrame:
    """Canonical candles from one klines answer (``s:null``/``no_data``/empty → no rows).

    Candles with zero volume are dropped: a period without trades stays missing,
    never a flat invented candle. Open times must start a period of the timeframe.
    """
    if not isinstance(body, dict):
        raise ExchangeDataError(f"{where}: expected a JSON object, got {type(body).__name__}")
    status = body.get("s")
    if status == "error":
        raise ExchangeDataError(f"{where}: exchange error: {body.get('errmsg') or body}")
    times = body.get("t") or []
    if status in (None, "no_data") or len(times) == 0:
        return _empty()
    if status != "ok":
        raise ExchangeDataError(f"{where}: unexpected status s={status!r}")
    arrays = {}
    for key, col in zip("ohlcv", COLUMNS, strict=True):
        values = body.get(key)
        if not isinstance(values, list) or len(values) != len(times):
            raise ExchangeDataError(
                f"{where}: field {key!r} must be a list as long as 't' ({len(times)})"
            )
        try:
            arrays[col] = clean_float32(np.array(values, dtype="float64"))
        except (TypeError, ValueError) as exc:
            raise ExchangeDataError(f"{where}: field {key!r} holds a non-number") from exc
    secs = [int(t) for t in times]
    for t in secs:
        if not aligned(t, period):
            stamp = pd.Timestamp(t, unit="s", tz="UTC").isoformat()
            raise ExchangeDataError(f"{where}: candle at {stamp} does not start a {period} period")
    index = pd.DatetimeIndex(pd.to_datetime(secs, unit="s", utc=True), name="timestamp")
    frame = pd.DataFrame(arrays, index=index.as_unit("ns"))
    frame = frame[frame["volume"] > 0]
    frame = frame[~frame.index.duplicated(keep="last")].sort_index()
    if len(frame):
        try:
            validate_candles(frame, where)
        except CandleError as exc:
            raise ExchangeDataError(str(exc)) from exc
    return frame


class BtcturkRest:
    """Async REST client; use as ``async with BtcturkRest(...) as rest:``."""

    def __init__(
        self,
        endpoints: Endpoints | None = None,
        *,
        limiter: RateLimiter | None = None,
        backoff: Backoff | None = None,
        max_retries: int = 5,
        timeout: float = 10.0,
        metrics: FeedMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        page_size: int = MAX_CANDLES_PER_REQUEST,
    ) -> None:
        if page_size < 2:
            raise ValueError(f"page_size must be >= 2 (got {page_size})")
        self.endpoints = endpoints or Endpoints.resolve()
        self.limiter = limiter or RateLimiter()
        self.backoff = backoff or Backoff()
        self.max_retries, self.timeout, self.page_size = max_retries, timeout, page_size
        self.metrics = metrics
        self._sleep = sleep
        self._client: Any = None
        self._symbols: dict[str, dict[str, Any]] | None = None

    async def __aenter__(self) -> BtcturkRest:
        httpx = require("httpx", "feeds")
        self._client = httpx.AsyncClient(timeout=self.timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _count(self, status: str) -> None:
        if self.metrics is not None:
            self.metrics.rest_requests.labels(status=status).inc()

    async def get_json(self, url: str, params: dict[str, Any]) -> Any:
        """GET with rate limiting and bounded retries; returns the decoded JSON body."""
        httpx = require("httpx", "feeds")
        if self._client is None:
            raise RuntimeError("use `async with BtcturkRest(...)` before requests")
        problem = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                await self._sleep(self.backoff.delay(attempt - 1))
            await self.limiter.acquire()
            try:
                resp = await self._client.get(url, params=params)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self._count("error")
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                continue
            self._count(str(resp.status_code))
            if resp.status_code == 429:
                wait = _retry_after(resp.headers.get("Retry-After"))
                self.limiter.block_for(wait)
                problem = f"429 Too Many Requests (Retry-After {wait:g} s)"
                continue
            if resp.status_code >= 500:
                problem = f"HTTP {resp.status_code}"
                continue
            try:
                return resp.json()
            except ValueError as exc:
                if resp.status_code >= 400:
                    raise ExchangeDataError(f"{url}: HTTP {resp.status_code}") from exc
                raise ExchangeDataError(f"{url}: answer is not JSON") from exc
        raise ExchangeUnavailable(
            f"{url}: no answer after {self.max_retries + 1} attempts ({problem})"
        )

    # ------------------------------------------------------------------ api host
    async def _enveloped(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.endpoints.rest}{path}"
        body = await self.get_json(url, params)
        if not isinstance(body, dict) or "success" not in body:
            raise ExchangeDataError(f"{url}: expected an enveloped answer")
        if not body["success"]:
            raise ExchangeDataError(f"{url}: {body.get('message')} (code {body.get('code')})")
        return body.get("data")

    async def symbols(self) -> dict[str, dict[str, Any]]:
        """Listed pairs by name (``BTCTRY``), from ``/api/v2/server/exchangeinfo``; cached."""
        if self._symbols is None:
            data = await self._enveloped("/api/v2/server/exchangeinfo", {})
            items = data.get("symbols") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ExchangeDataError("exchangeinfo: no 'symbols' list in data")
            self._symbols = {str(s.get("name", "")).upper(): s for s in items}
        return self._symbols

    async def check_symbol(self, symbol: str) -> str:
        """The normalised pair name, or :class:`UnknownSymbolError` if not listed."""

        sym = symbol.strip().upper().replace("_", "")
        listed = await self.symbols()
        if sym not in listed:
            hint = did_you_mean(sym, listed, n=3, show=str)
            raise UnknownSymbolError(f"symbol: BTCTurk lists no pair {symbol!r}{hint}")
        return sym

    async def trades(self, symbol: str, last: int = 50) -> list[dict[str, Any]]:
        """The latest trades of a pair (timestamps in ms)."""
        data = await self._enveloped("/api/v2/trades", {"pairSymbol": symbol, "last": last})
        return list(data or [])

    # ------------------------------------------------------------------ graph host
    async def kline_pages(
        self, symbol: str, timeframe: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> AsyncIterator[pd.DataFrame]:
        """Candles opening in ``[start, end)``, one frame per request of ≤ ``page_size``.

        Consecutive windows overlap by one candle (``from`` of the next page = ``to``
        of this one), so whether the exchange treats ``to`` as inclusive or not, no
        candle falls between two pages; overlap rows are dropped by timestamp.
        """
        resolution, period = resolution_for(timeframe)
        step = int(period.total_seconds())
        first = math.ceil(pd.Timestamp(start).timestamp() / step) * step
        stop = int(pd.Timestamp(end).timestamp())  # exclusive bound on open times
        url = f"{self.endpoints.graph}/v1/klines/history"
        lo, seen_upto = first, first - step
        while lo < stop:
            hi = min(lo + (self.page_size - 1) * step, stop - 1)
            params = {"symbol": symbol, "resolution": resolution, "from": lo, "to": hi}
            body = await self.get_json(url, params)
            frame = klines_frame(body, period, f"klines {symbol} {timeframe} from={lo} to={hi}")
            secs = time_index(frame).asi8 // 1_000_000_000
            frame = frame[(secs > seen_upto) & (secs < stop)]
            if len(frame):
                seen_upto = int(frame.index[-1].timestamp())
            yield frame
            if hi >= stop - 1:
                break
            lo = hi  # one candle of overlap

    async def klines(
        self, symbol: str, timeframe: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> pd.DataFrame:
        """All candles opening in ``[start, end)`` as one canonical frame."""
        frames = [f async for f in self.kline_pages(symbol, timeframe, start, end)]
        frames = [f for f in frames if len(f)]
        if not frames:
            return _empty()
        out = pd.concat(frames)
        return out[~out.index.duplicated(keep="last")].sort_index()


def _retry_after(value: str | None, default: float = 60.0) -> float:
    """Seconds from a ``Retry-After`` header (seconds form; HTTP dates fall back)."""
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default
