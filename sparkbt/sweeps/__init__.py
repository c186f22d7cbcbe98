"""Parameter sweeps and walk-forward evaluation.

``sweep(candles, "sma_cross", fast=range(5, 51), slow=range(20, 201, 5), where="fast < slow")``
returns one row per combination with every stat of ``STAT_KEYS``;
``walk_forward(...)`` picks the best parameters on each training window and
reports them out of sample. The package is ``sparkbt.sweeps`` (plural) so that
``sparkbt.sweep`` and ``sparkbt.walk_forward`` stay the functions. Modules:
``grid`` (combinations), ``fast`` (signal rows), ``engine`` (jobs, chunks),
``executors`` (local processes, Dask), ``orchestrate`` (``sweep``),
``walkforward``, ``evidence``, ``cli``.
"""

from sparkbt.research.sweep import sweep
from sparkbt.research.sweep_evidence import (
    SweepEvidence,
    WalkForwardEvidence,
    heatmap,
    rank,
    save_sweep,
    save_walk_forward,
)
from sparkbt.research.walkforward import WalkForwardResult, walk_forward

__all__ = [
    "SweepEvidence",
    "WalkForwardEvidence",
    "WalkForwardResult",
    "heatmap",
    "rank",
    "save_sweep",
    "save_walk_forward",
    "sweep",
    "walk_forward",
]
