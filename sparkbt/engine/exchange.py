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

__all__ = ["RULE_OPTIONS", "resolve_exchange_rules"]

RULE_OPTIONS = ("tick_size", "lot_size", "min_notional")
"""The options an exchange's rules fill in."""


def resolve_exchange_rules(
    config: Config, symbol: str, data_dir: str | Path | None = None
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
