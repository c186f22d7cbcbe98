"""The live feed: trades → closed candles → store, with REST repair of every gap.

Per pair, coverage advances monotonically: a period is covered once its candle
was written from live trades, or it passed final with no trade, or it was handed
to REST backfill. On every (re)connect the periods between the old coverage and
the first period the new connection sees whole become a *gap*, fetched from REST
klines once its last period has ended (plus ``backfill_delay``). A trade that
arrives after its candle was written queues that one period for REST repair.
On stop, ended candles are flushed and gaps are fetched up to the last ended
period; only the period still in progress is left for the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sparkbt.data.feeds._limits import Backoff, ConnectionBudget
from sparkbt.data.feeds._protocol import Endpoints, ExchangeError, resolution_for
from sparkbt.data.feeds._rest import BtcturkRest
from sparkbt.data.feeds._ws import TradeStream
from sparkbt.data.feeds.aggregate import (
    Candle,
    CandleBuilder,
    candles_frame,
    parse_trade,
    period_start,
)
from sparkbt.data.feeds.metrics import FeedMetrics
from sparkbt.data.store import CandleStore, normalise_symbol

__all__ = ["FeedSummary", "LiveFeed"]

log = logging.getLogger("sparkbt.data.feeds.btcturk")


@dataclass
class _Pair:
    symbol: str
    covered_ms: int | None  # every period starting before this is stored or queued
    builder: CandleBuilder | None = None
    pending: list[Candle] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    live_written: int = 0
    backfilled: int = 0
    last_trade: str = "-"


@dataclass(frozen=True)
class FeedSummary:
    """What a feed run did, per pair and in total."""

    live_candles: dict[str, int]
    backfilled_candles: dict[str, int]
    connections: int
    gaps_backfilled: int
    unfilled_gaps: dict[str, list[tuple[str, str]]]


class LiveFeed:
    """Follow BTCTurk trades for several pairs and keep ``store`` complete.

    ``clock`` (unix seconds) decides when periods end; tests pass an accelerated
    clock shared with the fake exchange. ``rest`` defaults to a
    :class:`BtcturkRest` on the same endpoints.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        timeframe: str,
        *,
        store: CandleStore,
        endpoints: Endpoints | None = None,
        stale_after: float = 30.0,
        metrics: FeedMetrics | None = None,
        clock: Callable[[], float] = time.time,
        grace: float = 2.0,
        backfill_delay: float = 3.0,
        tick: float = 0.5,
        rest: BtcturkRest | None = None,
        backoff: Backoff | None = None,
        budget: ConnectionBudget | None = None,
        healthy_after: float = 30.0,
    ) -> None:
        self.timeframe = timeframe
        _, self.period = resolution_for(timeframe)
        self.period_ms = int(self.period.total_seconds() * 1000)
        self.store, self.clock, self.tick = store, clock, tick
        self.grace_ms, self.delay_ms = int(grace * 1000), int(backfill_delay * 1000)
        self.endpoints = endpoints or Endpoints.resolve()
        self.metrics = metrics or FeedMetrics()
        self.rest = rest or BtcturkRest(self.endpoints, metrics=self.metrics)
        self.pairs = {s: _Pair(s, None) for s in (normalise_symbol(x) for x in symbols)}
        self.stream = TradeStream(
            self.endpoints.ws,
            list(self.pairs),
            stale_after=stale_after,
            backoff=backoff,
            budget=budget,
            metrics=self.metrics,
            healthy_after=healthy_after,
            clock=clock,
        )
        self.gaps_backfilled = 0
        self._settled: int | None = None

    def settled_until_ms(self) -> int | None:
        """Every period starting before this is final in the store for every pair.

        Final: its candle was written, or it passed with no trade, and no repair
        of it is queued; and it started before the period of the last message
        received (a socket gone silent since may have missed trades: the next
        connection repairs those periods from REST). Taken after each step of
        :meth:`run` (None before the coverage of every pair is known); a late
        trade may move it back.
        """
        return self._settled

    def _settle(self) -> None:
        marks = []
        for pair in self.pairs.values():
            if pair.covered_ms is None:
                self._settled = None
                return
            mark = min([pair.covered_ms] + [lo for lo, _ in pair.gaps])
            marks.append(min([mark] + [c.start_ms for c in pair.pending]))
        last = self.stream.last_message_at
        if last is not None:
            marks.append(period_start(int(last * 1000), self.period_ms))
        self._settled = min(marks) if marks else None

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # ------------------------------------------------------------------ events
    async def _on_connect(self) -> None:
        now = self.now_ms()
        start = period_start(now, self.period_ms)
        last = self.stream.last_message_at
        for pair in self.pairs.values():
            self._drain(pair)
            if pair.builder is not None:
                # The old socket may have been silent or lossy since its last frame, while
                # the clock kept closing candles: trust nothing after that frame's period.
                trusted = pair.builder.live_from_ms if last is None else int(last * 1000)
                rewind = period_start(trusted, self.period_ms)
                if pair.covered_ms is not None and rewind < pair.covered_ms:
                    pair.covered_ms = rewind
            pair.builder = CandleBuilder(self.period, start, self.grace_ms)
            self._queue_gap(pair, start + self.period_ms)

    async def _on_trades(self, symbol: str, items: list[dict[str, Any]], snapshot: bool) -> None:
        pair = self.pairs.get(symbol)
        if pair is None or pair.builder is None:
            return
        b = pair.builder
        trades = []
        for item in items:
            try:
                trades.append(parse_trade(item))
            except ValueError as exc:
                log.warning("btcturk %s: %s", symbol, exc)
        if snapshot and trades and min(t.ts_ms for t in trades) < b.live_from_ms:
            # The snapshot reaches back before this connection's first period: that
            # period is seen whole, so it need not wait for REST.
            b.emit_from_ms = b.live_from_ms
            if pair.gaps and pair.gaps[-1][1] == b.live_from_ms + self.period_ms:
                lo = pair.gaps[-1][0]
                pair.gaps[-1] = (lo, b.live_from_ms)
                if lo >= b.live_from_ms:
                    pair.gaps.pop()
        for t in sorted(trades, key=lambda t: t.order_key):
            before = b.duplicates
            closed, late = b.add(t)
            if b.duplicates > before:
                self.metrics.duplicate_trades.inc()
            pair.pending.extend(closed)
            if late:
                start = period_start(t.ts_ms, self.period_ms)
                pair.gaps.append((start, start + self.period_ms))
            pair.last_trade = f"{t.price}"

    def _queue_gap(self, pair: _Pair, upto_ms: int) -> None:
        """Hand every uncovered period before ``upto_ms`` to REST backfill."""
        lo = pair.covered_ms
        if lo is None:
            lo = upto_ms - self.period_ms  # empty store: from this run's first period
        if lo < upto_ms:
            pair.gaps.append((lo, upto_ms))
        pair.covered_ms = upto_ms

    def _drain(self, pair: _Pair, *, flush: bool = False) -> None:
        """Move final candles of the current builder to ``pending``; advance coverage."""
        b = pair.builder
        if b is None:
            return
        now = self.now_ms()
        pair.pending.extend(b.flush(now) if flush else b.close_until(now))
        pair.covered_ms = max(pair.covered_ms or 0, b.final_until_ms)

    # ------------------------------------------------------------------ writing
    def _write_pending(self, pair: _Pair) -> None:
        if not pair.pending:
            return
        frame = candles_frame(pair.pending)
        self.store.merge(pair.symbol, self.timeframe, frame)
        self.metrics.candles_written.labels(source="live").inc(len(frame))
        pair.live_written += len(frame)
        pair.pending.clear()

    async def _fill_gaps(self, pair: _Pair, *, final: bool = False) -> None:
        """Fetch every queued gap that has ended (``final``: up to the last ended period)."""
        now = self.now_ms()
        last_end = period_start(now, self.period_ms)
        # Take the queue: gaps queued while we await the network are kept, not overwritten.
        todo, pair.gaps = sorted(set(pair.gaps)), []
        keep: list[tuple[int, int]] = []
        for lo, hi in todo:
            if final:
                hi = min(hi, last_end)
            elif hi + self.delay_ms > now:
                keep.append((lo, hi))
                continue
            if lo >= hi:
                if not final:
                    keep.append((lo, hi))
                continue
            try:
                frame = await self.rest.klines(
                    pair.symbol,
                    self.timeframe,
                    pd.Timestamp(lo, unit="ms", tz="UTC"),
                    pd.Timestamp(hi, unit="ms", tz="UTC"),
                )
            except ExchangeError as exc:
                log.warning("btcturk %s: backfill failed, will retry: %s", pair.symbol, exc)
                keep.append((lo, hi))
                continue
            if len(frame):
                self.store.merge(pair.symbol, self.timeframe, frame)
                self.metrics.candles_written.labels(source="rest").inc(len(frame))
                pair.backfilled += len(frame)
            self.metrics.gaps_backfilled.inc()
            self.gaps_backfilled += 1
        pair.gaps = keep + pair.gaps

    # ------------------------------------------------------------------ running
    def _start_coverage(self) -> None:
        for pair in self.pairs.values():
            if self.store.exists(pair.symbol, self.timeframe):
                last = self.store.read(pair.symbol, self.timeframe).index[-1]
                pair.covered_ms = int(last.value // 1_000_000) + self.period_ms

    def status(self) -> str:
        """One line: connection state, per-pair last price and candles written, gaps."""
        state = "live" if self.stream.connected else "reconnecting"
        age = self.metrics.age()
        parts = [
            f"{p.symbol} {p.last_trade} ({p.live_written} live, {p.backfilled} rest)"
            for p in self.pairs.values()
        ]
        gaps = sum(len(p.gaps) for p in self.pairs.values())
        age_txt = "-" if age != age else f"{age:.1f}s"
        return (
            f"btcturk {self.timeframe} {state} | conn {self.stream.connections} | "
            f"last msg {age_txt} | gaps pending {gaps} | " + " | ".join(parts)
        )

    async def run(
        self,
        duration: float | None = None,
        stop: asyncio.Event | None = None,
        on_status: Callable[[str], None] | None = None,
    ) -> FeedSummary:
        """Run until ``stop`` is set or ``duration`` seconds pass; flush and return a summary."""
        stop = stop or asyncio.Event()
        deadline = None if duration is None else time.monotonic() + duration
        async with self.rest:
            for symbol in self.pairs:  # unknown pairs fail here, before anything runs
                await self.rest.check_symbol(symbol)
            self._start_coverage()
            self._settle()
            task = asyncio.create_task(self.stream.run(self._on_connect, self._on_trades))
            try:
                while not stop.is_set() and not task.done():
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.tick)
                    await self._step()
                    if on_status is not None:
                        on_status(self.status())
            finally:
                task.cancel()
                (outcome,) = await asyncio.gather(task, return_exceptions=True)
                await self._shutdown()
            if isinstance(outcome, Exception):
                raise outcome
        return self._summary()

    async def _step(self) -> None:
        for pair in self.pairs.values():
            self._drain(pair)
            self._write_pending(pair)
            await self._fill_gaps(pair)
        self._settle()

    async def _shutdown(self) -> None:
        for pair in self.pairs.values():
            self._drain(pair, flush=True)
            self._write_pending(pair)
            await self._fill_gaps(pair, final=True)
        self._settle()

    def _summary(self) -> FeedSummary:
        def iso(ms: int) -> str:
            return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()

        return FeedSummary(
            live_candles={p.symbol: p.live_written for p in self.pairs.values()},
            backfilled_candles={p.symbol: p.backfilled for p in self.pairs.values()},
            connections=self.stream.connections,
            gaps_backfilled=self.gaps_backfilled,
            unfilled_gaps={
                p.symbol: [(iso(lo), iso(hi)) for lo, hi in p.gaps] for p in self.pairs.values()
            },
        )
