"""Opening one combination of a stored sweep: find its row, predict its run id, run it.

The web UI's sweep pages call :func:`open_cell` to run a combination as a
single backtest on the sweep's own candles and options and store it; the run is
refused (a :class:`~sparkbt.errors.Refusal`) when the sweep, the strategy's code
or the candles are no longer what the sweep ran on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.engine.options import ENGINE_OPTIONS
from sparkbt.engine.stats import json_safe
from sparkbt.errors import Refusal, SparkbtError
from sparkbt.evidence import content_id, data_fingerprint
from sparkbt.research.sweep_evidence import SweepEvidence, read_sweep
from sparkbt.version import ENGINE_VERSION

__all__ = [
    "find_row",
    "load_sweep",
    "open_cell",
    "predicted_run_id",
    "run_of_row",
    "select",
    "text_of",
]


def text_of(value: Any) -> str:
    """A parameter value as text, the same in the page's forms and when matching them."""
    value = json_safe(value.item() if hasattr(value, "item") else value)
    return "" if value is None else str(value)


@functools.lru_cache(maxsize=16)
def _read(path: str, mtime_ns: int) -> SweepEvidence:
    return read_sweep(Path(path))


def load_sweep(root: Path, sweep_id: str) -> SweepEvidence:
    """The stored sweep ``sweep_id`` (an id or unique prefix), a Refusal (not_found) otherwise."""
    if not sweep_id or len(sweep_id) > 64 or not sweep_id.isalnum():
        raise Refusal(f"no sweep with id {sweep_id[:64]!r}", "not_found")
    folder = root / "sweep"
    hits = [folder / sweep_id] if (folder / sweep_id).is_dir() else []
    if not hits and folder.is_dir():
        hits = [d for d in sorted(folder.glob(f"{sweep_id}*")) if d.is_dir()]
    if len(hits) != 1:
        more = " (the prefix is ambiguous)" if hits else ""
        raise Refusal(f"no sweep with id {sweep_id!r}{more}", "not_found")
    try:
        return _read(str(hits[0]), (hits[0] / "sweep.json").stat().st_mtime_ns)
    except (OSError, ValueError, KeyError, SparkbtError) as exc:
        raise Refusal(
            f"sweep {sweep_id}: unreadable ({str(exc).splitlines()[0]})", "not_found"
        ) from None


def select(res: pd.DataFrame, fixed: dict[str, str]) -> pd.DataFrame:
    for p, want in fixed.items():
        res = res[res[p].map(text_of) == want]
    return res


def find_row(sweep: SweepEvidence, values: dict[str, str]) -> pd.Series:
    """The results row whose parameters equal ``values`` (texts), a Refusal (invalid) otherwise."""
    params = [p for p in sweep.meta.get("params") or [] if p in sweep.results]
    missing = [p for p in params if p not in values]
    if missing:
        raise Refusal(
            f"{missing[0]}: missing (the sweep's parameters: {', '.join(params)})", "invalid"
        )
    sub = select(sweep.results, {p: values[p] for p in params})
    if sub.empty:
        shown = ", ".join(f"{p}={values[p]}" for p in params)
        raise Refusal(f"no combination {shown} in sweep {sweep.id}", "invalid")
    return sub.iloc[0]


def _split(row: pd.Series, params: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A row's strategy parameters and engine options, as Python values."""
    strat: dict[str, Any] = {}
    opts: dict[str, Any] = {}
    for p in params:
        v = row[p]
        v = v.item() if hasattr(v, "item") else v
        (opts if p in ENGINE_OPTIONS else strat)[p] = v
    return strat, opts


def predicted_run_id(ident: dict[str, Any], row: pd.Series, params: list[str]) -> str | None:
    """The run id the single backtest of ``row`` will have (None if the strategy changed)."""
    from sparkbt.engine.registry import get_strategy

    strat_params, opts = _split(row, params)
    try:
        strat = get_strategy(str(ident.get("strategy")))
        if strat.source_sha256 != ident.get("strategy_sha256"):
            return None
        checked = strat.validate(strat_params)
    except SparkbtError:
        return None
    payload = {
        "engine_version": ENGINE_VERSION,
        "data_sha256": ident.get("data_sha256"),
        "symbol": ident.get("symbol"),
        "timeframe": ident.get("timeframe"),
        "strategy": strat.name,
        "strategy_sha256": strat.source_sha256,
        "params": checked,
        "config": dict(ident.get("config") or {}) | opts,
    }
    try:
        return content_id(payload)
    except (TypeError, ValueError):
        return None


def run_of_row(sweep: SweepEvidence, row: pd.Series, data_dir: str | None) -> Any:
    """The single backtest of ``row`` on the sweep's candles with the sweep's options."""
    from sparkbt.data.store import resolve_candles
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest

    ident = sweep.meta.get("identity") or {}
    if ident.get("engine_version") != ENGINE_VERSION:
        raise Refusal(
            f"the sweep ran on engine v{ident.get('engine_version')}, not this one", "conflict"
        )
    symbol, timeframe = ident.get("symbol"), ident.get("timeframe")
    if not symbol or not timeframe:
        raise Refusal(
            "the sweep does not name its symbol and timeframe: its candles are unknown", "conflict"
        )
    try:
        strat = get_strategy(str(ident.get("strategy")))
        candles = resolve_candles(symbol, timeframe, data_dir or None)
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0][:300], "conflict") from None
    if strat.source_sha256 != ident.get("strategy_sha256"):
        raise Refusal(f"the source of strategy {strat.name} changed since the sweep", "conflict")
    if data_fingerprint(candles) != ident.get("data_sha256"):
        raise Refusal(
            f"the stored {symbol} {timeframe} candles changed since the sweep", "conflict"
        )
    strat_params, opts = _split(row, [p for p in sweep.meta.get("params") or [] if p in row])
    config = dict(ident.get("config") or {}) | opts
    kwargs = {k: config[k] for k in ENGINE_OPTIONS if k in config}
    try:
        return backtest(candles, strat, **kwargs, **strat_params)
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0][:300], "invalid") from None


def open_cell(
    evidence_dir: Path, sweep_id: str, values: dict[str, str], data_dir: str | None
) -> str:
    """Run the combination ``values`` of stored sweep ``sweep_id``, store it, return its id."""
    sweep = load_sweep(evidence_dir, sweep_id)
    result = run_of_row(sweep, find_row(sweep, values), data_dir)
    result.save(evidence_dir)
    return str(result.run_id)
