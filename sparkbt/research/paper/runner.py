"""Drive an open session on live candles: the feed writes the store, the session follows it.

With a :class:`~sparkbt.data.feeds.live.LiveFeed` (run here, in the same event
loop) a bar is processed once the feed has it final in the store
(:meth:`LiveFeed.settled_until_ms`: written, or passed without trades, and no
repair of it queued). Without one (another process feeds the store), a bar is
processed ``settle`` seconds after it closed. The loop ends on ``stop``, on a
``stop_requested`` event in the journal (``sparkbt paper stop``), on a halt, or
after ``duration`` seconds; the feed is then shut down (flushing what ended) and
the session advanced one last time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from sparkbt.research.paper.session import Advance, PaperSession, error_text

__all__ = ["run_session"]


def _until(
    session: PaperSession, feed: Any, clock: Callable[[], float], settle: float
) -> int | None:
    if feed is not None:
        ms = feed.settled_until_ms()
        return None if ms is None else int(ms) * 1_000_000
    now_ns = int((clock() - settle) * 1e9)
    return now_ns - now_ns % session.period_ns


def _ending(why: str, failed: str | None) -> tuple[str, dict[str, Any]]:
    """The journal event closing a session: stopped (and why), or interrupted by an error."""
    return ("interrupted", {"why": failed}) if failed is not None else ("stopped", {"why": why})


FEED_STOP_SECONDS = 20.0
"""How long a stopping session waits for its feed to flush and close before cancelling it."""


async def run_session(
    session: PaperSession,
    *,
    feed: Any = None,
    clock: Callable[[], float] = time.time,
    poll: float = 1.0,
    settle: float = 10.0,
    stop: asyncio.Event | None = None,
    duration: float | None = None,
    on_advance: Callable[[Advance], None] | None = None,
    close: bool = True,
) -> str:
    """Advance ``session`` until it stops; returns why (stopped, halted, duration, error).

    The session is closed at the end (``close``), recording ``stopped`` unless
    it halted.
    """
    stop = stop or asyncio.Event()
    feed_stop = asyncio.Event()
    seen = max((e["seq"] for e in session.journal.events()), default=0)
    task = None if feed is None else asyncio.create_task(feed.run(stop=feed_stop))
    deadline = None if duration is None else time.monotonic() + duration
    why = "stopped"

    def step() -> Advance:
        session.sync_store()
        done = session.advance(_until(session, feed, clock, settle))
        if on_advance is not None and (done.written or done.halted or done.warnings):
            on_advance(done)
        return done

    failed: str | None = None  # the error that ended the session (its strategy's, say)
    try:
        while True:
            if session.halted is not None:
                why = "halted"
                break
            if stop.is_set() or session.stop_requested(after=seen):
                break
            if deadline is not None and time.monotonic() >= deadline:
                why = "duration"
                break
            if task is not None and task.done():
                why = "error"
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            step()
    except Exception as exc:
        failed = error_text(exc)
        raise
    finally:
        if task is not None:
            feed_stop.set()
            # a feed that does not wind down (its last gap fill hanging on the exchange)
            # must not keep the session from closing: it is cancelled after a while
            finished, _ = await asyncio.wait({task}, timeout=FEED_STOP_SECONDS)
            if not finished:
                task.cancel()
            results: Any = await asyncio.gather(task, return_exceptions=True)
            outcome = results[0]
            if session.halted is None and failed is None:
                step()
            if close:
                session.close(*_ending(why, failed))
            if (
                failed is None
                and isinstance(outcome, BaseException)
                and not isinstance(outcome, asyncio.CancelledError)
            ):
                raise outcome
        elif close:
            session.close(*_ending(why, failed))
    return "halted" if session.halted is not None else why
