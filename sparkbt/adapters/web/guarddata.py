"""What the guardrails pages show, built from stored proposals and runs.

A proposal's evidence is the JSON its evaluation stored
(:meth:`sparkbt.research.assess.Assessment.to_dict`); it is read here key by key
with ``.get`` so that evidence written by an older or newer assessment (fewer or
more runs, sections added) still renders: what is missing is shown as missing,
never as an error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.adapters.web.downsample import minmax_indices
from sparkbt.engine.statspec import STAT_SPECS, format_stat

__all__ = [
    "CHART_BUCKETS",
    "HEADLINE_LABELS",
    "chart_payload",
    "diff_rows",
    "evidence_view",
    "gate_rows",
    "show",
]

CHART_BUCKETS = 1500
"""Min/max buckets per equity curve (at most ~3,000 points each are drawn)."""

HEADLINE_LABELS = {
    "total_return": "Total return",
    "sharpe": "Sharpe",
    "max_drawdown": "Max drawdown",
    "total_trades": "Trades",
    "win_rate": "Win rate",
}
_RUN_LABELS = {
    "proposed": "Proposed, whole window",
    "approved": "Approved, whole window",
    "proposed_in_sample": "Proposed, in-sample",
    "proposed_out_of_sample": "Proposed, out-of-sample",
    "approved_out_of_sample": "Approved, out-of-sample",
}


def show(value: Any) -> str:
    """A parameter, option or gate value as one short line of text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return str(value)


def _flat(version: Mapping[str, Any] | None) -> dict[str, tuple[str, Any]]:
    """Field name -> (group, value) in the order :func:`sparkbt.research.paramsets.diff` uses."""
    if not version:
        return {}
    out: dict[str, tuple[str, Any]] = {}
    for key in ("strategy", "strategy_sha256", "pair", "timeframe"):
        out[key] = ("strategy", version.get(key))
    for k, v in (version.get("params") or {}).items():
        out[f"params.{k}"] = ("params", v)
    options = version.get("options") or {}
    for k, v in options.items():
        if k != "gates":
            out[f"options.{k}"] = ("options", v)
    for k, v in sorted((options.get("gates") or {}).items()):
        out[f"options.gates.{k}"] = ("options", v)
    return out


def diff_rows(
    proposed: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    changes: list[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Every field of both versions: approved value, proposed value, whether it changed.

    ``changes`` are the store's field changes (they decide what counts as a
    change and carry notes such as ``strategy code changed``); without a base
    every row is new.
    """
    new, old = _flat(proposed), _flat(base)
    by_field = {str(c.get("field")): c for c in changes or ()}
    names = list(old) + [k for k in new if k not in old]
    rows: list[dict[str, Any]] = []
    for name in names:
        group = (new.get(name) or old.get(name) or ("options", None))[0]
        change = by_field.get(name)
        a, b = old.get(name, (group, None))[1], new.get(name, (group, None))[1]
        if base is not None and change is None and a != b:
            change = {"field": name, "note": ""}
        rel = None if change is None else change.get("relative_change")
        rows.append(
            {
                "field": name,
                "group": group,
                "approved": "—" if base is None else show(a),
                "proposed": show(b),
                "approved_full": "" if base is None else show(a),
                "proposed_full": show(b),
                "changed": change is not None,
                "note": "" if change is None else str(change.get("note") or ""),
                "relative": None if rel is None else f"{rel * 100:.1f}%",
            }
        )
    for row in rows:
        if row["field"] == "strategy_sha256":
            row["approved"] = row["approved"][:12] if base is not None else "—"
            row["proposed"] = row["proposed"][:12]
            if row["changed"] and not row["note"]:
                row["note"] = "strategy code changed"
    return rows


def gate_rows(gates: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The gate results as table rows (result pass, warn, block or skip)."""
    rows = []
    for g in gates or ():
        value = g.get("value")
        rows.append(
            {
                "gate": str(g.get("gate") or "?"),
                "result": str(g.get("result") or "?"),
                # "skip" is taken (the skip link): the badge class of a skipped gate is "skipped"
                "badge": "skipped" if g.get("result") == "skip" else str(g.get("result") or ""),
                "value": ("yes" if value else "no") if isinstance(value, bool) else show(value),
                "limit": show(g.get("limit")),
                "action": str(g.get("action") or ""),
                "message": str(g.get("message") or ""),
            }
        )
    return rows


def _stat(key: str, value: Any) -> str:
    try:
        return format_stat(key, value)
    except (TypeError, ValueError):
        return show(value)


def _compare(key: str, old: Any, new: Any) -> str:
    direction = STAT_SPECS[key].direction if key in STAT_SPECS else ""
    if not direction or not all(isinstance(v, int | float) for v in (old, new)) or old == new:
        return ""
    return "better" if (new > old) == (direction == "higher") else "worse"


def _stat_rows(columns: list[tuple[str, Mapping[str, Any] | None]]) -> list[dict[str, Any]]:
    """One row per headline statistic with one cell per column (``—`` where missing)."""
    keys = list(HEADLINE_LABELS)
    for _, stats in columns:
        keys += [k for k in stats or {} if k not in keys]
    rows = []
    for key in keys:
        cells = [_stat(key, (stats or {}).get(key)) for _, stats in columns]
        rows.append({"key": key, "label": HEADLINE_LABELS.get(key, key), "cells": cells})
    return rows


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def evidence_view(evidence: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parts of stored evidence the proposal page shows, each defaulting to empty."""
    ev = _dict(evidence)
    runs = {str(k): str(v) for k, v in _dict(ev.get("runs")).items() if v}
    ordered = [k for k in _RUN_LABELS if k in runs] + sorted(
        k for k in runs if k not in _RUN_LABELS
    )
    run_links = [
        {"label": k, "text": _RUN_LABELS.get(k, k.replace("_", " ")), "id": runs[k]}
        for k in ordered
    ]
    head = _dict(ev.get("headline"))
    approved, proposed = head.get("approved"), head.get("proposed")
    headline = _stat_rows([("approved", approved), ("proposed", proposed)])
    for row in headline:
        row["mark"] = _compare(
            row["key"], _dict(approved).get(row["key"]), _dict(proposed).get(row["key"])
        )
    split = _dict(ev.get("split"))
    split_columns = [
        ("In-sample (proposed)", split.get("in_sample")),
        ("Out-of-sample (proposed)", split.get("out_of_sample")),
        ("Out-of-sample (approved)", split.get("approved_out_of_sample")),
    ]
    split_columns = [c for c in split_columns if c[1] is not None]
    dsr, pbo, look = _dict(ev.get("dsr")), _dict(ev.get("pbo")), _dict(ev.get("lookahead"))
    wf = _dict(ev.get("walk_forward"))
    neighbourhood = []
    for row in ev.get("neighbourhood") or ():
        if isinstance(row, Mapping):
            label = str(row.get("run") or "")
            neighbourhood.append(
                {
                    "param": str(row.get("param") or ""),
                    "value": show(row.get("value")),
                    "run_id": runs.get(label),
                    "cells": [_stat(k, row.get(k)) for k in HEADLINE_LABELS],
                }
            )
    return {
        "present": bool(ev),
        "runs": run_links,
        "has_approved": approved is not None,
        "headline": headline,
        "split": {
            "columns": [name for name, _ in split_columns],
            "rows": _stat_rows(split_columns) if split_columns else [],
            "oos_fraction": split.get("oos_fraction"),
            "split_time": split.get("split_time"),
        },
        "dsr": {
            "value": dsr.get("dsr"),
            "trials": dsr.get("n_trials"),
            "trials_from": dsr.get("trials_from"),
            "sharpe": dsr.get("sharpe"),
            "benchmark": dsr.get("benchmark"),
        },
        "pbo": {
            "value": pbo.get("pbo"),
            "skipped": pbo.get("skipped"),
            "combinations": pbo.get("combinations"),
            "of": pbo.get("of"),
        },
        "lookahead": {
            "passed": look.get("passed"),
            "detail": look.get("detail"),
            "bars": len(look.get("bars_checked") or ()),
        },
        "walk_forward": {
            "id": ev.get("walk_forward_id"),
            "summary": _dict(wf.get("summary")),
            "folds": len(wf.get("folds") or ()),
        },
        "neighbourhood": neighbourhood,
        "headline_labels": list(HEADLINE_LABELS.values()),
        "data": _dict(ev.get("data")),
        "notes": [str(n) for n in ev.get("notes") or ()],
        "policy": _dict(ev.get("policy")),
    }


def _epoch_s(index: pd.Index) -> np.ndarray:
    idx = pd.DatetimeIndex(index)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return np.asarray(idx.asi8 // 10**9, dtype=np.int64)


def chart_payload(load: Any, runs: Mapping[str, str]) -> dict[str, Any]:
    """Approved and proposed equity on one time axis, each downsampled keeping highs and lows.

    ``load(run_id)`` returns a stored run (raising for a missing one); a run that
    cannot be loaded is named in ``missing``.
    """
    curves: dict[str, pd.Series] = {}
    missing: list[str] = []
    for label in ("approved", "proposed"):
        run_id = runs.get(label)
        if not run_id:
            continue
        try:
            run = load(run_id)
            curves[label] = run.equity["equity"].astype(np.float64)
        except Exception:  # a deleted or unreadable run is shown as missing, not an error
            missing.append(f"{label} ({run_id})")
    if not curves:
        return {"t": [], "series": [], "missing": missing, "bars": 0, "points": 0}
    frame = pd.concat(curves, axis=1, join="outer").sort_index()
    keep: set[int] = set()
    for label in frame.columns:
        values = frame[label].to_numpy(dtype=np.float64)
        keep.update(int(i) for i in minmax_indices(values, CHART_BUCKETS))
    rows = np.array(sorted(keep), dtype=np.int64)
    t = _epoch_s(frame.index)[rows]
    series = []
    for label in frame.columns:
        values = frame[label].to_numpy(dtype=np.float64)[rows]
        series.append(
            {
                "label": label,
                "values": [None if not math.isfinite(v) else round(float(v), 6) for v in values],
            }
        )
    return {
        "t": [int(x) for x in t],
        "series": series,
        "missing": missing,
        "bars": len(frame),
        "points": len(rows),
    }
