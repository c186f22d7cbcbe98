"""Look-ahead check: a strategy's signal at bar t may depend only on bars up to t.

The strategy is evaluated once on all candles and again on the candles cut
after each of a sample of bars t (for a portfolio, every symbol's candles cut
after the union bar t, and the weights compared per symbol). The truncated
run's signals must equal the full run's on every bar up to and including t:
the prepared targets (NaN forward-filled, as the simulator sees them) and any
per-bar stop columns (NaN equals NaN); for a strategy that returns orders, the
checked orders decided up to t (timestamp <= bar t), row by row in the
engine's order, the first differing row named. Bars are drawn one per equal
stretch of the data, so the sample spans it; the same seed draws the same bars.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.data.panel_load import load_panel
from sparkbt.engine.orders import OrderTable, order_table
from sparkbt.engine.portfolio_orders import portfolio_order_table, strategy_output
from sparkbt.engine.registry import Signals, Strategy, get_strategy
from sparkbt.engine.simulate import prepare
from sparkbt.engine.weights import portfolio_weights
from sparkbt.errors import ConfigError

__all__ = ["LookaheadResult", "lookahead_check", "sample_bars"]


@dataclass(frozen=True)
class LookaheadResult:
    """Outcome: ``first_mismatch`` is the earliest bar (0-based) whose signal changed."""

    passed: bool
    bars_checked: list[int] = field(default_factory=list)
    first_mismatch: int | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "bars_checked": list(self.bars_checked),
            "first_mismatch": self.first_mismatch,
            "detail": self.detail,
        }


def sample_bars(n: int, samples: int, seed: int) -> list[int]:
    """Up to ``samples`` sorted bars in ``[1, n - 2]``, one drawn from each equal stretch."""
    if n < 3 or samples < 1:
        return []
    lo, hi = 1, n - 1  # cutting after the last bar is the full run: never drawn
    k = min(samples, hi - lo)
    edges = np.linspace(lo, hi, k + 1).astype(np.int64)
    rng = np.random.default_rng(seed)
    bars = {int(rng.integers(a, max(b, a + 1))) for a, b in itertools.pairwise(edges)}
    return sorted(bars)


_Columns = dict[str, np.ndarray | None]


def _columns(signals: Signals) -> _Columns:
    return {
        "target": prepare(signals.target.to_numpy(), "both")[:, 0],
        "sl_stop": None if signals.sl_stop is None else signals.sl_stop.to_numpy(),
        "tp_stop": None if signals.tp_stop is None else signals.tp_stop.to_numpy(),
    }


def _first_difference(full: _Columns, cut: _Columns, t: int, tol: float) -> tuple[int, str] | None:
    """Earliest bar <= t where a column differs, and the column's name."""
    found: tuple[int, str] | None = None
    for name, a in full.items():
        b = cut[name]
        if (a is None) != (b is None):
            hit = (0, f"{name} is returned only {'with' if b is None else 'without'} later bars")
        elif a is None or b is None:
            continue
        else:
            x, y = a[: t + 1], b[: t + 1]
            same = (np.abs(x - y) <= tol) | (np.isnan(x) & np.isnan(y))
            bad = np.flatnonzero(~same)
            if not len(bad):
                continue
            i = int(bad[0])
            cut_v, full_v = float(y[i]), float(x[i])
            hit = (i, f"{name} at bar {i} is {cut_v!r} on bars 0..{t}, {full_v!r} on all")
        if found is None or hit[0] < found[0]:
            found = hit
    return found


def _weight_columns(strat: Strategy, panel: Panel, params: dict[str, Any], output: Any) -> _Columns:
    """A portfolio's weights as the simulator sees them (before the direction), per symbol."""
    w = portfolio_weights(strat, panel, params, "both", 0, output).values
    return {f"weight of {sym}": w[:, j] for j, sym in enumerate(panel.symbols)}


def _same(x: Any, y: Any, tol: float) -> bool:
    if isinstance(x, float | np.floating) and isinstance(y, float | np.floating):
        return bool(abs(float(x) - float(y)) <= tol or (x != x and y != y))
    if pd.isna(x) is True and pd.isna(y) is True:
        return True
    return bool(x == y)


def _first_order_difference(
    full: OrderTable, cut: OrderTable, index: pd.DatetimeIndex, t: int, tol: float
) -> tuple[int, str] | None:
    """The first order decided up to bar t (in the engine's order) that the cut run changes."""
    until = index[t]
    a = full.frame[full.frame["timestamp"] <= until].reset_index(drop=True)
    b = cut.frame[cut.frame["timestamp"] <= until].reset_index(drop=True)
    columns = list(dict.fromkeys([*a.columns, *b.columns]))
    for i in range(max(len(a), len(b))):
        row = a.iloc[i] if i < len(a) else b.iloc[i]
        bar = int(index.searchsorted(row["timestamp"], side="right")) - 1
        if i >= len(a) or i >= len(b):
            how = "with" if i < len(a) else "without"
            return bar, f"order row {i + 1} is decided only {how} later bars"
        for col in columns:
            x = a.at[i, col] if col in a.columns else None
            y = b.at[i, col] if col in b.columns else None
            if not _same(x, y, tol):
                return bar, (
                    f"order row {i + 1}, column '{col}' is {y!r} on bars 0..{t}, {x!r} on all"
                )
    return None


def _compare(
    full: Any, cut: Any, index: pd.DatetimeIndex, t: int, tol: float
) -> tuple[int, str] | None:
    """Earliest bar <= t where the cut run's signals or orders differ, and how."""
    if isinstance(full, OrderTable) or isinstance(cut, OrderTable):
        if not (isinstance(full, OrderTable) and isinstance(cut, OrderTable)):
            how = "with" if isinstance(full, OrderTable) else "without"
            return 0, f"orders are returned only {how} later bars"
        return _first_order_difference(full, cut, index, t, tol)
    return _first_difference(full, cut, t, tol)


def lookahead_check(
    strategy: str | Callable[..., pd.Series] | Strategy,
    candles: pd.DataFrame | Mapping[str, Any] | Panel | Any,
    params: Mapping[str, Any] | None = None,
    *,
    samples: int = 20,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> LookaheadResult:
    """Check that signals on candles cut after bar t equal the full run's up to t.

    ``params`` are validated against the strategy's schema. An error raised by
    the strategy on a truncated frame fails the check, naming the bar.
    """
    if samples < 1:
        raise ConfigError(f"samples: must be >= 1 (got {samples!r})")
    strat = get_strategy(strategy)
    checked = strat.validate(params or {})
    columns: Callable[[int | None], _Columns | OrderTable]
    if isinstance(candles, (Mapping, Panel)) or strat.kind == "weights":
        source = candles if isinstance(candles, (Mapping, Panel)) else {"asset": candles}
        panel = load_panel(source)
        index = panel.index

        def columns(t: int | None) -> _Columns | OrderTable:
            cut = panel if t is None else panel.until(t)
            output = strategy_output(strat, cut, checked)
            table = portfolio_order_table(strat.name, output, cut)
            return table if table is not None else _weight_columns(strat, cut, checked, output)

    else:
        frame = load_candles(candles)
        index = pd.DatetimeIndex(frame.index)

        def columns(t: int | None) -> _Columns | OrderTable:
            cut = frame if t is None else frame.iloc[: t + 1]
            signals = strat.evaluate(cut, checked)
            if signals.orders is not None:
                return order_table(strat.name, signals.orders, pd.DatetimeIndex(cut.index))
            return _columns(signals)

    full = columns(None)
    bars = sample_bars(len(index), samples, seed)
    worst: tuple[int, str] | None = None  # (bar, message)
    failed = 0
    for t in bars:
        try:
            cut = columns(t)
        except Exception as exc:  # a strategy that cannot run on a prefix cannot run live
            msg = f"{strat.name} failed on bars 0..{t}: {type(exc).__name__}: {exc}"
            return LookaheadResult(False, bars, None, msg)
        diff = _compare(full, cut, index, t, tolerance)
        if diff is not None:
            failed += 1
            if worst is None or diff[0] < worst[0]:
                worst = diff
    if worst is None:
        return LookaheadResult(
            True, bars, None, f"signals on {len(bars)} truncated copies match the full run"
        )
    bar, msg = worst
    when = index[bar].isoformat()
    detail = f"look-ahead: {msg} ({when}; {failed} of {len(bars)} cuts differ)"
    return LookaheadResult(False, bars, bar, detail)
