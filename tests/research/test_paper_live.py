"""Paper sessions on the fake BTCTurk (REST + WebSocket), on a clock running 60x (1m = 1 s).

Each session's journal must equal ``sb.backtest`` of the stored candles with the
same first traded bar, bit for bit, after a cut socket with replayed trades and
after a ``kill -9`` of the process running it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.feeds.btcturk import Backoff, BtcturkRest, ConnectionBudget, Endpoints, LiveFeed
from sparkbt.data.store import CandleStore
from sparkbt.research.paper import (
    journal_rows,
    reconcile,
    resume_session,
    run_session,
    session_events,
    session_status,
    start_session,
)
from sparkbt.research.paper.bars import bar_rows
from tests.data.feeds.fake_btcturk import FakeBtcturk, Faults, ScaledClock, Tape, history_tape

pytestmark = pytest.mark.timeout(60)
SYM = "BTCTRY"
START = pd.Timestamp("2024-05-01T00:00:00", tz="UTC")
PARAMS = {"fast": 1, "slow": 2}  # long/flat on every up/down close: trades nearly every bar


def exchange(store: CandleStore) -> tuple[Tape, ScaledClock]:
    """30 minutes of trades before START; the store holds the first 20 (the rest from REST)."""
    tape = Tape()
    history_tape(tape, SYM, START - pd.Timedelta(minutes=30), START, 60, seed=4, quiet_every=0)
    from tests.data.feeds.fake_btcturk import tape_candles

    ref = tape_candles(tape.of(SYM), 60)
    store.merge(SYM, "1m", ref[ref.index < START - pd.Timedelta(minutes=10)])
    return tape, ScaledClock(start=START.timestamp() + 0.5, speed=60.0)


def feed_for(fake: FakeBtcturk, store: CandleStore, clock) -> LiveFeed:
    endpoints = Endpoints(graph=fake.url, rest=fake.url, ws=fake.ws_url)
    return LiveFeed(
        [SYM],
        "1m",
        store=store,
        endpoints=endpoints,
        stale_after=0.5,
        clock=clock,
        grace=2.0,
        backfill_delay=1.0,
        tick=0.05,
        healthy_after=0.5,
        rest=BtcturkRest(endpoints, backoff=Backoff(0.02, 0.2)),
        backoff=Backoff(base=0.02, cap=0.2, rng=random.Random(1)),
        budget=ConnectionBudget(limit=12, window=60.0),
    )


def assert_journal_is_the_backtest(session_id: str, store: CandleStore, evidence: Path) -> None:
    """The journal equals the backtest of the stored candles bar for bar; no bar lost."""
    status = session_status(session_id, evidence_dir=evidence)
    rows = journal_rows(session_id, evidence_dir=evidence)
    frame = store.read(SYM, "1m")
    start_bar = pd.Timestamp(status["start_bar"])
    last = pd.Timestamp(rows[-1]["time"])
    candles = frame.loc[pd.Timestamp(status["history_from"]) : last]
    want = sb.backtest(candles, "sma_cross", trade_from=start_bar, **PARAMS)
    expected = [r.to_dict() for r in bar_rows(want, {SYM: candles})]
    assert rows == expected  # fills, units, equity: exact floats, every bar once
    traded = frame.index[(frame.index >= start_bar) & (frame.index <= last)]
    assert [r["time"] for r in rows] == [t.isoformat() for t in traded]
    assert sum(len(r["fills"]) for r in rows) == len(want.fills) >= 2
    assert reconcile(session_id, evidence_dir=evidence).identical


def test_session_follows_a_cut_socket_and_equals_the_backtest(tmp_path):
    store = CandleStore(tmp_path / "data")
    tape, clock = exchange(store)
    faults = Faults(duplicates=True, ws_plan=["drop@1.6", "silent@1.2", "ok"])
    with FakeBtcturk(tape, [SYM], faults=faults, clock=clock, live={SYM: 250.0}) as fake:
        session = start_session(
            "sma_cross",
            symbols=SYM,
            timeframe="1m",
            params=PARAMS,
            data_dir=store.root,
            evidence_dir=tmp_path / "ev",
            clock=clock,
        )
        assert session.spec.start_bar == START.isoformat()
        feed = feed_for(fake, store, clock)
        why = asyncio.run(run_session(session, feed=feed, clock=clock, poll=0.05, duration=6.0))
        assert len(fake.connections) >= 3  # the socket was cut and silenced, trades replayed
    assert why == "duration"
    status = session_status(session.spec.id, evidence_dir=tmp_path / "ev")
    assert status["state"] == "stopped" and status["bars"] >= 4
    assert status["divergence"] is None
    assert_journal_is_the_backtest(session.spec.id, store, tmp_path / "ev")


CHILD = textwrap.dedent(
    """
    import asyncio, random, sys
    sys.path.insert(0, {root!r})
    from tests.data.feeds.fake_btcturk import ScaledClock
    from tests.research.test_paper_live import feed_for_url
    from sparkbt.research.paper import resume_session, run_session

    clock = ScaledClock(start={start!r}, speed=60.0)
    clock._m0 = {m0!r}
    session = resume_session({sid!r}, evidence_dir={ev!r})
    feed = feed_for_url({url!r}, {ws!r}, session.store, clock)
    asyncio.run(run_session(session, feed=feed, clock=clock, poll=0.05))
    """
)


def feed_for_url(url: str, ws: str, store: CandleStore, clock) -> LiveFeed:
    """:func:`feed_for` on a fake exchange known by its URLs (from another process)."""

    class _Fake:
        pass

    fake = _Fake()
    fake.url, fake.ws_url = url, ws  # type: ignore[attr-defined]
    return feed_for(fake, store, clock)  # type: ignore[arg-type]


def test_kill_9_mid_run_then_resume_loses_and_repeats_nothing(tmp_path):
    store = CandleStore(tmp_path / "data")
    tape, clock = exchange(store)
    ev = tmp_path / "ev"
    with FakeBtcturk(tape, [SYM], clock=clock, live={SYM: 250.0}) as fake:
        session = start_session(
            "sma_cross",
            symbols=SYM,
            timeframe="1m",
            params=PARAMS,
            session_id="killed",
            data_dir=store.root,
            evidence_dir=ev,
            clock=clock,
        )
        session.close(None)  # handed to the child process
        script = CHILD.format(
            root=str(Path(__file__).parents[2]),
            start=clock.start,
            m0=clock._m0,
            sid="killed",
            ev=str(ev),
            url=fake.url,
            ws=fake.ws_url,
        )
        child = subprocess.Popen([sys.executable, "-c", script])
        try:
            deadline = time.monotonic() + 30
            while len(journal_rows("killed", evidence_dir=ev)) < 2:
                assert child.poll() is None, "the session process ended early"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            time.sleep(0.3)  # land somewhere mid-run
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        before = journal_rows("killed", evidence_dir=ev)
        assert session_status("killed", evidence_dir=ev)["state"] == "interrupted"
        time.sleep(1.5)  # bars close while nobody runs the session
        again = resume_session("killed", evidence_dir=ev)
        feed = feed_for(fake, store, clock)
        asyncio.run(run_session(again, feed=feed, clock=clock, poll=0.05, duration=3.0))
    rows = journal_rows("killed", evidence_dir=ev)
    assert rows[: len(before)] == before  # what was journaled before the kill is kept
    assert len(rows) >= len(before) + 2  # the missed bars were caught up, then more
    kinds = [e["kind"] for e in session_events("killed", evidence_dir=ev)]
    assert kinds.count("resumed") == 2 and kinds[-1] == "stopped"
    assert_journal_is_the_backtest("killed", store, ev)
