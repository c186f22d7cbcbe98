"""Compiled passes of the statistics, where numpy's own is a slow scalar loop."""

from __future__ import annotations

import numpy as np

from sparkbt.engine.loop_state import njit

__all__ = ["running_max"]


@njit()
def running_max(x):
    """Running maximum, and False when ``x`` holds a NaN or a zero (numpy's rules for those,
    NaN propagation and which signed zero wins a tie, then apply instead).

    Otherwise equal values have equal bits, so keeping either gives np.maximum's result.
    """
    out = np.empty_like(x)
    acc = x[0] if x.shape[0] else 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v or v == 0.0:
            return out, False
        acc = max(acc, v)
        out[i] = acc
    return out, True
