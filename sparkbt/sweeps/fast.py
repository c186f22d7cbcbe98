"""Many-parameter signal paths: indicators once per distinct window, rows filled in place.

A strategy with a fast path gets its target rows for a whole chunk of
combinations from cached indicator arrays instead of one ``Strategy.signals``
call per combination. The result must be bit-identical to the strategy's own
function (``tests/sweep/test_fast.py``), so the fast path is used only when
the strategy *is* the built-in one (same source file), never a user override
with the same name.

Any other strategy uses :func:`generic_rows`: one signals call per combination.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..indicators import ema, sma
from ..registry import Strategy, builtin_dir

__all__ = ["IndicatorCache", "fast_path", "generic_rows"]


class IndicatorCache:
    """LRU cache of ``(name, window) -> array`` bounded in bytes (per process)."""

    def __init__(self, close: np.ndarray, max_bytes: int) -> None:
        self.close = close
        self.max_items = max(4, int(max_bytes // max(close.nbytes, 1)))
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()

    def get(
        self, name: str, window: int, fn: Callable[[np.ndarray, int], np.ndarray]
    ) -> np.ndarray:
        key = (name, int(window))
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
            return hit
        arr = fn(self.close, int(window))
        self._items[key] = arr
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return arr


def _cross_rows(ind: str, fn: Callable[[np.ndarray, int], np.ndarray]) -> Callable[..., np.ndarray]:
    def rows(cache: IndicatorCache, combos: dict[str, np.ndarray]) -> np.ndarray:
        fast, slow = combos["fast"], combos["slow"]
        out = np.empty((len(fast), len(cache.close)))
        for k in range(len(fast)):  # same expression as the strategy: sign(ind_f - ind_s)
            np.subtract(cache.get(ind, fast[k], fn), cache.get(ind, slow[k], fn), out=out[k])
        np.sign(out, out=out)
        np.putmask(out, np.isnan(out), 0.0)  # nan_to_num: NaN during warm-up -> 0
        return out

    return rows


_FAST: dict[str, Callable[..., np.ndarray]] = {
    "sma_cross": _cross_rows("sma", sma),
    "ema_cross": _cross_rows("ema", ema),
}


def fast_path(strategy: Strategy) -> Callable[..., np.ndarray] | None:
    """The many-parameter row builder of a built-in strategy, if it has one."""
    rows = _FAST.get(strategy.name)
    if rows is None:
        return None
    try:
        same = Path(strategy.origin).resolve() == (builtin_dir() / f"{strategy.name}.py").resolve()
    except (OSError, ValueError):
        same = False
    return rows if same else None


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
