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

from sparkbt.data.store import CandleStore, normalise_symbol, sample_path, samples
from sparkbt.data.timeframes import format_timeframe, parse_timeframe
from sparkbt.errors import CandleError, EvidenceNotFound, StrategyError, did_you_mean

__all__ = [
    "check_options",
    "check_portfolio_request",
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


def _timeframes_of(symbol: str, store: CandleStore) -> list[str]:
    """The timeframes the store and the samples hold ``symbol`` at."""
    found = {t for s, t in store.list() if s == symbol}
    found |= {t for s, t, _ in samples() if s == symbol}
    return sorted(found, key=lambda t: parse_timeframe(t).value)


def _grouped(by_value: Mapping[str, str]) -> str:
    """``"USDT (BTCUSDT, ETHUSDT) and TRY (BTCTRY)"``, values in order of first appearance."""
    groups: dict[str, list[str]] = {}
    for sym, value in by_value.items():
        groups.setdefault(value, []).append(sym)
    return " and ".join(f"{v} ({', '.join(syms)})" for v, syms in groups.items())


def check_pairs(pairs: list[str], timeframe: str, data_dir: Path | None) -> list[str]:
    """The canonical symbols of a portfolio request, each with candles at ``timeframe``.

    Cheap checks only (file existence, names): each symbol once, one known quote
    currency, every symbol at the one timeframe, stored and synthetic candles not mixed.
    """
    from sparkbt.data.panel import check_unique, quote_currency

    syms = [normalise_symbol(p) for p in pairs]
    try:
        check_unique(syms)
    except CandleError as exc:
        raise CandleError(str(exc).replace("candles:", "pairs:", 1)) from None
    quotes = {s: q for s in syms if (q := quote_currency(s)) is not None}
    if len(set(quotes.values())) > 1:
        raise CandleError(
            f"pairs: a portfolio needs one quote currency, got {_grouped(quotes)}; "
            "prices in different currencies cannot share one cash"
        )
    store = CandleStore(data_dir)
    kinds: dict[str, str] = {}
    for sym in syms:
        if store.exists(sym, timeframe):
            kinds[sym] = "store"
        elif _sample(sym, timeframe) is not None:
            kinds[sym] = "sample"
        elif others := _timeframes_of(sym, store):
            raise CandleError(
                f"pairs: {sym} has no {timeframe} candles (only {', '.join(others)}); "
                f"a portfolio needs every pair at one timeframe"
            )
        else:
            known = sorted({s for s, _ in store.list()} | {s for s, _, _ in samples()})
            raise CandleError(
                f"pairs: unknown symbol {sym}: no candles for it in the data store; "
                f"fetch them first (`sparkbt data fetch`){did_you_mean(sym, known)}"
            )
    sampled = [s for s, k in kinds.items() if k == "sample"]
    if sampled and len(sampled) < len(syms):
        stored = [s for s, k in kinds.items() if k == "store"]
        raise CandleError(
            f"pairs: {', '.join(stored)} {timeframe} come from the data store but "
            f"{', '.join(sampled)} only from the packaged synthetic samples; real and "
            "synthetic prices do not mix"
        )
    return syms


def check_portfolio_request(
    pairs: list[str],
    timeframe: str,
    strategy: str,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    data_dir: Path | None,
) -> tuple[list[str], str, str, dict[str, Any], dict[str, Any]]:
    """Validate a portfolio start request without running it (an InputError naming the fault).

    Returns the canonical (pairs, timeframe, strategy name, params, engine options).
    """
    from sparkbt.engine.exchange import symbol_rules
    from sparkbt.engine.options import Config
    from sparkbt.engine.portfolio import check_portfolio_config
    from sparkbt.engine.registry import get_strategy

    strat = get_strategy(check_strategy_name(strategy))
    clean = strat.validate(params)
    tf = format_timeframe(parse_timeframe(timeframe))
    syms = check_pairs(pairs, tf, data_dir)
    checked = check_options(options)
    config = Config(**checked)
    check_portfolio_config(config)
    symbol_rules(config, syms)  # a rule given per symbol names every pair
    return syms, tf, strat.name, clean, checked


def run_engine(
    request: Mapping[str, Any], evidence_dir: Path, data_dir: Path | None
) -> dict[str, Any]:
    """Run one backtest like ``sparkbt run`` (a portfolio when the request has ``pairs``)
    and save its evidence.

    Returns ``{"run_id", "evidence", "stats"}`` (all JSON-safe).
    """
    from sparkbt.data.panel_load import load_panel
    from sparkbt.data.store import resolve_candles
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest

    if request.get("pairs"):  # a portfolio: the symbols share one cash
        candles: Any = load_panel(
            list(request["pairs"]), timeframe=request["timeframe"], data_dir=data_dir
        )
    else:
        candles = resolve_candles(request["pair"], request["timeframe"], data_dir)
    options = request.get("options") or {
        k: request[k] for k in ("fees", "slippage", "direction") if k in request
    }
    strategy = get_strategy(check_strategy_name(request["strategy"]))
    result = backtest(candles, strategy, **options, **request["params"], data_dir=data_dir)
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
