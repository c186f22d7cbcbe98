"""A run's exchange rules: explicit options, else the store's snapshot of the pair.

With ``exchange_rules="btcturk"`` a run takes ``tick_size``, ``lot_size`` and
``min_notional`` from the pair's exchange info stored with its candles
(:mod:`sparkbt.data.exchange_info`); an option given explicitly wins. The
resolved config carries the values used (so they are part of the run's
config and id), and the snapshot's date and file are returned for the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sparkbt.data.exchange_info import exchange_rules
from sparkbt.data.store import normalise_symbol
from sparkbt.engine.options import Config
from sparkbt.errors import ConfigError

__all__ = ["RULE_OPTIONS", "resolve_exchange_rules", "resolve_portfolio_rules", "rules_summary"]

RULE_OPTIONS = ("tick_size", "lot_size", "min_notional")
"""The options an exchange's rules fill in."""


def resolve_exchange_rules(
    config: Config, symbol: str | None, data_dir: str | Path | None = None
) -> tuple[Config, dict[str, Any] | None]:
    """``config`` with the unset rule options taken from the stored snapshot of ``symbol``.

    Returns the config and what to record in the report: ``exchange``,
    ``symbol``, the snapshot's ``date`` and ``source`` file, the snapshot's
    ``tick_size``/``lot_size``/``min_notional``, and ``taken`` (the options it
    filled in; explicit ones win). Without ``exchange_rules`` the config is
    returned as is, with None. A missing snapshot raises CandleError.
    """
    exchange = config.exchange_rules
    if exchange is None:
        return config, None
    if not symbol:
        raise ConfigError(
            "exchange_rules: the candles name no symbol; give symbol= (e.g. BTCTRY) or "
            "tick_size, lot_size and min_notional"
        )
    rules = exchange_rules(symbol, exchange, data_dir)
    snapshot = {name: getattr(rules, name) for name in RULE_OPTIONS}
    taken = {
        name: value
        for name, value in snapshot.items()
        if getattr(config, name) is None and value is not None
    }
    info = {
        "exchange": exchange,
        "symbol": normalise_symbol(symbol),
        "date": rules.date,
        "source": rules.source,
        **snapshot,
        "taken": sorted(taken),
    }
    return (config.replace(**taken) if taken else config), info


def resolve_portfolio_rules(
    config: Config, symbols: list[str], data_dir: str | Path | None = None
) -> tuple[Config, dict[str, Any] | None]:
    """:func:`resolve_exchange_rules` for a portfolio: one tick, lot and minimum for all symbols.

    The portfolio kernels take one of each per run, so symbols whose resolved
    values differ are refused (ConfigError naming them). The info is the first
    symbol's, with ``snapshots`` giving each symbol's ``date`` and ``source``
    and ``date`` the oldest snapshot's.
    """
    if config.exchange_rules is None:
        return config, None
    resolved = {s: resolve_exchange_rules(config, s, data_dir) for s in symbols}
    values = {s: tuple(getattr(c, n) for n in RULE_OPTIONS) for s, (c, _) in resolved.items()}
    first = symbols[0]
    differ = [s for s in symbols if values[s] != values[first]]
    if differ:
        shown = ", ".join(
            f"{s} ({_values_text(dict(zip(RULE_OPTIONS, values[s], strict=True)))})"
            for s in (first, *differ)
        )
        raise ConfigError(
            f"exchange_rules: a portfolio takes one tick, lot and minimum value, but its "
            f"symbols' differ: {shown}; give tick_size, lot_size and min_notional"
        )
    out, info = resolved[first]
    assert info is not None
    snapshots = {
        s: {"date": i["date"], "source": i["source"]} for s, (_, i) in resolved.items() if i
    }
    info = {k: v for k, v in info.items() if k != "symbol"}
    info["date"] = min(v["date"] for v in snapshots.values())
    return out, info | {"snapshots": snapshots}


def _values_text(values: dict[str, Any]) -> str:
    names = {"tick_size": "tick", "lot_size": "lot", "min_notional": "min value"}
    return ", ".join(f"{names[k]} {'none' if v is None else f'{v:g}'}" for k, v in values.items())


def rules_summary(info: dict[str, Any]) -> str:
    """One line naming a run's exchange rules: the exchange, the snapshot's date and values."""
    values = {k: info.get(k) for k in RULE_OPTIONS}
    return (
        f"exchange rules: {info.get('exchange')} snapshot of {info.get('date')} "
        f"({_values_text(values)})"
    )
