"""Paper sessions: the backtest's own kernel advanced bar by bar on live candles.

:func:`start_session` fixes a session's inputs and its first traded bar (the
first candle closing after the start); :func:`resume_session` opens it again
after a stop or a crash. A :class:`PaperSession` keeps the session's candles in
memory (the warm-up history, then every closed candle), and
:meth:`PaperSession.advance` processes the bars closed since the last journaled
one: it re-runs :func:`sparkbt.backtest` on the whole history with
``trade_from`` the first traded bar — the very code a backtest runs, so the
session's fills *are* a backtest's — journals the new bars, and checks that the
bars journaled before come out unchanged. A difference there is recorded as a
``divergence`` event (the journal keeps what was traded), named by its cause
when a traded candle changed since. A lock of one of the session's risk gates
(the ``gates`` engine option) halts the session with its reason; drift from
the approval evidence is a warning (:mod:`.drift`).

Restart safety: every bar is committed with its fills in one transaction keyed
by its open time, so a kill at any point loses at most the bars not yet
committed, which the next :meth:`advance` (after :func:`resume_session`)
processes again from the stored candles: nothing is lost or repeated.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import COLUMNS
from sparkbt.data.store import CandleStore, normalise_symbol
from sparkbt.data.timeframes import format_timeframe, parse_timeframe, time_index
from sparkbt.engine.codes import GATES, REASONS
from sparkbt.engine.options import Config, split_options
from sparkbt.engine.registry import get_strategy
from sparkbt.engine.simulate import backtest
from sparkbt.errors import ConfigError
from sparkbt.research.paper.bars import BarRow, bar_rows, first_difference
from sparkbt.research.paper.drift import Drift, drift_warnings
from sparkbt.research.paper.journal import Journal
from sparkbt.research.paper.spec import (
    JOURNAL_FILE,
    LOCK_FILE,
    SessionBusy,
    SessionSpec,
    check_session_id,
    create_folder,
    paper_root,
    read_spec,
)
from sparkbt.research.paramsets import ParamSetVersion
from sparkbt.version import ENGINE_VERSION

__all__ = [
    "Advance",
    "PaperSession",
    "error_text",
    "is_running",
    "open_session",
    "resume_session",
    "session_backtest",
    "start_session",
]


def _empty_frame() -> pd.DataFrame:
    index = pd.DatetimeIndex([], tz="UTC", name="timestamp").as_unit("ns")
    return pd.DataFrame({c: np.array([], dtype="float64") for c in COLUMNS}, index=index)


def _stored(store: CandleStore, symbol: str, timeframe: str) -> pd.DataFrame:
    if not store.exists(symbol, timeframe):
        return _empty_frame()
    frame = store.read(symbol, timeframe)
    return pd.DataFrame(frame[list(COLUMNS)].to_numpy(), index=frame.index, columns=list(COLUMNS))


@dataclass
class Advance:
    """What one :meth:`PaperSession.advance` did."""

    written: list[BarRow] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    halted: str | None = None


class PaperSession:
    """One open session: its inputs, journal, in-memory candles; holds the run lock."""

    def __init__(self, folder: Path, spec: SessionSpec, lock_fd: int) -> None:
        self.folder, self.spec = folder, spec
        self._lock_fd = lock_fd
        self.journal = Journal(folder / JOURNAL_FILE)
        self.store = CandleStore(spec.data_dir)
        self.strategy = get_strategy(spec.strategy_ref)
        if self.strategy.source_sha256 != spec.strategy_sha256:
            raise ConfigError(
                f"paper session {spec.id}: the code of strategy {spec.strategy} changed since "
                "the session started (its sha256 differs)"
            )
        self.period_ns = int(parse_timeframe(spec.timeframe).value)
        self.frames: dict[str, pd.DataFrame] = {s: _empty_frame() for s in spec.symbols}
        self._stamps: dict[str, tuple[int, int]] = {}
        self._rows: list[BarRow] = self.journal.bars()
        self._equity = np.array([r.equity for r in self._rows], dtype=np.float64)
        self._ts = np.array([r.ts for r in self._rows], dtype=np.int64)
        self._fill_sig = [_fill_sig(r) for r in self._rows]
        self._diverged: int | None = None
        self.halted: str | None = None
        for e in self.journal.events():
            if e["kind"] == "halted":
                self.halted = e["detail"].get("reason")
            elif e["kind"] == "divergence":
                self._diverged = e["bar"]
        self._warned = {e["detail"].get("kind") for e in self.journal.events("warning")}
        self.drift = Drift.of(spec)

    # ------------------------------------------------------------------ candles
    def sync_store(self) -> list[str]:
        """Re-read the symbols whose store file changed; returns them."""
        changed = []
        for sym in self.spec.symbols:
            path = self.store.path(sym, self.spec.timeframe)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            if self._stamps.get(sym) != stamp:
                frame = _stored(self.store, sym, self.spec.timeframe)
                self.frames[sym] = frame.loc[time_index(frame).asi8 >= self.spec.history_from_ns]
                self._stamps[sym] = stamp
                changed.append(sym)
        return changed

    def add_candles(self, symbol: str, candles: pd.DataFrame) -> None:
        """Merge closed candles of ``symbol`` into memory (new values win), e.g. from a feed."""
        sym = normalise_symbol(symbol)
        old = self.frames[sym]
        keep = time_index(candles).asi8 >= self.spec.history_from_ns
        new = candles.loc[keep][list(COLUMNS)]
        if len(old) and len(new) and new.index[0] > old.index[-1]:
            self.frames[sym] = pd.concat([old, new])
        else:
            both = pd.concat([old[~old.index.isin(new.index)], new]).sort_index()
            self.frames[sym] = both

    def _history(self, until_ns: int | None) -> dict[str, pd.DataFrame]:
        if until_ns is None:
            return self.frames
        return {s: f.loc[time_index(f).asi8 < until_ns] for s, f in self.frames.items()}

    # ------------------------------------------------------------------ advancing
    @property
    def last_ts(self) -> int | None:
        return int(self._ts[-1]) if len(self._ts) else None

    @property
    def rows(self) -> list[BarRow]:
        """The bars journaled so far, oldest first (read-only)."""
        return list(self._rows)

    def bars_behind(self) -> int:
        """Candles in memory (the store, or the feed) newer than the last journaled bar."""
        last = self.last_ts if self.last_ts is not None else self.spec.start_bar_ns - 1
        newest = [int(time_index(f).asi8[-1]) for f in self.frames.values() if len(f)]
        if not newest or max(newest) <= last:
            return 0
        return int((max(newest) - last + self.period_ns - 1) // self.period_ns)

    def advance(self, until_ns: int | None = None) -> Advance:
        """Process every closed bar with open time before ``until_ns`` not journaled yet.

        ``until_ns`` bounds the candles taken as final (a feed's settled time);
        None takes every candle in memory.
        """
        out = Advance()
        if self.halted is not None:
            out.halted = self.halted
            return out
        history = self._history(until_ns)
        last = max((int(time_index(f).asi8[-1]) for f in history.values() if len(f)), default=None)
        if last is None or last < self.spec.start_bar_ns:
            return out
        if self.last_ts is not None and last <= self.last_ts:
            return out
        result = session_backtest(self.spec, self.strategy, history)
        out.divergence = self._check_prefix(result, history)
        rows = bar_rows(result, history, after_ns=self.last_ts)
        written, _ = self.journal.append(rows)
        self._remember(written)
        out.written = written
        out.halted = self._check_locks(result, written)
        out.warnings = self._check_drift(result)
        return out

    def _remember(self, rows: list[BarRow]) -> None:
        if not rows:
            return
        self._rows.extend(rows)
        self._ts = np.concatenate([self._ts, [r.ts for r in rows]])
        self._equity = np.concatenate([self._equity, [r.equity for r in rows]])
        self._fill_sig.extend(_fill_sig(r) for r in rows)

    def _check_prefix(
        self, result: Any, history: Mapping[str, pd.DataFrame]
    ) -> dict[str, Any] | None:
        """The first journaled bar the new run disagrees on (recorded once), else None."""
        m = len(self._ts)
        if m == 0:
            return None
        index = _traded_index(result)
        equity = result.equity.to_numpy()
        fills_ok = True
        if len(index) >= m and np.array_equal(index.asi8[:m], self._ts):
            rec = result.fill_records
            ts_of = index.asi8
            mine = rec[rec["bar"] < m]
            fresh = _record_sig(mine, ts_of, _symbols(result, self.spec))
            fills_ok = fresh == [f for sig in self._fill_sig for f in sig]
            if fills_ok and np.array_equal(equity[:m], self._equity):
                return None
        fresh_rows = bar_rows(result, history)
        diff = first_difference(self._rows, fresh_rows[: m + 1])
        if diff is None or self._diverged == diff["ts"]:
            return None
        self._diverged = diff["ts"]
        diff["cause"] = self._cause(diff["ts"], fresh_rows)
        self.journal.event("divergence", diff, bar=diff["ts"])
        return diff

    def _cause(self, ts: int, fresh: list[BarRow]) -> str:
        by_ts = {r.ts: r for r in fresh}
        for row in self._rows:
            if row.ts > ts:
                break
            now = by_ts.get(row.ts)
            if now is None or now.candles != row.candles:
                return f"a candle traded at {row.time} changed after it was traded"
        return "the strategy's signal on bars already traded changed: it reads later bars"

    def _check_locks(self, result: Any, written: list[BarRow]) -> str | None:
        if not written:
            return None
        index = _traded_index(result)
        first_new = written[0].ts
        for rec in result.lock_records:
            at = int(index.asi8[int(rec["first_bar"])])
            if at >= first_new:
                gate = GATES[int(rec["gate"])]
                reason = (
                    f"gate {gate} locked at {pd.Timestamp(at, unit='ns', tz='UTC').isoformat()}: "
                    f"equity {float(rec['equity']):.2f}, limit {float(rec['limit']):g}"
                )
                self.halted = reason
                self.journal.event("halted", {"reason": reason, "gate": gate}, bar=at)
                return reason
        return None

    def _check_drift(self, result: Any) -> list[dict[str, Any]]:
        found = drift_warnings(self.drift, self._equity, result, self.spec)
        new = [w for w in found if w["kind"] not in self._warned]
        for w in new:
            self._warned.add(w["kind"])
            self.journal.event("warning", w, bar=self.last_ts)
        return new

    # ------------------------------------------------------------------ state
    def stop_requested(self, after: int = 0) -> bool:
        return bool(self.journal.events("stop_requested", after=after))

    def close(self, kind: str | None = "stopped", detail: dict[str, Any] | None = None) -> None:
        """Record ``kind`` (``stopped``; None records nothing), close the journal, unlock."""
        try:
            if kind is not None and self.halted is None:
                self.journal.event(kind, detail or {}, bar=self.last_ts)
            self.journal.close()
        finally:
            os.close(self._lock_fd)

    def __enter__(self) -> PaperSession:
        return self

    def __exit__(self, *exc: object) -> None:
        error = exc[1]
        if isinstance(error, BaseException):
            self.close("interrupted", {"why": error_text(error)})
        else:
            self.close("stopped")


def error_text(exc: BaseException) -> str:
    """An error as the one line a session's journal and status keep of it."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def session_backtest(spec: SessionSpec, strategy: Any, history: Mapping[str, pd.DataFrame]) -> Any:
    """The session's backtest of ``history``: trading from its first bar, its options."""
    candles: Any = dict(history) if spec.portfolio else next(iter(history.values()))
    if not spec.portfolio:
        candles.attrs["symbol"] = spec.symbols[0]
    return backtest(
        candles,
        strategy,
        timeframe=spec.timeframe,
        trade_from=pd.Timestamp(spec.start_bar_ns, unit="ns", tz="UTC"),
        **spec.params,
        **spec.options,
    )


def _traded_index(result: Any) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        result.panel.index if hasattr(result, "panel") else result.candles.index
    )


def _fill_sig(row: BarRow) -> list[tuple[Any, ...]]:
    return [
        (row.ts, f["symbol"], f["side"], f["units"], f["price"], f["fee"], f["reason"])
        for f in row.fills
    ]


def _symbols(result: Any, spec: SessionSpec) -> list[str]:
    return list(result.symbols) if hasattr(result, "panel") else list(spec.symbols)


def _record_sig(
    records: np.ndarray, ts_of: np.ndarray, symbols: list[str]
) -> list[tuple[Any, ...]]:
    return [
        (
            int(ts_of[int(r["bar"])]),
            symbols[int(r["col"])],
            "buy" if int(r["side"]) > 0 else "sell",
            float(r["units"]),
            float(r["price"]),
            float(r["fee"]),
            str(REASONS[int(r["reason"])]),
        )
        for r in records
    ]


# ---------------------------------------------------------------------- opening
def _lock(folder: Path, session_id: str) -> int:
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SessionBusy(f"paper session {session_id!r} is running in another process") from None
    return fd


def is_running(folder: Path) -> bool:
    """Whether a process holds the session's run lock."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def open_session(folder: Path, event: str | None) -> PaperSession:
    spec = read_spec(folder)
    fd = _lock(folder, spec.id)
    try:
        session = PaperSession(folder, spec, fd)
    except BaseException:
        os.close(fd)
        raise
    if event is not None:
        session.journal.event(event, {"pid": os.getpid()}, bar=session.last_ts)
    session.sync_store()
    return session


def resume_session(session_id: str, *, evidence_dir: str | Path | None = None) -> PaperSession:
    """Open a session again (after a stop or a kill): it continues from its journal."""
    folder = paper_root(evidence_dir) / check_session_id(session_id)
    return open_session(folder, "resumed")


def _start_bar(start: pd.Timestamp, timeframe: str) -> pd.Timestamp:
    """Open time of the first candle closing after ``start`` (the candle in progress)."""
    return start.floor(parse_timeframe(timeframe))


def _history_from(
    store: CandleStore, symbols: list[str], tf: str, bar: pd.Timestamp, n: int
) -> pd.Timestamp:
    """The first candle of the ``n`` warm-up bars (union of the symbols) before ``bar``."""
    stamps = [time_index(_stored(store, s, tf)) for s in symbols]
    union = pd.DatetimeIndex(np.unique(np.concatenate([i.asi8 for i in stamps])), tz="UTC")
    before = union[union < bar]
    if n <= 0 or not len(before):
        return bar
    return before[max(0, len(before) - n)]


def start_session(
    strategy: str | Callable[..., Any] | None = None,
    *,
    symbols: list[str] | str | None = None,
    timeframe: str | None = None,
    params: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    paramset: ParamSetVersion | None = None,
    approval: Mapping[str, Any] | None = None,
    session_id: str | None = None,
    start: Any = None,
    warmup_bars: int = 10_000,
    data_dir: str | Path | None = None,
    evidence_dir: str | Path | None = None,
    clock: Callable[[], float] = time.time,
) -> PaperSession:
    """Create a session and open it (it holds the run lock until closed).

    Either ``paramset`` (an approved version: its strategy, pair, timeframe,
    parameters and options) or ``strategy`` with ``symbols`` and ``timeframe``.
    ``start`` defaults to ``clock()``; ``warmup_bars`` stored candles before the
    first traded bar are the strategy's warm-up. ``approval`` is the version's
    approval evidence (the assessment's record) for the drift watch.
    """
    if paramset is not None:
        strategy, symbols, timeframe = paramset.strategy, paramset.pairs, paramset.timeframe
        params, options = dict(paramset.params), dict(paramset.options)
    if strategy is None or not symbols or timeframe is None:
        raise ConfigError("paper session: give a param set, or a strategy, symbol(s) and timeframe")
    strat = get_strategy(strategy)
    if paramset is not None and strat.source_sha256 != paramset.strategy_sha256:
        raise ConfigError(
            f"param set {paramset.name}: the code of strategy {strat.name} changed since "
            f"version {paramset.id[:12]} was approved"
        )
    syms = [normalise_symbol(s) for s in ([symbols] if isinstance(symbols, str) else symbols)]
    tf = format_timeframe(parse_timeframe(timeframe))
    opts, extra_params = split_options(dict(options or {}))
    if extra_params:
        raise ConfigError(f"options: unknown engine option(s) {', '.join(extra_params)}")
    Config(**opts)  # bad options fail here, before a folder exists
    checked = strat.validate(dict(params or {}))
    when = pd.Timestamp(clock() if start is None else start, unit="s" if start is None else None)
    when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    bar = _start_bar(when, tf)
    store = CandleStore(data_dir)
    hist = _history_from(store, syms, tf, bar, int(warmup_bars))
    inputs = {
        "strategy": strat.name,
        "strategy_sha256": strat.source_sha256,
        "params": checked,
        "options": opts,
        "symbols": syms,
        "timeframe": tf,
        "start": when.isoformat(),
    }
    sid = check_session_id(session_id) if session_id else SessionSpec.derive_id(inputs)
    spec = SessionSpec(
        id=sid,
        strategy=strat.name,
        strategy_sha256=strat.source_sha256,
        params=_plain(checked),
        options=_plain(opts),
        symbols=syms,
        timeframe=tf,
        start=when.isoformat(),
        start_bar=bar.isoformat(),
        history_from=hist.isoformat(),
        warmup_bars=int(warmup_bars),
        data_dir=str(Path(store.root).absolute()),
        paramset=None if paramset is None else paramset.to_dict(),
        approval=None if approval is None else Drift.summary(approval),
        engine_version=ENGINE_VERSION,
        extra={
            "portfolio": strat.kind == "weights",
            "ref": strategy if isinstance(strategy, str) else strat.name,
        },
    )
    folder = create_folder(paper_root(evidence_dir), spec)
    return open_session(folder, None)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
