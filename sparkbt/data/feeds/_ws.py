"""BTCTurk WebSocket trade stream with reconnection and a staleness watchdog.

:class:`TradeStream` keeps one connection open for all pairs: it subscribes to
each pair's ``trade`` channel, hands 421 snapshots and 422 trades to the
caller, and reconnects on any failure (error, close without a close frame, or
no message for ``stale_after`` seconds while the socket looks open). Attempts
are spaced by jittered exponential backoff and capped by a
:class:`ConnectionBudget` (BTCTurk blocks 15 attempts a minute). Every
subscription is sent again on each new connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sparkbt.data.feeds._limits import Backoff, ConnectionBudget
from sparkbt.data.feeds._protocol import (
    MSG_HELLO,
    MSG_RESULT,
    MSG_SUBSCRIBE,
    MSG_TRADE,
    MSG_TRADE_SNAPSHOT,
    ExchangeDataError,
)
from sparkbt.data.feeds.metrics import FeedMetrics
from sparkbt.errors import require

__all__ = ["StaleConnection", "TradeStream", "subscribe_frame"]

log = logging.getLogger("sparkbt.data.feeds.btcturk")

OnConnect = Callable[[], Awaitable[None]]
OnTrades = Callable[[str, list[dict[str, Any]], bool], Awaitable[None]]


class StaleConnection(Exception):
    """No message arrived within the staleness limit."""


def subscribe_frame(channel: str, event: str, join: bool = True) -> str:
    """The JSON text of a (un)subscribe request, exactly as BTCTurk expects it."""
    body = {"type": MSG_SUBSCRIBE, "channel": channel, "event": event, "join": join}
    return json.dumps([MSG_SUBSCRIBE, body], separators=(",", ":"))


class TradeStream:
    """Reconnecting trade-channel client for several pairs."""

    def __init__(
        self,
        url: str,
        symbols: Sequence[str],
        *,
        stale_after: float = 30.0,
        backoff: Backoff | None = None,
        budget: ConnectionBudget | None = None,
        metrics: FeedMetrics | None = None,
        open_timeout: float = 10.0,
        healthy_after: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.symbols = url, list(symbols)
        self.stale_after, self.open_timeout = stale_after, open_timeout
        self.healthy_after = healthy_after
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        self.budget = budget or ConnectionBudget()
        self.metrics = metrics
        self.connections = 0
        self.last_error = ""
        self.errors: list[str] = []  # why each attempt ended, in order
        self.clock = clock
        self.last_message_at: float | None = None  # clock() of the last frame received
        self.connected = False

    async def run(self, on_connect: OnConnect, on_trades: OnTrades) -> None:
        """Stream until cancelled; ``on_connect`` runs after each (re)subscription."""
        failures = 0
        while True:
            await self.budget.acquire()
            started = time.monotonic()
            try:
                await self._session(on_connect, on_trades)
            except (OSError, TimeoutError, StaleConnection, ExchangeDataError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # websockets' ConnectionClosed / InvalidHandshake / ...
                websockets = require("websockets", "feeds")
                if not isinstance(exc, websockets.exceptions.WebSocketException):
                    raise
                self.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected = False
            self.errors.append(self.last_error)
            log.warning("btcturk websocket: %s; reconnecting", self.last_error)
            if time.monotonic() - started >= self.healthy_after:
                failures = 0
            if self.metrics is not None:
                self.metrics.reconnects.inc()
                if self.last_error.startswith("StaleConnection"):
                    self.metrics.stale.inc()
            await asyncio.sleep(self.backoff.delay(failures))
            failures += 1

    async def _session(self, on_connect: OnConnect, on_trades: OnTrades) -> None:
        client = require("websockets.asyncio.client", "feeds")
        async with client.connect(
            self.url, open_timeout=self.open_timeout, close_timeout=2, max_queue=1024
        ) as ws:
            self.connections += 1
            for sym in self.symbols:
                await ws.send(subscribe_frame("trade", sym))
            self.connected = True
            await on_connect()
            while True:
                try:
                    raw = await asyncio.wait_for(ws.recv(), self.stale_after)
                except TimeoutError:
                    raise StaleConnection(
                        f"no message for {self.stale_after:g} s on an open socket"
                    ) from None
                await self._dispatch(raw, on_trades)

    async def _dispatch(self, raw: str | bytes, on_trades: OnTrades) -> None:
        self.last_message_at = self.clock()
        try:
            msg_type, body = json.loads(raw)
            msg_type = int(msg_type)
        except (ValueError, TypeError):
            if self.metrics is not None:
                self.metrics.message("invalid")
            log.warning("btcturk websocket: ignoring malformed frame %.200r", raw)
            return
        if self.metrics is not None:
            self.metrics.message(msg_type)
        if msg_type == MSG_TRADE_SNAPSHOT:
            items = list(body.get("items") or [])
            await on_trades(str(body.get("symbol", "")).upper(), items, True)
        elif msg_type == MSG_TRADE:
            await on_trades(str(body.get("PS", "")).upper(), [body], False)
        elif msg_type == MSG_RESULT and not body.get("ok", True):
            raise ExchangeDataError(f"subscription refused: {body.get('message')}")
        elif msg_type not in (MSG_HELLO, MSG_RESULT):
            log.debug("btcturk websocket: ignoring message type %s", msg_type)
