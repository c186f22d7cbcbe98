"""The live feed against the fake exchange, on a clock running 60x (1m candle = 1 s).

Every scenario ends with the store equal to the candles computed from the fake
exchange's whole trade tape: no duplicate, no lost and no invented candle.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal

import httpx
import pandas as pd
import pytest

from sparkbt.adapters.cli.feeds import _run_feed
from sparkbt.data.feeds.btcturk import (
    Backoff,
    BtcturkRest,
    ConnectionBudget,
    Endpoints,
    FeedMetrics,
    LiveFeed,
    serve_metrics,
)

from .conftest import stored
from .fake_btcturk import FakeBtcturk, Faults, ScaledClock, Tape, history_tape, tape_candles

pytestmark = pytest.mark.timeout(30)
SYMBOLS = ["BTCTRY", "ETHTRY"]
START = pd.Timestamp("2024-05-01T00:00:00", tz="UTC")


def setup_exchange(store, *, prefill_until=pd.Timedelta(minutes=-10)) -> tuple[Tape, ScaledClock]:
    """History trades for 30 minutes before START; the store already holds the first part."""
    tape = Tape()
    for i, sym in enumerate(SYMBOLS):
        history_tape(tape, sym, START - pd.Timedelta(minutes=30), START, 60, seed=i)
        ref = tape_candles(tape.of(sym), 60)
        store.merge(sym, "1m", ref[ref.index < START + prefill_until])
    return tape, ScaledClock(start=START.timestamp() + 0.5, speed=60.0)


def make_feed(
    fake: FakeBtcturk, store, clock, metrics=None, grace=2.0, stale_after=0.4
) -> LiveFeed:
    endpoints = Endpoints(graph=fake.url, rest=fake.url, ws=fake.ws_url)
    metrics = metrics or FeedMetrics()
    return LiveFeed(
        SYMBOLS,
        "1m",
        store=store,
        endpoints=endpoints,
        stale_after=stale_after,
        metrics=metrics,
        clock=clock,
        grace=grace,
        backfill_delay=1.0,
        tick=0.05,
        healthy_after=0.5,
        rest=BtcturkRest(endpoints, metrics=metrics, backoff=Backoff(0.02, 0.2)),
        backoff=Backoff(base=0.02, cap=0.2, rng=random.Random(1)),
        budget=ConnectionBudget(limit=12, window=60.0),
    )


async def run_then_stop(feed: LiveFeed, fake: FakeBtcturk, trade_for: float, idle: float):
    """Trade for ``trade_for`` s, stop trading, let ``idle`` s pass (periods end), stop."""
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop=stop))
    await asyncio.sleep(trade_for)
    await asyncio.to_thread(fake.stop_trading)
    await asyncio.sleep(idle)
    stop.set()
    return await task


def assert_store_equals_tape(store, tape: Tape) -> None:
    for sym in SYMBOLS:
        want = tape_candles(tape.of(sym), 60)
        got = stored(store, sym, "1m")
        pd.testing.assert_frame_equal(got, want, check_freq=False, obj=sym)


def test_clean_run_with_gaps_and_duplicated_trades(store):
    tape, clock = setup_exchange(store)
    faults = Faults(duplicates=True)
    metrics = FeedMetrics()
    with FakeBtcturk(
        tape,
        SYMBOLS,
        faults=faults,
        clock=clock,
        live={"BTCTRY": 300.0, "ETHTRY": 50.0},
        quiet={"ETHTRY": (3, 1)},
    ) as fake:
        feed = make_feed(fake, store, clock, metrics, stale_after=5.0)
        summary = asyncio.run(run_then_stop(feed, fake, trade_for=4.2, idle=1.3))
    assert_store_equals_tape(store, tape)
    assert summary.connections == 1
    assert summary.live_candles["BTCTRY"] >= 3  # most minutes came from the live stream
    assert summary.backfilled_candles["BTCTRY"] >= 9  # the hole before START came from REST
    assert metrics.duplicate_trades._value.get() > 0  # the fake did send duplicates
    eth = stored(store, "ETHTRY", "1m").index
    missing = pd.date_range(START, eth[-1], freq="1min").difference(eth)
    assert len(missing) >= 1  # quiet minutes stay missing, nothing is invented


def test_drop_without_close_frame_silent_socket_and_refused_handshake(store):
    tape, clock = setup_exchange(store)
    # A 5-trade snapshot never reaches back a whole minute, and the silent socket is only
    # noticed after 1.2 s (72 s of exchange time): the missed minutes must come from REST.
    faults = Faults(
        duplicates=True, snapshot_size=5, ws_plan=["refuse", "drop@1.3", "silent@1.1", "ok"]
    )
    metrics = FeedMetrics()
    with FakeBtcturk(
        tape, SYMBOLS, faults=faults, clock=clock, live={"BTCTRY": 300.0, "ETHTRY": 50.0}
    ) as fake:
        feed = make_feed(fake, store, clock, metrics, stale_after=1.2)
        summary = asyncio.run(run_then_stop(feed, fake, trade_for=5.0, idle=1.3))
        plans = list(fake.connections)
        subs = [m for m in fake.subscriptions if m[0] == 151]
    assert plans[:4] == ["refuse", "drop@1.3", "silent@1.1", "ok"]
    ended = feed.stream.errors
    assert ended[0].startswith("InvalidStatus")  # HTTP 503 at the handshake
    assert ended[1].startswith("ConnectionClosedError")  # TCP dropped, no close frame
    assert ended[2].startswith("StaleConnection")  # the watchdog caught the silent socket
    assert_store_equals_tape(store, tape)
    assert summary.connections == len(plans) - 1  # the refused handshake was no connection
    assert len(subs) == summary.connections * len(SYMBOLS)  # resubscribed on each connection
    assert metrics.reconnects._value.get() == len(ended) == len(plans) - 1
    assert metrics.stale._value.get() >= 1
    assert summary.gaps_backfilled >= 2 + 2 * len(SYMBOLS)  # startup + after each reconnect
    assert summary.backfilled_candles["BTCTRY"] >= 9 + 2  # startup hole + missed minutes
    assert summary.unfilled_gaps == {s: [] for s in SYMBOLS}


def test_sigterm_flushes_the_candle_that_just_closed(store):
    tape, clock = setup_exchange(store, prefill_until=pd.Timedelta(0))
    with FakeBtcturk(tape, SYMBOLS, clock=clock, live={"BTCTRY": 300.0, "ETHTRY": 50.0}) as fake:
        # a grace of 45 s: the minute that ended 30 s before SIGTERM is still pending then
        feed = make_feed(fake, store, clock, grace=45.0)

        async def main():
            task = asyncio.create_task(_run_feed(feed, None, lambda line: None))
            await asyncio.sleep(2.0)
            while clock() % 60 < 25 or clock() % 60 > 35:  # land mid-minute
                await asyncio.sleep(0.01)
            stop_at = clock()
            os.kill(os.getpid(), signal.SIGTERM)
            return stop_at, await task

        stop_at, summary = asyncio.run(main())
        fake.stop_trading()
    cutoff = pd.Timestamp(stop_at, unit="s", tz="UTC").floor("1min")
    for sym in SYMBOLS:
        want = tape_candles(tape.of(sym), 60)
        want = want[want.index < cutoff]
        got = stored(store, sym, "1m")
        pd.testing.assert_frame_equal(got, want, check_freq=False, obj=sym)
        assert got.index[-1] == cutoff - pd.Timedelta(minutes=1)
    assert summary.live_candles["BTCTRY"] >= 2


def test_metrics_are_served_from_the_injected_registry(store):
    tape, clock = setup_exchange(store)
    metrics = FeedMetrics()
    port, stop_metrics = serve_metrics(metrics, 0)
    try:
        with FakeBtcturk(
            tape,
            SYMBOLS,
            clock=clock,
            live={"BTCTRY": 300.0, "ETHTRY": 50.0},
            faults=Faults(ws_plan=["drop@0.5"]),
        ) as fake:
            feed = make_feed(fake, store, clock, metrics)
            asyncio.run(feed.run(duration=1.5))
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        stop_metrics()
    values = {}
    for line in text.splitlines():
        if line.startswith("btcturk_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    assert values['btcturk_messages_total{type="422"}'] > 10
    assert values['btcturk_messages_total{type="991"}'] == 2
    assert values["btcturk_reconnects_total"] == 1
    assert values['btcturk_rest_requests_total{status="200"}'] >= 2
    assert 0 <= values["btcturk_last_message_age_seconds"] < 5
    assert "btcturk_gaps_backfilled_total" in values
    # what was served is the injected registry; the process-global one holds none of it
    from prometheus_client import REGISTRY

    injected = {s.name for f in metrics.registry.collect() for s in f.samples}
    assert {name.split("{")[0] for name in values} == injected
    assert metrics.registry.get_sample_value("btcturk_reconnects_total") == 1
    assert not [f.name for f in REGISTRY.collect() if f.name.startswith("btcturk_")]
