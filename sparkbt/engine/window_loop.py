"""Compiled sliding-window passes of the indicators (:mod:`sparkbt.indicators`)."""

from __future__ import annotations

import numpy as np

from sparkbt.engine.loop_state import njit, scalar

__all__ = ["sliding_extreme"]


@scalar
def pick(a, b, lowest):
    """``a`` when it wins (lower or higher) or is NaN, else ``b``: NaN spreads."""
    if lowest:
        return a if (a < b or a != a) else b
    return a if (a > b or a != a) else b


@njit()
def sliding_extreme(x, w, lowest):
    """The highest (``lowest``: lowest) of each ``w`` bars ending at each bar; NaN during the
    first ``w - 1`` bars and wherever the window holds a NaN.

    Van Herk / Gil-Werman: the bars are cut into blocks of ``w``, so a window ending
    at bar i is the end of the block before i's (from its start: ``back``, kept for
    the last block only) and the head of i's block up to i (``acc``). Every value
    is one of the inputs, so the result equals a direct scan bit for bit.
    """
    n = x.shape[0]
    out = np.empty(n)
    back = np.empty(w)  # back[j]: the extreme from bar start - w + j to the last block's end
    for start in range(0, n, w):
        end = min(start + w, n)
        acc = x[start]
        for i in range(start, end):
            if i > start:
                acc = pick(acc, x[i], lowest)
            first = i - w + 1
            if first < 0:
                out[i] = np.nan
            elif first == start:  # the window is this block
                out[i] = acc
            else:
                out[i] = pick(back[first - start + w], acc, lowest)
        acc = x[end - 1]
        for i in range(end - 1, start - 1, -1):
            if i < end - 1:
                acc = pick(x[i], acc, lowest)
            back[i - start] = acc
    return out
