"""Pacing for exchange I/O: a request budget, retry backoff and a connection budget.

All three take an injectable ``clock`` (seconds, monotonic) and async ``sleep`` so
tests run them on a fake clock in microseconds of wall time.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import monotonic

__all__ = ["Backoff", "ConnectionBudget", "RateLimiter"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """Token bucket that never lets more than ``budget`` requests into any ``window``.

    The bucket holds at most ``burst`` tokens and refills at
    ``(budget - burst) / window`` per second, so any interval of length ``window``
    admits at most ``burst + (budget - burst) = budget`` requests. BTCTurk's graph
    host allows about 600 requests per 10 minutes and blocks for 10 minutes past it;
    the default keeps a margin (550). :meth:`block_for` pauses every caller, e.g.
    for a 429's ``Retry-After``.
    """

    def __init__(
        self,
        budget: int = 550,
        window: float = 600.0,
        burst: int = 10,
        *,
        clock: Clock = monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < burst < budget:
            raise ValueError(f"burst must be in (0, budget) (got burst={burst}, budget={budget})")
        self.budget, self.window, self.burst = budget, window, burst
        self.rate = (budget - burst) / window
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._stamp = clock()
        self._blocked_until = float("-inf")
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def block_for(self, seconds: float) -> None:
        """Admit nothing for ``seconds`` (and start again with an empty bucket)."""
        self._refill()
        self._tokens = min(self._tokens, 0.0)
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait until one request may be sent, then take its token."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._blocked_until:
                    await self._sleep(self._blocked_until - now)
                    continue
                self._refill()
                if self._tokens >= 1.0 - 1e-9:  # tolerance: float steps can stall just below
                    self._tokens -= 1.0
                    return
                await self._sleep((1.0 - self._tokens) / self.rate)


@dataclass
class Backoff:
    """Exponential backoff with full jitter: attempt n waits U(0, min(cap, base * 2**n))."""

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0.0, min(self.cap, self.base * (2.0 ** max(attempt, 0))))


class ConnectionBudget:
    """At most ``limit`` connection attempts in any ``window`` seconds (sliding log).

    BTCTurk blocks a client for 60 s after 15 connection attempts in a minute;
    the default of 12 keeps a margin.
    """

    def __init__(
        self,
        limit: int = 12,
        window: float = 60.0,
        *,
        clock: Clock = monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.limit, self.window = limit, window
        self._clock, self._sleep = clock, sleep
        self._attempts: deque[float] = deque()

    async def acquire(self) -> None:
        """Wait until one more attempt fits in the window, then record it."""
        while True:
            now = self._clock()
            while self._attempts and self._attempts[0] <= now - self.window:
                self._attempts.popleft()
            if len(self._attempts) < self.limit:
                self._attempts.append(now)
                return
            await self._sleep(self._attempts[0] + self.window - now)
