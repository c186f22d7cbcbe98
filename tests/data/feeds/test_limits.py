"""Pacing: the request budget, retry backoff and the connection budget on a fake clock."""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest

from sparkbt.data.feeds.btcturk import Backoff, ConnectionBudget, RateLimiter

pytestmark = pytest.mark.timeout(20)


def max_in_window(times: list[float], window: float) -> int:
    t = np.asarray(times)
    return int(max(np.searchsorted(t, t + window, side="left") - np.arange(len(t))))


def test_rate_limiter_never_exceeds_600_per_10_minutes(fake_clock):
    limiter = RateLimiter(clock=fake_clock, sleep=fake_clock.sleep)
    stamps: list[float] = []

    async def hammer() -> None:
        rng = random.Random(5)
        for _ in range(3000):
            await limiter.acquire()
            stamps.append(fake_clock())
            if rng.random() < 0.05:  # sometimes idle, so the bucket refills for a burst
                await fake_clock.sleep(rng.uniform(0, 120))

    asyncio.run(hammer())
    assert max_in_window(stamps, 600.0) <= 550


def test_rate_limiter_runs_close_to_its_budget(fake_clock):
    limiter = RateLimiter(clock=fake_clock, sleep=fake_clock.sleep)

    async def busy() -> None:
        for _ in range(2000):
            await limiter.acquire()

    asyncio.run(busy())
    per_window = 2000 / fake_clock.now * 600
    assert 530 < per_window <= 550


def test_rate_limiter_shared_by_concurrent_callers(fake_clock):
    limiter = RateLimiter(budget=60, window=60.0, burst=5, clock=fake_clock, sleep=fake_clock.sleep)
    stamps: list[float] = []

    async def worker() -> None:
        for _ in range(100):
            await limiter.acquire()
            stamps.append(fake_clock())

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(4)))

    asyncio.run(main())
    assert max_in_window(sorted(stamps), 60.0) <= 60


def test_block_for_stops_everyone(fake_clock):
    limiter = RateLimiter(clock=fake_clock, sleep=fake_clock.sleep)

    async def main() -> float:
        await limiter.acquire()
        limiter.block_for(42.0)
        await limiter.acquire()
        return fake_clock()

    assert asyncio.run(main()) >= 42.0


def test_backoff_is_exponential_with_full_jitter():
    b = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    for attempt in range(8):
        ceiling = min(8.0, 0.5 * 2**attempt)
        delays = [b.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling  # really spread up to the ceiling


def test_connection_budget_stays_under_15_per_minute(fake_clock):
    budget = ConnectionBudget(clock=fake_clock, sleep=fake_clock.sleep)
    stamps: list[float] = []

    async def main() -> None:
        for _ in range(100):
            await budget.acquire()
            stamps.append(fake_clock())

    asyncio.run(main())
    assert max_in_window(stamps, 60.0) <= 12
    assert stamps[-1] < 9 * 60  # and it does let attempts through
