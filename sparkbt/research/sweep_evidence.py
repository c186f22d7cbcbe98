"""Sweep and walk-forward evidence.

``sweep/<id>/``: ``sweep.json`` + ``results.parquet`` + ``heatmap.png``;
``walkforward/<id>/``: ``walkforward.json`` + ``folds.parquet`` + ``oos.parquet``.

The id hashes the sweep's identity (data fingerprint, strategy and its source
hash, grid, ``where``, samples/seed, config, engine version), so equal inputs
give the same folder; ``timing`` is kept apart and excluded from the id. The
folder is written atomically (:func:`sparkbt.evidence.write_atomic`). The
heatmap needs matplotlib (the ``plot`` extra), imported only when drawn;
without it ``sweep.json`` says ``"heatmap": null`` and why, in
``heatmap_skipped``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sparkbt.engine.stats import STAT_KEYS, json_safe
from sparkbt.errors import ConfigError, did_you_mean, require
from sparkbt.evidence import (
    Writer,
    content_id,
    default_evidence_dir,
    dump_json,
    write_atomic,
    write_parquet,
)

if TYPE_CHECKING:
    from sparkbt.research.walkforward import WalkForwardResult

__all__ = [
    "HEATMAP_SKIPPED",
    "SweepEvidence",
    "WalkForwardEvidence",
    "heatmap",
    "plot_available",
    "rank",
    "read_sweep",
    "read_walk_forward",
    "save_sweep",
    "save_walk_forward",
]

HEATMAP_SKIPPED = 'heatmap skipped: matplotlib is not installed (pip install "sparkbt[plot]")'
"""Why a sweep folder has no heatmap.png although two parameters were swept."""

# metrics where smaller is better; every other stat ranks largest first
_ASCENDING = {"max_drawdown", "max_drawdown_duration", "total_fees"}


def rank(results: pd.DataFrame, metric: str = "sharpe") -> pd.DataFrame:
    """Rows sorted best first by ``metric`` (NaN last; ties keep grid order)."""
    if metric not in STAT_KEYS:
        hint = did_you_mean(metric, STAT_KEYS)
        raise ConfigError(f"metric: unknown stat {metric!r}{hint}")
    return results.sort_values(
        metric, ascending=metric in _ASCENDING, na_position="last", kind="stable"
    )


def _pivot(results: pd.DataFrame, x: str, y: str, metric: str) -> pd.DataFrame:
    """Metric over two parameters (best value where other parameters vary)."""
    agg: Literal["min", "max"] = "min" if metric in _ASCENDING else "max"
    return results.pivot_table(index=y, columns=x, values=metric, aggfunc=agg, dropna=False)


def heatmap(
    results: pd.DataFrame,
    metric: str = "sharpe",
    x: str | None = None,
    y: str | None = None,
    path: Path | str | None = None,
    ax: Any = None,
) -> Any:
    """Draw ``metric`` over parameters ``x`` and ``y`` (the first two swept); save to ``path``.

    With ``ax`` it draws there; with only ``path`` it draws on a figure of its
    own (matplotlib's object API, the global backend untouched) and writes a
    PNG; with neither it opens a pyplot figure for the notebook or window.
    """
    swept = list(results.attrs.get("sweep", {}).get("swept") or [])
    params = list(results.attrs.get("sweep", {}).get("params") or [])
    candidates = swept + [p for p in params if p not in swept and results[p].nunique() > 1]
    x = x or (candidates[0] if candidates else None)
    y = y or next((p for p in candidates if p != x), None)
    if x is None or y is None:
        raise ConfigError("heatmap: needs two swept parameters")
    require("matplotlib", "plot")
    grid = _pivot(results, x, y, metric)
    if ax is not None:
        fig = ax.figure
    elif path is not None:
        # a figure of its own on an Agg canvas: pyplot and the user's backend stay untouched
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(8, 6), dpi=100)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:  # to look at: a pyplot figure, shown by whatever backend the user has
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 6), dpi=100)
    z = np.ma.masked_invalid(grid.to_numpy(dtype=float))
    mesh = ax.pcolormesh(
        np.arange(grid.shape[1] + 1),
        np.arange(grid.shape[0] + 1),
        z,
        cmap="viridis",
        shading="flat",
    )
    fig.colorbar(mesh, ax=ax, label=metric)
    step_x = max(1, grid.shape[1] // 12)
    step_y = max(1, grid.shape[0] // 12)
    ax.set_xticks(np.arange(0, grid.shape[1], step_x) + 0.5)
    ax.set_xticklabels([str(v) for v in grid.columns[::step_x]])
    ax.set_yticks(np.arange(0, grid.shape[0], step_y) + 0.5)
    ax.set_yticklabels([str(v) for v in grid.index[::step_y]])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{results.attrs.get('sweep', {}).get('strategy', '')}: {metric}")
    if path is not None:
        fig.savefig(path, format="png", metadata={"Software": None})
    return ax


@dataclass
class SweepEvidence:
    """A stored sweep: its ``sweep.json`` and the results table."""

    path: Path
    meta: dict[str, Any] = field(repr=False)
    results: pd.DataFrame = field(repr=False)
    kind = "sweep"

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    def top(self, n: int = 10, metric: str | None = None) -> pd.DataFrame:
        return rank(self.results, metric or self.meta.get("metric", "sharpe")).head(n)


def read_sweep(path: Path) -> SweepEvidence:
    """Load a sweep folder (``sweep.json`` and ``results.parquet``)."""
    meta = json.loads((path / "sweep.json").read_text())
    results = pd.read_parquet(path / "results.parquet")
    results.attrs["sweep"] = meta["identity"] | {
        "params": meta.get("params", []),
        "swept": meta.get("swept", []),
    }
    return SweepEvidence(path=path, meta=meta, results=results)


def save_sweep(
    results: pd.DataFrame,
    evidence_dir: str | Path | None = None,
    *,
    metric: str = "sharpe",
    top: int = 10,
    plot: bool = True,
) -> Path:
    """Write the evidence folder of a ``sweep()`` frame; returns its path."""
    identity = results.attrs.get("sweep")
    if not identity:
        raise ConfigError("save_sweep: expects the frame returned by sweep() (attrs missing)")
    ident = {k: v for k, v in identity.items() if k not in ("params", "swept")}
    sid = content_id(ident)
    ranked = rank(results, metric)
    best = [
        {k: json_safe(v) for k, v in row.items()} for row in ranked.head(top).to_dict("records")
    ]
    meta = {
        "id": sid,
        "kind": "sweep",
        "identity": ident,
        "params": identity.get("params", []),
        "swept": identity.get("swept", []),
        "combinations": len(results),
        "metric": metric,
        "top": best,
        "files": ["sweep.json", "results.parquet"],
        "heatmap": None,  # its file name once drawn
        "timing": results.attrs.get("timing", {}),
    }
    writers: dict[str, Writer] = {"results.parquet": lambda p: write_parquet(results, p)}
    swept = [p for p in meta["params"] if results[p].nunique() > 1]
    if plot and len(swept) >= 2:
        if plot_available():
            meta["files"].append("heatmap.png")
            meta["heatmap"] = "heatmap.png"
            x, y = (meta["swept"] + swept)[:2] if len(meta["swept"]) >= 2 else swept[:2]
            writers["heatmap.png"] = lambda p: heatmap(results, metric, x, y, path=p)
        else:
            meta["heatmap_skipped"] = HEATMAP_SKIPPED
    writers["sweep.json"] = lambda p: p.write_text(dump_json(_clean(meta)))
    root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
    return write_atomic(root / "sweep" / sid, writers)


@dataclass
class WalkForwardEvidence:
    """A stored walk-forward: ``walkforward.json``, the fold table and the out-of-sample stats."""

    path: Path
    meta: dict[str, Any] = field(repr=False)
    folds: pd.DataFrame = field(repr=False)
    oos: pd.DataFrame = field(repr=False)
    kind = "walkforward"

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.meta["summary"])

    @property
    def params(self) -> list[str]:
        return list(self.meta.get("params", []))


def read_walk_forward(path: Path) -> WalkForwardEvidence:
    """Load a walk-forward folder (``walkforward.json``, ``folds.parquet``, ``oos.parquet``)."""
    meta = json.loads((path / "walkforward.json").read_text())
    return WalkForwardEvidence(
        path=path,
        meta=meta,
        folds=pd.read_parquet(path / "folds.parquet"),
        oos=pd.read_parquet(path / "oos.parquet"),
    )


def save_walk_forward(wf: WalkForwardResult, evidence_dir: str | Path | None = None) -> Path:
    """Write the evidence folder of a ``walk_forward()`` result; returns its path.

    ``walkforward/<id>/``: ``walkforward.json`` (id, identity, summary, timing
    apart), ``folds.parquet`` and ``oos.parquet``. The id hashes the identity:
    data fingerprint, strategy and its source, grid, where/samples/seed,
    config, train/test/step bars, metric and engine version.
    """
    if not wf.identity:
        raise ConfigError("save_walk_forward: expects the result of walk_forward()")
    wid = content_id(_clean(wf.identity))
    meta = {
        "id": wid,
        "kind": "walkforward",
        "identity": wf.identity,
        "params": wf.params,
        "metric": wf.identity["metric"],
        "summary": wf.summary,
        "files": ["walkforward.json", "folds.parquet", "oos.parquet"],
        "timing": wf.timing,
    }
    root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
    return write_atomic(
        root / "walkforward" / wid,
        {
            "folds.parquet": lambda p: write_parquet(wf.folds, p),
            "oos.parquet": lambda p: write_parquet(wf.oos, p),
            "walkforward.json": lambda p: p.write_text(dump_json(_clean(meta))),
        },
    )


def plot_available() -> bool:
    """Whether matplotlib (the ``plot`` extra) can be imported, without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def _clean(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return json_safe(obj)
