"""Shared helpers for the feed tests: a fake clock and REST clients wired to it."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from sparkbt.data.feeds.btcturk import Backoff, BtcturkRest, Endpoints, RateLimiter
from sparkbt.data.store import CandleStore


class FakeClock:
    """Monotonic seconds that only move when someone sleeps on them."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path) -> CandleStore:
    return CandleStore(tmp_path / "data")


def rest_for(url: str, clock: FakeClock, **kw) -> BtcturkRest:
    """A REST client on the fake exchange whose waits run on ``clock`` (no real sleeping)."""
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    return BtcturkRest(
        Endpoints(graph=url, rest=url, ws="ws://unused"),
        limiter=limiter,
        backoff=Backoff(base=0.5, cap=8, rng=random.Random(3)),
        sleep=clock.sleep,
        **kw,
    )


def stored(store: CandleStore, symbol: str, tf: str) -> pd.DataFrame:
    """The stored frame with plain columns (attrs dropped) for exact comparisons."""
    frame = store.read(symbol, tf)
    return pd.DataFrame(frame.to_numpy(), index=frame.index, columns=frame.columns)
