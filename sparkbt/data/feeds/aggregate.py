"""Trades → candles for one pair, deduplicated by trade id.

A candle covers ``[start, start + period)`` (epoch-aligned; weeks start on
Monday 00:00 UTC like the klines). It is *final* once the clock, or a trade's
own timestamp, is ``grace`` past its end: late-arriving trades within the grace
still count. Only periods with trades produce candles (no invented rows), and
only periods at or after ``live_from`` are emitted: earlier ones were observed
partially and come from REST klines instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import COLUMNS

__all__ = ["Candle", "CandleBuilder", "Trade", "candles_frame", "parse_trade", "period_start"]

_WEEK_MS = 604_800_000
_MONDAY_OFFSET_MS = 4 * 86_400_000  # 1970-01-05 was a Monday


@dataclass(frozen=True, order=True)
class Trade:
    """One trade: ms timestamp, id, price and amount as exact decimals, side (0 buy, 1 sell)."""

    ts_ms: int
    id: str
    price: Decimal = field(compare=False)
    amount: Decimal = field(compare=False)
    side: int = field(compare=False, default=0)

    @property
    def order_key(self) -> tuple[int, int, str]:
        """Sort key: time, then numeric id (BTCTurk ids grow), then the id text."""
        return (self.ts_ms, int(self.id) if self.id.isdigit() else -1, self.id)


def parse_trade(item: dict[str, Any]) -> Trade:
    """A 421 snapshot item or 422 body (``D`` ms, ``I`` id, ``P`` price, ``A`` amount, ``S``)."""
    try:
        trade = Trade(
            ts_ms=int(item["D"]),
            id=str(item["I"]),
            price=Decimal(str(item["P"])),
            amount=Decimal(str(item["A"])),
            side=int(item.get("S", 0)),
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        raise ValueError(f"malformed trade {item!r}") from exc
    if not (trade.price > 0 and trade.amount >= 0):
        raise ValueError(f"trade with non-positive price or negative amount {item!r}")
    return trade


def period_start(ts_ms: int, period_ms: int) -> int:
    """Start (ms) of the period holding ``ts_ms``."""
    offset = _MONDAY_OFFSET_MS if period_ms == _WEEK_MS else 0
    return ts_ms - (ts_ms - offset) % period_ms


@dataclass(frozen=True)
class Candle:
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


class _Acc:
    __slots__ = ("close", "first", "high", "last", "low", "open", "volume")

    def __init__(self, t: Trade) -> None:
        self.first = self.last = t.order_key
        self.open = self.high = self.low = self.close = t.price
        self.volume = t.amount

    def add(self, t: Trade) -> None:
        key = t.order_key
        if key < self.first:
            self.first, self.open = key, t.price
        if key > self.last:
            self.last, self.close = key, t.price
        self.high = max(self.high, t.price)
        self.low = min(self.low, t.price)
        self.volume += t.amount

    def candle(self, start_ms: int) -> Candle:
        return Candle(
            start_ms,
            float(self.open),
            float(self.high),
            float(self.low),
            float(self.close),
            float(self.volume),
        )


class CandleBuilder:
    """Aggregates one pair's trades (one connection's snapshot + stream) into candles.

    ``live_from_ms`` is the start of the period the connection opened in. Its
    candle is emitted only if the caller lowers ``emit_from_ms`` to it (the 421
    snapshot reaches back before that period start, so no trade of it is missing).
    """

    def __init__(self, period: pd.Timedelta, live_from_ms: int, grace_ms: int = 2000) -> None:
        self.period_ms = int(period.total_seconds() * 1000)
        self.live_from_ms = live_from_ms
        # The first period was joined midway: emitted only if a snapshot proves it whole.
        self.emit_from_ms = live_from_ms + self.period_ms
        self.grace_ms = grace_ms
        self.final_until_ms = live_from_ms  # every period ending at or before this is final
        self._open: dict[int, _Acc] = {}
        self._seen: dict[str, int] = {}
        self.duplicates = 0

    def add(self, trade: Trade) -> tuple[list[Candle], bool]:
        """Add one trade; returns candles made final by its timestamp and whether it was late.

        A trade of a period already emitted is *late* (the caller repairs that
        period from REST); a trade whose id was seen before is dropped.
        """
        if trade.id in self._seen:
            self.duplicates += 1
            return [], False
        start = period_start(trade.ts_ms, self.period_ms)
        self._seen[trade.id] = start
        late = start + self.period_ms <= self.final_until_ms and start >= self.live_from_ms
        if start >= self.live_from_ms and not late:
            acc = self._open.get(start)
            if acc is None:
                self._open[start] = _Acc(trade)
            else:
                acc.add(trade)
        return self.close_until(trade.ts_ms), late

    def close_until(self, now_ms: int) -> list[Candle]:
        """Emit every candle whose period ended ``grace`` or more before ``now_ms``."""
        boundary = period_start(now_ms - self.grace_ms, self.period_ms)
        return self._emit(boundary)

    def flush(self, now_ms: int) -> list[Candle]:
        """Emit every candle whose period has ended by ``now_ms`` (shutdown: no grace)."""
        return self._emit(period_start(now_ms, self.period_ms))

    def _emit(self, boundary: int) -> list[Candle]:
        if boundary <= self.final_until_ms:
            return []
        self.final_until_ms = boundary
        done = sorted(s for s in self._open if s + self.period_ms <= boundary)
        out = [self._open.pop(s).candle(s) for s in done]
        out = [c for c in out if c.start_ms >= self.emit_from_ms]
        keep_from = boundary - 2 * self.period_ms
        self._seen = {i: s for i, s in self._seen.items() if s >= keep_from}
        return out


def candles_frame(candles: list[Candle]) -> pd.DataFrame:
    """Canonical frame (UTC ns index ``timestamp``, float64 OHLCV) from candles."""
    index = pd.DatetimeIndex(
        pd.to_datetime([c.start_ms for c in candles], unit="ms", utc=True), name="timestamp"
    ).as_unit("ns")
    data = {col: np.array([getattr(c, col) for c in candles], dtype="float64") for col in COLUMNS}
    return pd.DataFrame(data, index=index)
