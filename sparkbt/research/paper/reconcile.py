"""Reconcile a paper session with the backtest of the same candles, bar for bar.

:func:`reconcile` reads the session's candles back from the store (the warm-up
from ``history_from``, up to the last journaled bar), runs the session's
backtest on them (trading from its first bar) and compares every journaled bar
with the backtest's: candle fingerprints, fills, units, equity, cash. Either
identical, or the first difference with its cause:

- a traded candle whose fingerprint changed since it was traded, or a candle
  that appeared after the session traded past its time (a repaired gap);
- else a strategy that reads the future, named by
  :func:`sparkbt.research.lookahead.lookahead_check` on the session's candles;
- else unexplained (the difference is reported as it is).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.data.store import CandleStore
from sparkbt.data.timeframes import time_index
from sparkbt.engine.registry import get_strategy
from sparkbt.research.lookahead import lookahead_check
from sparkbt.research.paper.bars import BarRow, bar_rows, first_difference
from sparkbt.research.paper.journal import Journal
from sparkbt.research.paper.session import _stored, session_backtest
from sparkbt.research.paper.spec import (
    JOURNAL_FILE,
    SessionSpec,
    check_session_id,
    paper_root,
    read_spec,
)

__all__ = ["Reconciliation", "reconcile", "session_candles"]


@dataclass(frozen=True)
class Reconciliation:
    """The outcome: ``identical``, else the first difference and its ``cause``."""

    session_id: str
    identical: bool
    bars: int
    first_difference: dict[str, Any] | None = None
    cause: str | None = None
    cause_kind: str | None = None  # candle_changed|_added|_missing, lookahead, unexplained
    lookahead: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "identical": self.identical,
            "bars": self.bars,
            "first_difference": self.first_difference,
            "cause": self.cause,
            "cause_kind": self.cause_kind,
            "lookahead": self.lookahead,
        }


def session_candles(spec: SessionSpec, until_ns: int | None) -> dict[str, pd.DataFrame]:
    """The session's stored candles by symbol: from ``history_from`` to ``until_ns`` included."""
    store = CandleStore(spec.data_dir)
    out = {}
    for sym in spec.symbols:
        frame = _stored(store, sym, spec.timeframe)
        ns = time_index(frame).asi8
        keep = ns >= spec.history_from_ns
        if until_ns is not None:
            keep &= ns <= until_ns
        out[sym] = frame.loc[keep]
    return out


def reconcile(
    session_id: str, *, evidence_dir: str | Path | None = None, lookahead_samples: int = 20
) -> Reconciliation:
    """Compare the session's journal with a fresh backtest of its stored candles."""
    folder = paper_root(evidence_dir) / check_session_id(session_id)
    spec = read_spec(folder)
    with Journal(folder / JOURNAL_FILE) as journal:
        rows = journal.bars()
    if not rows:
        return Reconciliation(spec.id, True, 0)
    candles = session_candles(spec, rows[-1].ts)
    strat = get_strategy(spec.strategy_ref)
    fresh = bar_rows(session_backtest(spec, strat, candles), candles)
    diff = first_difference(rows, fresh)
    if diff is None:
        return Reconciliation(spec.id, True, len(rows))
    kind, cause = _candle_cause(rows, fresh, diff["ts"])
    look = None
    if kind is None:
        single = candles if spec.portfolio else next(iter(candles.values()))
        result = lookahead_check(strat, single, spec.params, samples=lookahead_samples)
        look = result.to_dict()
        if not result.passed:
            kind, cause = (
                "lookahead",
                f"the strategy {strat.name} reads the future: {result.detail}",
            )
        else:
            kind = "unexplained"
            cause = (
                "no traded candle changed and the look-ahead check passed: "
                f"{diff['field']} differs at {diff['time']}"
            )
    return Reconciliation(spec.id, False, len(rows), diff, cause, kind, look)


def _candle_cause(
    rows: list[BarRow], fresh: list[BarRow], ts: int
) -> tuple[str | None, str | None]:
    """A candle changed or added at or before bar ``ts`` since it was traded, if any."""
    by_ts = {r.ts: r for r in fresh}
    journaled = {r.ts for r in rows}
    for row in fresh:
        if row.ts > ts:
            break
        if row.ts not in journaled:
            return "candle_added", (
                f"a candle at {row.time} ({', '.join(row.candles)}) was stored after the session "
                "traded past it (a repaired gap)"
            )
    for row in rows:
        if row.ts > ts:
            break
        now = by_ts.get(row.ts)
        if now is None:
            return "candle_missing", (
                f"the candle(s) traded at {row.time} ({', '.join(row.candles)}) are no longer "
                "in the store"
            )
        if now.candles != row.candles:
            changed = [s for s in row.candles if now.candles.get(s) != row.candles[s]]
            return "candle_changed", (
                f"the candle of {', '.join(changed)} at {row.time} changed after it was traded "
                "(a repaired gap)"
            )
    return None, None
