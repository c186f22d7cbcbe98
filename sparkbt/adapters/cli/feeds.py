"""``sparkbt data fetch btcturk`` and ``sparkbt feed btcturk``: parse, hand off, report.

httpx and websockets are imported only when a command runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sparkbt.errors import InputError

if TYPE_CHECKING:
    from sparkbt.data.feeds.btcturk import BtcturkRest, FeedSummary, LiveFeed
    from sparkbt.data.store import CandleStore

__all__ = ["register"]

_GRAPH = typer.Option(None, "--graph-url", help="Klines host (env SPARKBT_BTCTURK_GRAPH_URL).")
_REST = typer.Option(None, "--rest-url", help="API host (env SPARKBT_BTCTURK_REST_URL).")
_DATA = typer.Option(None, "--data-dir", help="Store root (env SPARKBT_DATA_DIR, else ./data).")
_RETRIES = typer.Option(5, "--max-retries", min=0, help="Retries per request (5xx, timeouts).")


def _fail(message: object) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def fetch_btcturk(
    symbol: str | None = typer.Option(None, "--symbol", help="Pair, e.g. BTCTRY."),
    symbols: str | None = typer.Option(
        None, "--symbols", help="Several pairs, comma-separated: BTCTRY,ETHTRY."
    ),
    timeframe: str = typer.Option("1h", "--timeframe", help="1m 5m 15m 30m 1h 4h 1d 1w."),
    since: str = typer.Option(..., "--since", help="First candle (UTC date/time)."),
    until: str | None = typer.Option(None, "--until", help="End, exclusive (default: now)."),
    graph_url: str | None = _GRAPH,
    rest_url: str | None = _REST,
    data_dir: Path | None = _DATA,
    max_retries: int = _RETRIES,
) -> None:
    """Backfill BTCTurk klines into the candle store (idempotent, only ended periods).

    With ``--symbols`` every pair is checked against the exchange before any is
    fetched; then one line per pair as it is stored.
    """
    from sparkbt.adapters.cli.args import parse_symbols
    from sparkbt.data.feeds.btcturk import BtcturkRest, Endpoints, fetch_range
    from sparkbt.data.store import CandleStore

    if (symbol is None) == (symbols is None):
        raise InputError("data fetch btcturk: give --symbol PAIR or --symbols A,B,C (one of them)")
    pairs = [symbol] if symbol is not None else parse_symbols(symbols or "")
    fetch_range(timeframe, since, until)  # bad input fails before any network use
    store = CandleStore(data_dir)
    rest = BtcturkRest(Endpoints.resolve(graph_url, rest_url), max_retries=max_retries)
    asyncio.run(_fetch_all(pairs, timeframe, since, until, store, rest, named=symbols is not None))


async def _fetch_all(
    pairs: list[str],
    timeframe: str,
    since: str,
    until: str | None,
    store: CandleStore,
    rest: BtcturkRest,
    *,
    named: bool,
) -> None:
    """Check every pair is listed, then fetch each in turn (one summary line each).

    ``named``: errors start with the pair they concern (several pairs asked).
    """
    from sparkbt.data.feeds.btcturk import ExchangeError, fetch_history

    sym = pairs[0]
    try:
        if len(pairs) > 1:
            async with rest:
                for sym in pairs:
                    await rest.check_symbol(sym)
        for sym in pairs:
            result = await fetch_history(sym, timeframe, since, until, store=store, rest=rest)
            total = "no file" if result.total is None else f"{result.total} stored"
            typer.echo(
                f"{result.symbol} {result.timeframe} {result.start:%Y-%m-%d %H:%M} → "
                f"{result.end:%Y-%m-%d %H:%M} UTC: {result.received} candles received, "
                f"{result.added} new, {result.updated} changed; {result.path} ({total})"
            )
    except ExchangeError as exc:
        raise _fail(f"{sym}: {exc}" if named else exc) from None


class _StatusLine:
    """One updating line on a terminal; a line every ``every`` seconds otherwise."""

    def __init__(self, quiet: bool, every: float = 10.0) -> None:
        self.quiet, self.every, self.tty = quiet, every, sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, text: str) -> None:
        if self.quiet:
            return
        if self.tty:
            sys.stderr.write(f"\r{text[:200]}\x1b[K")
            sys.stderr.flush()
        elif time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            typer.echo(text, err=True)

    def done(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")


def feed_btcturk(
    symbols: str = typer.Option(..., "--symbols", help="Comma-separated pairs: BTCTRY,ETHTRY."),
    timeframe: str = typer.Option("1m", "--timeframe", help="Candle period to build."),
    ws_url: str | None = typer.Option(
        None, "--ws-url", help="WebSocket URL (env SPARKBT_BTCTURK_WS_URL)."
    ),
    graph_url: str | None = _GRAPH,
    rest_url: str | None = _REST,
    data_dir: Path | None = _DATA,
    stale_after: float = typer.Option(
        30.0, "--stale-after", min=0.1, help="Reconnect after this many seconds without a message."
    ),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535, help="Serve Prometheus /metrics here."
    ),
    metrics_addr: str = typer.Option("127.0.0.1", "--metrics-addr", help="Metrics bind address."),
    duration: float | None = typer.Option(
        None, "--duration", min=0.0, help="Stop after this many seconds (default: Ctrl-C)."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No status line."),
) -> None:
    """Follow BTCTurk trades live, build candles, keep the store complete (Ctrl-C stops)."""
    from sparkbt.data.feeds.btcturk import (
        Endpoints,
        ExchangeError,
        FeedMetrics,
        LiveFeed,
        resolution_for,
    )
    from sparkbt.data.feeds.metrics import serve_metrics
    from sparkbt.data.store import CandleStore, normalise_symbol
    from sparkbt.data.timeframes import parse_timeframe

    pairs = [normalise_symbol(s) for s in symbols.split(",") if s.strip()]
    if not pairs:
        raise InputError("--symbols: expected one or more pairs such as BTCTRY,ETHTRY")
    resolution_for(timeframe)
    if parse_timeframe(timeframe).total_seconds() > 86400:
        raise InputError(f"--timeframe: the live feed builds up to 1d candles (got {timeframe!r})")
    metrics = FeedMetrics()
    feed = LiveFeed(
        pairs,
        timeframe,
        store=CandleStore(data_dir),
        metrics=metrics,
        endpoints=Endpoints.resolve(graph_url, rest_url, ws_url),
        stale_after=stale_after,
    )
    stop_metrics = None
    if metrics_port is not None:
        try:
            port, stop_metrics = serve_metrics(metrics, metrics_port, metrics_addr)
        except OSError as exc:
            raise InputError(f"--metrics-port {metrics_port}: cannot listen ({exc})") from exc
        typer.echo(f"metrics on http://{metrics_addr}:{port}/metrics", err=True)
    status = _StatusLine(quiet)
    try:
        summary = asyncio.run(_run_feed(feed, duration, status))
    except ExchangeError as exc:
        raise _fail(exc) from None
    finally:
        status.done()
        if stop_metrics is not None:
            stop_metrics()
    for sym in pairs:
        typer.echo(
            f"{sym} {timeframe}: {summary.live_candles[sym]} live candles, "
            f"{summary.backfilled_candles[sym]} from REST; "
            f"{summary.connections} connection(s), {summary.gaps_backfilled} gap(s) backfilled"
        )
        for lo, hi in summary.unfilled_gaps[sym]:
            typer.echo(f"warning: {sym}: gap {lo} → {hi} not backfilled", err=True)


async def _run_feed(
    feed: LiveFeed, duration: float | None, status: Callable[[str], None]
) -> FeedSummary:
    """Run the feed with SIGINT/SIGTERM wired to a clean stop (flush, then exit)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        return await feed.run(duration=duration, stop=stop, on_status=status)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add ``data fetch btcturk`` and ``feed btcturk`` to the sparkbt CLI."""
    fetch_app = typer.Typer(help="Fetch candle history from an exchange.", no_args_is_help=True)
    fetch_app.command("btcturk")(fetch_btcturk)
    data_app.add_typer(fetch_app, name="fetch")
    feed_app = typer.Typer(help="Follow an exchange live into the store.", no_args_is_help=True)
    feed_app.command("btcturk")(feed_btcturk)
    app.add_typer(feed_app, name="feed")
