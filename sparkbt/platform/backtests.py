"""The one place the service touches the sparkbt engine.

The request path calls :func:`check_request` (cheap: the strategy registry and
file-existence checks, never candle loading); worker processes call
:func:`run_engine`, which does exactly what ``sparkbt run`` does, so the same
inputs give the same run id and the same evidence folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from sparkbt.data.store import CandleStore, normalise_symbol, sample_path
from sparkbt.data.timeframes import format_timeframe, parse_timeframe
from sparkbt.errors import CandleError, EvidenceNotFound, StrategyError, did_you_mean

__all__ = [
    "check_options",
    "check_request",
    "check_strategy_name",
    "read_report",
    "run_engine",
]

_PATH_MARKS = ("/", "\\", ":", ".py")
"""What a file reference has and a registry name never does (``file.py:function``)."""


@lru_cache(maxsize=256)
def _sample(symbol: str, timeframe: str) -> Path | None:
    """Packaged sample files never change while the service runs."""
    return sample_path(symbol, timeframe)


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Engine options of a request, checked by the engine's own ``Config`` (did-you-mean hints)."""

    from sparkbt.engine.options import ENGINE_OPTIONS, Config
    from sparkbt.errors import ConfigError

    for key in options:
        if key not in ENGINE_OPTIONS:
            hint = did_you_mean(key, ENGINE_OPTIONS)
            raise ConfigError(
                f"options: unknown engine option '{key}' (options: {', '.join(ENGINE_OPTIONS)})"
                f"{hint}"
            )
    return Config(**options).to_dict()


def check_strategy_name(strategy: str) -> str:
    """``strategy`` if it can only be a registry name, else a StrategyError.

    ``sparkbt run`` also takes ``path/to/file.py:function``, which imports that
    file; a service client must never make the service import a file of its
    choosing, so any reference that looks like a path is refused before the
    registry sees it.
    """
    if any(mark in strategy for mark in _PATH_MARKS):
        raise StrategyError(
            f"strategy: expected the name of a registered strategy, not a file path "
            f"(got {strategy[:80]!r})"
        )
    return strategy


def check_request(
    pair: str,
    timeframe: str,
    strategy: str,
    params: Mapping[str, Any],
    data_dir: Path | None,
) -> tuple[str, str, str, dict[str, Any]]:
    """Validate a start request without running it; raise an InputError naming the fault.

    Returns the canonical (pair, timeframe, strategy name, validated params).
    """
    from sparkbt.engine.registry import get_strategy

    # The registry caches by file mtimes: an edited strategy file is seen at once.
    strat = get_strategy(check_strategy_name(strategy))
    clean = strat.validate(params)
    sym = normalise_symbol(pair)
    tf = format_timeframe(parse_timeframe(timeframe))
    if not CandleStore(data_dir).exists(sym, tf) and _sample(sym, tf) is None:
        raise CandleError(
            f"pair/timeframe: no candles for {sym} {tf} in the data store; "
            "fetch them first (`sparkbt data fetch`)"
        )
    return sym, tf, strat.name, clean


def run_engine(
    request: Mapping[str, Any], evidence_dir: Path, data_dir: Path | None
) -> dict[str, Any]:
    """Run one backtest like ``sparkbt run`` and save its evidence.

    Returns ``{"run_id", "evidence", "stats"}`` (all JSON-safe).
    """
    from sparkbt.data.store import resolve_candles
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest

    candles = resolve_candles(request["pair"], request["timeframe"], data_dir)
    options = request.get("options") or {
        k: request[k] for k in ("fees", "slippage", "direction") if k in request
    }
    strategy = get_strategy(check_strategy_name(request["strategy"]))
    result = backtest(candles, strategy, **options, **request["params"])
    path = Path(result.save(evidence_dir))  # concurrent saves of one id are safe
    return {"run_id": result.run_id, "evidence": str(path.resolve()), "stats": result.stats}


def read_report(evidence: str | Path) -> dict[str, Any]:
    """The report.json of a run saved in the evidence folder ``evidence``."""
    path = Path(evidence) / "report.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise EvidenceNotFound(
            f"{path}: the run's report is gone from the evidence folder"
        ) from None


def warm_up() -> None:
    """Import the engine ahead of the first job so it does not pay the import time."""
    from sparkbt.engine.registry import list_strategies

    list_strategies()  # discovers and imports the strategy modules
