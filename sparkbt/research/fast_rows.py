"""Many-parameter signal paths: indicators once per distinct window, rows filled in place.

A strategy function may declare a fast path with :func:`sweep_rows`: a row
builder that fills the target rows of a whole chunk of combinations from
cached indicator arrays, instead of one ``Strategy.signals`` call per
combination. The built-in ``sma_cross`` and ``ema_cross`` declare theirs in
their own modules (``@sweep_rows(crossover_rows(sma))``). The rows must be
bit-identical to the strategy's own function (``tests/research/sweep/test_fast.py``),
so a declared fast path is used only when the strategy *is* a built-in one (its
file in the built-in ``strategies/`` folder), never a user file, even one that
copies a built-in with its declaration.

Any other strategy uses :func:`generic_rows`: one signals call per combination.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from sparkbt.engine.registry import Strategy, builtin_dir

__all__ = ["IndicatorCache", "crossover_rows", "fast_path", "generic_rows", "sweep_rows"]

Indicator = Callable[[np.ndarray, int], np.ndarray]
F = TypeVar("F", bound=Callable[..., Any])


class IndicatorCache:
    """LRU cache of ``(indicator, window) -> array`` bounded in bytes (per process)."""

    def __init__(self, close: np.ndarray, max_bytes: int) -> None:
        self.close = close
        self.max_items = max(4, int(max_bytes // max(close.nbytes, 1)))
        self._items: OrderedDict[tuple[Indicator, int], np.ndarray] = OrderedDict()

    def get(self, fn: Indicator, window: int) -> np.ndarray:
        """``fn(close, window)``, computed once while it stays in the cache."""
        key = (fn, int(window))
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        arr = fn(self.close, int(window))
        self._items[key] = arr
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return arr


Rows = Callable[[IndicatorCache, dict[str, np.ndarray]], np.ndarray]
"""A fast path: ``rows(cache, {param: values})`` -> target rows ``(combinations, bars)``."""
_MARK = "__sparkbt_sweep_rows__"


def sweep_rows(rows: Rows) -> Callable[[F], F]:
    """Declare the many-combination fast path of a strategy function (built-ins only).

    ``rows(cache, combos)`` gets the indicator cache of the candles' close and
    each parameter's values as arrays, and returns every combination's raw
    targets, bit-identical to calling the function once per combination.
    """

    def mark(fn: F) -> F:
        setattr(fn, _MARK, rows)
        return fn

    return mark


def crossover_rows(indicator: Indicator) -> Rows:
    """Rows of ``sign(indicator(close, fast) - indicator(close, slow))``, 0 during warm-up."""

    def rows(cache: IndicatorCache, combos: dict[str, np.ndarray]) -> np.ndarray:
        fast, slow = combos["fast"], combos["slow"]
        out = np.empty((len(fast), len(cache.close)))
        for k in range(len(fast)):  # same expression as the strategy: sign(ind_f - ind_s)
            np.subtract(cache.get(indicator, fast[k]), cache.get(indicator, slow[k]), out=out[k])
        np.sign(out, out=out)
        np.putmask(out, np.isnan(out), 0.0)  # nan_to_num: NaN during warm-up -> 0
        return out

    return rows


def fast_path(strategy: Strategy) -> Rows | None:
    """The declared row builder of a built-in strategy, if it has one."""
    rows = getattr(strategy.func, _MARK, None)
    if rows is None:
        return None
    try:
        builtin = Path(strategy.origin).resolve().parent == builtin_dir().resolve()
    except (OSError, ValueError):
        builtin = False
    return rows if builtin else None


def generic_rows(
    strategy: Strategy, frame: pd.DataFrame, combos: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Raw target rows ``(m, n)``, and per-bar stop rows if the strategy returns any.

    One ``Strategy.evaluate`` call per combination; stop rows are NaN (none)
    where a combination returns no stop column.
    """
    n = len(frame)
    out = np.empty((len(combos), n))  # combos may be [{}]: a strategy without params
    stops: dict[str, np.ndarray] = {}
    for k, params in enumerate(combos):
        sig = strategy.evaluate(frame, params)
        out[k] = sig.target.to_numpy()
        for name, col in (("sl", sig.sl_stop), ("tp", sig.tp_stop)):
            if col is not None:
                if name not in stops:
                    stops[name] = np.full((len(combos), n), np.nan)
                stops[name][k] = col.to_numpy()
    return out, stops.get("sl"), stops.get("tp")
