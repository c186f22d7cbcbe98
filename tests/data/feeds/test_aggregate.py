"""Trades → candles: dedupe by id, order independence, grace, late trades."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from sparkbt.data.feeds.aggregate import CandleBuilder, candles_frame, parse_trade, period_start

from .fake_btcturk import tape_candles

pytestmark = pytest.mark.timeout(10)
MIN = pd.Timedelta(minutes=1)
T0 = 1_704_067_200_000  # 2024-01-01T00:00Z


def trade(i: int, ts: int, price: str, amount: str = "1.5") -> dict:
    return {"D": ts, "I": str(i), "A": amount, "P": price, "S": i % 2}


def test_builder_matches_reference_with_duplicates_and_shuffling():
    rng = random.Random(4)
    tape = [
        trade(
            i,
            T0 + 60_000 + i * 1_700,
            f"{100 + rng.uniform(-5, 5):.2f}",
            f"{rng.randint(1, 999) / 1000:.3f}",
        )
        for i in range(200)
    ]
    feed = tape + rng.sample(tape, 40)  # duplicated ids (snapshot + stream overlap)
    rng.shuffle(feed)  # arrival order within the grace window must not matter
    b = CandleBuilder(MIN, T0, grace_ms=10**9)  # nothing final until flush
    b.emit_from_ms = T0
    for item in feed:
        b.add(parse_trade(item))
    out = candles_frame(b.flush(T0 + 10 * 60_000))
    assert b.duplicates == 40
    ref = tape_candles(tape, 60)
    pd.testing.assert_frame_equal(
        out, ref[ref.index < pd.Timestamp(T0 + 9 * 60_000, unit="ms", tz="UTC")], check_freq=False
    )


def test_grace_late_trades_and_the_partial_first_period():
    b = CandleBuilder(MIN, T0, grace_ms=2000)  # connected during the minute starting at T0
    assert b.add(parse_trade(trade(1, T0 + 30_000, "10")))[0] == []  # partial first period
    assert b.add(parse_trade(trade(2, T0 + 61_000, "11")))[0] == []
    closed, late = b.add(parse_trade(trade(3, T0 + 120_500, "12")))  # within grace of 2:00
    assert (closed, late) == ([], False)
    assert b.add(parse_trade(trade(4, T0 + 119_000, "13")))[1] is False  # late but in grace
    closed, _ = b.add(parse_trade(trade(5, T0 + 122_100, "14")))
    assert [(c.start_ms, c.open, c.close, c.high) for c in closed] == [(T0 + 60_000, 11, 13, 13)]
    _, late = b.add(parse_trade(trade(6, T0 + 100_000, "15")))  # candle already emitted
    assert late is True
    assert b.add(parse_trade(trade(5, T0 + 122_100, "14"))) == ([], False)  # duplicate id


def test_weeks_start_on_monday():
    monday = pd.Timestamp("2024-01-08", tz="UTC")
    ts = int(pd.Timestamp("2024-01-11T15:00", tz="UTC").value // 10**6)
    assert period_start(ts, 7 * 86_400_000) == monday.value // 10**6
