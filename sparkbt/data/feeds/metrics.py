"""Prometheus metrics of the BTCTurk clients, on an injected registry.

Metrics always live on a :class:`~prometheus_client.CollectorRegistry` the
caller owns (never the global one), so tests and several feeds don't collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["FeedMetrics", "serve_metrics"]


class FeedMetrics:
    """Counters and gauges of one feed (REST requests, WS messages, reconnects, gaps)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        count = self._counter
        self.rest_requests = count(
            "btcturk_rest_requests", "REST requests by HTTP status (or 'error').", "status"
        )
        self.messages = count(
            "btcturk_messages", "WebSocket messages received, by message type.", "type"
        )
        self.reconnects = count(
            "btcturk_reconnects", "WebSocket reconnections after the first connection."
        )
        self.stale = count(
            "btcturk_stale_reconnects", "Reconnections forced by the staleness watchdog."
        )
        self.gaps_backfilled = count(
            "btcturk_gaps_backfilled", "Gaps filled from REST klines after (re)connecting."
        )
        self.candles_written = count(
            "btcturk_candles_written", "Candles merged into the store, by source.", "source"
        )
        self.duplicate_trades = count(
            "btcturk_duplicate_trades", "Trades dropped because their id was already seen."
        )
        self.last_message_age = Gauge(
            "btcturk_last_message_age_seconds",
            "Seconds since the last WebSocket message.",
            registry=self.registry,
        )
        self._clock = clock
        self._last: float | None = None
        self.last_message_age.set_function(self.age)

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        """A counter on this feed's registry, with ``labels`` (none: a single series)."""
        return Counter(name, doc, labels, registry=self.registry)

    def message(self, msg_type: int | str) -> None:
        self._last = self._clock()
        self.messages.labels(type=str(msg_type)).inc()

    def age(self) -> float:
        """Seconds since the last message (NaN before the first)."""
        return float("nan") if self._last is None else max(0.0, self._clock() - self._last)


def serve_metrics(
    metrics: FeedMetrics, port: int, addr: str = "127.0.0.1"
) -> tuple[int, Callable[[], None]]:
    """Serve ``/metrics`` on ``addr:port`` in a thread; returns the bound port and a stopper."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=addr, registry=metrics.registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return int(server.server_port), stop
