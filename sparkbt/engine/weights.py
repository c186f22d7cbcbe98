"""Target weights of a portfolio, from either kind of strategy (docs/semantics.md).

A weights strategy returns a frame (timestamps x symbols) of target weights of
the portfolio's value; it is checked here: same bars as the panel, known
symbols, values in [-1, 1], each row's gross sum(|w|) at most 1. A
single-symbol (targets) strategy runs on each symbol's own candles and becomes
equal slots: on a bar where symbol c's target changes to x, c's weight is
x / N; NaN (hold) on every other bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.data.timeframes import time_index
from sparkbt.engine import kernels
from sparkbt.engine.codes import BOTH, LONG, SHORT
from sparkbt.engine.options import DIRECTIONS
from sparkbt.engine.registry import Strategy
from sparkbt.errors import WeightsError

__all__ = ["GROSS_TOLERANCE", "Weights", "portfolio_weights"]

GROSS_TOLERANCE = 1e-9
"""A row's gross sum(|w|) may exceed 1 by this much (float noise), no more."""


class Weights(NamedTuple):
    """Weights as the portfolio kernel takes them, and what the direction clipped."""

    values: np.ndarray  # (bars, symbols) float64, NaN = no order
    clipped: int  # weights the direction set to 0 (shorts under long, longs under short)


def portfolio_weights(
    strategy: Strategy,
    panel: Panel,
    params: Mapping[str, Any],
    direction: str,
    start: int = 0,
    evaluated: Any = None,
) -> Weights:
    """The strategy's weights over ``panel`` from union bar ``start`` on, clipped by direction.

    The strategy sees every candle (warm-up included); only the traded bars' weights are kept.
    ``evaluated`` is what the strategy already returned, if it ran: its frame (weights
    strategy) or each symbol's Signals (targets strategy).
    """
    if strategy.kind == "weights":
        out = strategy.func(panel, **params) if evaluated is None else evaluated
        raw = _checked_frame(strategy, panel, out)[start:]
    else:
        raw = _equal_slots(strategy, panel, params, start, evaluated)
    return _clip(raw, direction)


def _clip(raw: np.ndarray, direction: str) -> Weights:
    code = DIRECTIONS[direction]
    out = raw.copy()
    if code == LONG:
        bad = out < 0.0
    elif code == SHORT:
        bad = out > 0.0
    else:
        bad = np.zeros(out.shape, dtype=bool)
    out[bad] = 0.0
    out += 0.0  # no negative zeros
    return Weights(out, int(np.count_nonzero(bad)))


def _checked_frame(strategy: Strategy, panel: Panel, raw: Any) -> np.ndarray:
    name = strategy.name
    if not isinstance(raw, pd.DataFrame):
        raise WeightsError(
            f"{name}: a portfolio strategy must return a weights DataFrame "
            f"(timestamps x symbols; got {type(raw).__name__})"
        )
    if len(raw) != len(panel):
        raise WeightsError(f"{name}: returned {len(raw)} rows of weights for {len(panel)} bars")
    if isinstance(raw.index, pd.DatetimeIndex) and not raw.index.equals(panel.index):
        row = int(np.flatnonzero(raw.index != panel.index)[0])
        raise WeightsError(
            f"{name}: weights row {row + 1} is at {raw.index[row]}, not at the bar "
            f"{panel.index[row].isoformat()} (weights must be indexed like panel.index)"
        )
    unknown = [str(c) for c in raw.columns if c not in panel.symbols]
    if unknown:
        raise WeightsError(
            f"{name}: weights for {', '.join(unknown)}, not in the candles "
            f"(symbols: {', '.join(panel.symbols)})"
        )
    frame = raw.reindex(columns=panel.symbols)
    try:
        values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise WeightsError(f"{name}: weights must be numbers (NaN = no order)") from None
    values = np.array(values, dtype=np.float64, order="C")
    _check_values(name, values, panel)
    values[~panel.has_candle()] = np.nan  # no candle, no price: no order there
    return values


def _check_values(name: str, values: np.ndarray, panel: Panel) -> None:
    with np.errstate(invalid="ignore"):
        bad = np.argwhere(~np.isnan(values) & ~(np.abs(values) <= 1.0))
    if len(bad):
        row, col = (int(x) for x in bad[0])
        raise WeightsError(
            f"{name}: weight of {panel.symbols[col]} at {panel.index[row].isoformat()} "
            f"is {float(values[row, col])!r}; weights must be in [-1, 1] (NaN = no order)"
        )
    gross = np.nansum(np.abs(values), axis=1)
    over = np.flatnonzero(gross > 1.0 + GROSS_TOLERANCE)
    if len(over):
        row = int(over[0])
        raise WeightsError(
            f"{name}: weights at {panel.index[row].isoformat()} add up to a gross "
            f"{float(gross[row]):.6g} (sum of |weight| must be at most 1: no leverage)"
        )


def _equal_slots(
    strategy: Strategy,
    panel: Panel,
    params: Mapping[str, Any],
    start: int,
    evaluated: Mapping[str, Any] | None = None,
) -> np.ndarray:
    """Per-symbol targets -> weights x / N on the bars where a symbol's target changes."""
    index, n_sym = panel.index, len(panel.symbols)
    first = index[start] if start else None
    out = np.full((len(index) - start, n_sym), np.nan)
    for j, (symbol, frame) in enumerate(panel.frames.items()):
        signals = strategy.evaluate(frame, params) if evaluated is None else evaluated[symbol]
        if signals.sl_stop is not None or signals.tp_stop is not None:
            raise WeightsError(
                f"{strategy.name}: returned stop columns for {symbol}; stops are per-trade "
                "rules that a portfolio of several symbols does not take"
            )
        keep = np.ones(len(frame), dtype=bool) if first is None else time_index(frame) >= first
        # forward-filled, unclipped: the direction clips the weights (and counts them)
        target = kernels.prepare_targets(signals.target.to_numpy()[keep], BOTH)[:, 0]
        previous = np.concatenate(([0.0], target[:-1]))
        changed = target != previous
        rows = index.get_indexer(time_index(frame)[keep]) - start
        out[rows[changed], j] = target[changed] / n_sym
    return out
