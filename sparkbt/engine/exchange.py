"""A run's exchange rules: explicit options, else the store's snapshot of the pair.

With ``exchange_rules="btcturk"`` a run takes ``tick_size``, ``lot_size`` and
``min_notional`` from the pair's exchange info stored with its candles
(:mod:`sparkbt.data.exchange_info`); an option given explicitly wins. The
resolved config carries the values used (so they are part of the run's
config and id), and the snapshot's date and file are returned for the report.
In a portfolio each symbol trades under its own values: a rule whose values
differ between the symbols is recorded as a mapping of symbol to value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sparkbt.data.exchange_info import exchange_rules
from sparkbt.data.store import normalise_symbol
from sparkbt.engine.options import Config
from sparkbt.errors import ConfigError

__all__ = [
    "RULE_OPTIONS",
    "resolve_exchange_rules",
    "resolve_portfolio_rules",
    "rules_summary",
    "symbol_rules",
]

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
    returned as is, with None. A missing snapshot raises CandleError. A rule
    given per symbol becomes this symbol's value.
    """
    config = _for_symbol(config, symbol)
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


def _for_symbol(config: Config, symbol: str | None) -> Config:
    """``config`` with each rule given per symbol replaced by ``symbol``'s value."""
    given = {n: getattr(config, n) for n in RULE_OPTIONS if isinstance(getattr(config, n), dict)}
    if not given:
        return config
    return config.replace(**{n: _symbol_value(n, v, symbol) for n, v in given.items()})


def _symbol_value(name: str, values: dict[str, float | None], symbol: str | None) -> Any:
    """``symbol``'s value of a rule given per symbol (ConfigError when it names none)."""
    if symbol is not None and symbol in values:
        return values[symbol]
    known = {s.strip().upper(): v for s, v in values.items()}
    if symbol is not None and symbol.strip().upper() in known:
        return known[symbol.strip().upper()]
    raise ConfigError(
        f"{name}: given per symbol, but not for {symbol or 'these candles'} "
        f"(given for {', '.join(values)})"
    )


def symbol_rules(config: Config, symbols: list[str]) -> np.ndarray:
    """Each symbol's tick, lot and minimum value: rows ``RULE_OPTIONS``, one column per
    symbol, NaN where off (the portfolio kernels' per-symbol rules)."""
    out = np.full((len(RULE_OPTIONS), len(symbols)), np.nan)
    for i, name in enumerate(RULE_OPTIONS):
        value = getattr(config, name)
        for j, s in enumerate(symbols):
            v = _symbol_value(name, value, s) if isinstance(value, dict) else value
            out[i, j] = np.nan if v is None else float(v)
    return out


def resolve_portfolio_rules(
    config: Config, symbols: list[str], data_dir: str | Path | None = None
) -> tuple[Config, dict[str, Any] | None]:
    """:func:`resolve_exchange_rules` for a portfolio: each symbol its own tick, lot, minimum.

    A rule whose resolved value is the same for every symbol stays one value; one
    that differs becomes a mapping of symbol to value (so the config, and the
    run's id, name every symbol's value). The info is the first symbol's, with
    ``snapshots`` giving each symbol's ``date`` and ``source`` and ``date`` the
    oldest snapshot's; when the symbols' values differ, each snapshot carries its
    own values and ``taken`` and the info none of the first symbol's.
    """
    if config.exchange_rules is None:
        return config, None
    resolved = {s: resolve_exchange_rules(config, s, data_dir) for s in symbols}
    per: dict[str, dict[str, Any]] = {
        n: {s: getattr(c, n) for s, (c, _) in resolved.items()} for n in RULE_OPTIONS
    }
    first = symbols[0]
    out, info = resolved[first]
    assert info is not None
    differ = any(len(set(v.values())) > 1 for v in per.values())
    if differ:
        out = config.replace(
            **{n: (v if len(set(v.values())) > 1 else v[first]) for n, v in per.items()}
        )
    snapshots = {s: _snapshot(i, differ) for s, (_, i) in resolved.items() if i}
    drop = {"symbol", "source", *RULE_OPTIONS} if differ else {"symbol"}
    info = {k: v for k, v in info.items() if k not in drop}
    info["date"] = min(v["date"] for v in snapshots.values())
    if differ:
        info["taken"] = sorted({n for v in snapshots.values() for n in v["taken"]})
    return out, info | {"snapshots": snapshots}


def _snapshot(info: dict[str, Any], values: bool) -> dict[str, Any]:
    """A symbol's entry of a portfolio's ``snapshots``: date and source (and its values)."""
    keys = ("date", "source", *RULE_OPTIONS, "taken") if values else ("date", "source")
    return {k: info[k] for k in keys}


def _values_text(values: dict[str, Any]) -> str:
    names = {"tick_size": "tick", "lot_size": "lot", "min_notional": "min value"}
    return ", ".join(f"{names[k]} {'none' if v is None else f'{v:g}'}" for k, v in values.items())


def rules_summary(info: dict[str, Any]) -> str:
    """One line naming a run's exchange rules: the exchange, the snapshot's date and values
    (of each symbol, when a portfolio's symbols trade under different values)."""
    snapshots = info.get("snapshots") or {}
    if snapshots and all("lot_size" in v for v in snapshots.values()):
        each = "; ".join(
            f"{s} of {v.get('date')} ({_values_text({k: v.get(k) for k in RULE_OPTIONS})})"
            for s, v in snapshots.items()
        )
        return f"exchange rules: {info.get('exchange')} snapshots: {each}"
    values = {k: info.get(k) for k in RULE_OPTIONS}
    return (
        f"exchange rules: {info.get('exchange')} snapshot of {info.get('date')} "
        f"({_values_text(values)})"
    )
