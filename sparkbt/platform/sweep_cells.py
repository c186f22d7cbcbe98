"""Opening one combination of a stored sweep: find its row, predict its run id, run it.

Running a combination is a job like any start: the web UI's sweep pages queue
:func:`cell_request` (checked in the API process: the sweep, the row, the
engine and the strategy's code, nothing heavy) and a worker runs it with
:func:`run_cell`, a single backtest on the sweep's own candles and options,
stored as evidence. It is refused (a :class:`~sparkbt.errors.Refusal`) when the
sweep, the strategy's code or the candles are no longer what the sweep ran on.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.engine.options import ENGINE_OPTIONS, contract_version
from sparkbt.engine.stats import json_safe
from sparkbt.errors import Refusal, SparkbtError
from sparkbt.evidence import content_id, data_fingerprint
from sparkbt.research.sweep import identity_version
from sparkbt.research.sweep_evidence import SweepEvidence, read_sweep

__all__ = [
    "cell_request",
    "find_row",
    "load_sweep",
    "predicted_run_id",
    "run_cell",
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
    config = dict(ident.get("config") or {}) | opts
    orders = ident.get("run_kind") == "orders"
    payload: dict[str, Any] = {"engine_version": contract_version(config, v3=orders)}
    if orders:
        payload["kind"] = "orders"
    payload |= {
        "data_sha256": ident.get("data_sha256"),
        "symbol": ident.get("symbol"),
        "timeframe": ident.get("timeframe"),
        "strategy": strat.name,
        "strategy_sha256": strat.source_sha256,
        "params": checked,
        "config": config,
    }
    try:
        return content_id(payload)
    except (TypeError, ValueError):
        return None


def _strategy_of(ident: dict[str, Any]) -> Any:
    """The sweep's strategy, refused (conflict) when the engine or its code changed since."""
    from sparkbt.engine.registry import get_strategy

    if ident.get("engine_version") != identity_version(ident):
        raise Refusal(
            f"the sweep ran on engine v{ident.get('engine_version')}, not this one", "conflict"
        )
    if not ident.get("symbol") or not ident.get("timeframe"):
        raise Refusal(
            "the sweep does not name its symbol and timeframe: its candles are unknown", "conflict"
        )
    try:
        strat = get_strategy(str(ident.get("strategy")))
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0][:300], "conflict") from None
    if strat.source_sha256 != ident.get("strategy_sha256"):
        raise Refusal(f"the source of strategy {strat.name} changed since the sweep", "conflict")
    return strat


def run_of_row(sweep: SweepEvidence, row: pd.Series, data_dir: str | None) -> Any:
    """The single backtest of ``row`` on the sweep's candles with the sweep's options."""
    from sparkbt.data.store import resolve_candles
    from sparkbt.engine.simulate import backtest

    ident = sweep.meta.get("identity") or {}
    strat = _strategy_of(ident)
    symbol, timeframe = ident["symbol"], ident["timeframe"]
    try:
        candles = resolve_candles(symbol, timeframe, data_dir or None)
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0][:300], "conflict") from None
    if data_fingerprint(candles) != ident.get("data_sha256"):
        raise Refusal(
            f"the stored {symbol} {timeframe} candles changed since the sweep", "conflict"
        )
    strat_params, opts = _split(row, [p for p in sweep.meta.get("params") or [] if p in row])
    config = dict(ident.get("config") or {}) | opts
    kwargs = {k: config[k] for k in ENGINE_OPTIONS if k in config}
    try:
        return backtest(candles, strat, **kwargs, **strat_params, data_dir=data_dir)
    except SparkbtError as exc:
        raise Refusal(str(exc).splitlines()[0][:300], "invalid") from None


def cell_request(evidence_dir: Path, sweep_id: str, values: dict[str, str]) -> dict[str, Any]:
    """The job that runs the combination ``values`` (texts) of stored sweep ``sweep_id``.

    A Refusal when there is no such sweep or combination, or the engine or the
    strategy's code changed since the sweep (the candles are the worker's to check).
    """
    sweep = load_sweep(evidence_dir, sweep_id)
    row = find_row(sweep, values)
    ident = sweep.meta.get("identity") or {}
    strat = _strategy_of(ident)
    params = [p for p in sweep.meta.get("params") or [] if p in row]
    strat_params, opts = _split(row, params)
    return {
        "pair": ident["symbol"],
        "timeframe": ident["timeframe"],
        "strategy": strat.name,
        "params": strat_params,
        "options": dict(ident.get("config") or {}) | opts,
        "notes": f"combination of sweep {sweep.id}",
        "sweep_cell": {"sweep_id": sweep.id, "values": {p: values[p] for p in params}},
    }


def run_cell(cell: dict[str, Any], evidence_dir: Path, data_dir: Path | None) -> dict[str, Any]:
    """Run and store the combination a :func:`cell_request` names (in a worker).

    Returns ``{"run_id", "evidence", "stats"}``, as a backtest job does.
    """
    sweep = load_sweep(Path(evidence_dir), cell["sweep_id"])
    row = find_row(sweep, cell["values"])
    result = run_of_row(sweep, row, str(data_dir) if data_dir else None)
    path = Path(result.save(evidence_dir))
    return {"run_id": result.run_id, "evidence": str(path.resolve()), "stats": result.stats}
