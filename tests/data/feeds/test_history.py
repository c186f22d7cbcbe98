"""REST klines backfill against the fake exchange: paging, faults, cleaning, idempotency."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from sparkbt.data.feeds.btcturk import (
    ExchangeDataError,
    ExchangeUnavailable,
    UnknownSymbolError,
    clean_float32,
    fetch_history,
    klines_frame,
)

from .conftest import rest_for, stored
from .fake_btcturk import FakeBtcturk, Faults, Tape, history_tape, tape_candles

pytestmark = pytest.mark.timeout(30)

START = pd.Timestamp("2024-01-01", tz="UTC")
END = pd.Timestamp("2024-01-11", tz="UTC")  # 240 hourly periods
NOW = pd.Timestamp("2024-03-01", tz="UTC").timestamp()


@pytest.fixture(scope="module")
def tape() -> Tape:
    t = Tape()
    history_tape(t, "BTCTRY", START - pd.Timedelta(days=2), END + pd.Timedelta(days=2), 3600)
    return t


def expected(tape: Tape, start=START, end=END) -> pd.DataFrame:
    ref = tape_candles(tape.of("BTCTRY"), 3600)
    return ref[(ref.index >= start) & (ref.index < end)]


def fetch(fake, clock, store, since=START, until=END, **kw):
    rest = rest_for(fake.url, clock, **kw)
    return asyncio.run(
        fetch_history("BTCTRY", "1h", since, until, store=store, rest=rest, now=lambda: NOW)
    )


def klines_requests(fake) -> list:
    return [r for r in fake.requests if r[0] == "/v1/klines/history"]


def test_pages_within_the_cap_and_equals_the_tape(tape, store, fake_clock):
    faults = Faults(cap=50)  # the fake truncates any larger window: paging must respect it
    with FakeBtcturk(tape, ["BTCTRY"], faults=faults) as fake:
        result = fetch(fake, fake_clock, store, page_size=50)
        pages = klines_requests(fake)
    want = expected(tape)
    assert len(want) < 240  # the tape has no-trade hours: they must stay missing
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), want, check_freq=False)
    assert result.received == len(want) == result.added
    assert len(pages) == 5  # 240 candles, 49 new per page (one candle of overlap)
    assert all(int(q["to"]) - int(q["from"]) <= 49 * 3600 for _, q, _ in pages)
    assert {q["resolution"] for _, q, _ in pages} == {"60"}


def test_rerun_and_overlapping_ranges_are_idempotent(tape, store, fake_clock):
    with FakeBtcturk(tape, ["BTCTRY"]) as fake:
        fetch(fake, fake_clock, store, START, START + pd.Timedelta(days=6))
        fetch(fake, fake_clock, store, START + pd.Timedelta(days=3), END)
        again = fetch(fake, fake_clock, store)
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), expected(tape), check_freq=False)
    assert (again.added, again.updated) == (0, 0)


def test_429_retry_after_and_503_are_survived(tape, store, fake_clock):
    faults = Faults(http_429=2, retry_after="7", http_503=3)
    with FakeBtcturk(tape, ["BTCTRY"], faults=faults) as fake:
        rest = rest_for(fake.url, fake_clock)
        sent: list[float] = []
        acquire = rest.limiter.acquire

        async def timed() -> None:
            await acquire()
            sent.append(fake_clock())

        rest.limiter.acquire = timed  # type: ignore[method-assign]
        asyncio.run(
            fetch_history("BTCTRY", "1h", START, END, store=store, rest=rest, now=lambda: NOW)
        )
        statuses = [s for _, _, s in fake.requests]
    assert statuses == [200, 429, 429, 503, 503, 503, 200]  # exchangeinfo, then klines
    gaps = np.diff(sent)
    assert gaps[1] >= 7.0
    assert gaps[2] >= 7.0
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), expected(tape), check_freq=False)


def test_persistent_503_gives_up_after_bounded_retries(tape, store, fake_clock):
    with FakeBtcturk(tape, ["BTCTRY"], faults=Faults(http_503=100)) as fake:
        with pytest.raises(ExchangeUnavailable, match="HTTP 503"):
            fetch(fake, fake_clock, store, max_retries=3)
        assert len(klines_requests(fake)) == 4
    backoffs = [s for s in fake_clock.sleeps if s > 0]
    assert len(backoffs) == 3
    assert all(0 <= s <= 8 for s in backoffs)
    assert not store.exists("BTCTRY", "1h")


@pytest.mark.parametrize("empty", ["null", "no_data", "ok"])
def test_empty_answers_are_no_data(empty, tape, store, fake_clock):
    """A range before the first trade: every page is empty, nothing is written."""
    with FakeBtcturk(tape, ["BTCTRY"], faults=Faults(empty=empty)) as fake:
        result = fetch(
            fake,
            fake_clock,
            store,
            pd.Timestamp("2023-06-01", tz="UTC"),
            pd.Timestamp("2023-06-03", tz="UTC"),
        )
    assert result.received == 0
    assert not store.exists("BTCTRY", "1h")


def test_float32_noise_and_flat_zero_volume_rows_are_cleaned(tape, store, fake_clock):
    faults = Faults(float32=True, zero_volume_gaps=True)
    with FakeBtcturk(tape, ["BTCTRY"], faults=faults) as fake:
        fetch(fake, fake_clock, store)
    pd.testing.assert_frame_equal(stored(store, "BTCTRY", "1h"), expected(tape), check_freq=False)


def test_unknown_symbol_is_refused_before_any_write(tape, store, fake_clock):
    with FakeBtcturk(tape, ["BTCTRY"]) as fake:
        rest = rest_for(fake.url, fake_clock)
        with pytest.raises(UnknownSymbolError, match="did you mean BTCTRY"):
            asyncio.run(
                fetch_history("BTCTRX", "1h", START, END, store=store, rest=rest, now=lambda: NOW)
            )
        assert klines_requests(fake) == []
    assert not store.root.exists()


def test_clean_float32_rule():
    noisy = np.array([6.0079998970032, 6.007999897003174, 0.30000001192092896, 12.345])
    assert clean_float32(noisy).tolist() == [6.008, 6.008, 0.3, 12.345]
    genuine = np.array([2345678.91, 0.1 + 0.2, 1234.5678, 100.0])
    assert clean_float32(genuine).tolist() == genuine.tolist()


def test_klines_frame_checks_the_protocol():
    period = pd.Timedelta(hours=1)
    ok = {
        "s": "ok",
        "t": [1704067200, 1704070800],
        "o": [1, 2],
        "h": [2, 3],
        "l": [1, 2],
        "c": [2, 3],
        "v": [1.5, 0.5],
    }
    frame = klines_frame(ok, period, "test")
    assert list(frame.index.strftime("%H:%M")) == ["00:00", "01:00"]
    with pytest.raises(ExchangeDataError, match="does not start"):
        klines_frame({**ok, "t": [1704067200, 1704070860]}, period, "test")
    with pytest.raises(ExchangeDataError, match="as long as"):
        klines_frame({**ok, "v": [1.0]}, period, "test")
    with pytest.raises(ExchangeDataError, match="Invalid"):
        klines_frame({"s": "error", "errmsg": "Invalid symbol"}, period, "test")
    assert klines_frame({"s": None, "t": [], "o": []}, period, "test").empty
