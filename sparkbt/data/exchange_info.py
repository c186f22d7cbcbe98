"""Exchange rules stored with the candles: a dated snapshot of a pair's exchange info.

``sparkbt data fetch btcturk`` stores, next to a pair's candle folder, the
pair's entry of BTCTurk's ``GET /api/v2/server/exchangeinfo`` as
``<store>/<SYMBOL>.exchange.json`` (``{"exchange", "symbol", "fetched", "info"}``,
``fetched`` the UTC time of the fetch; a later fetch replaces it). A run with
``exchange_rules="btcturk"`` takes its tick, lot and minimum value from it
(:func:`exchange_rules`):

* lot = ``10 ** -numeratorScale`` (the quantity decimals of the base asset);
* tick = the ``PRICE_FILTER``'s ``tickSize`` (else ``10 ** -denominatorScale``);
* minimum value = the ``PRICE_FILTER``'s ``minExchangeValue`` (quote currency; none if absent).

The packaged samples are synthetic candles of no exchange, so they have no
rules: asking for a sample's rules is refused, naming the sample.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

from sparkbt.data.store import CandleStore, normalise_symbol, samples
from sparkbt.errors import CandleError

__all__ = [
    "EXCHANGES",
    "ExchangeRules",
    "exchange_info_path",
    "exchange_rules",
    "read_exchange_info",
    "rules_of_btcturk",
    "write_exchange_info",
]

EXCHANGES = ("btcturk",)
"""Exchanges whose info the store keeps."""


class ExchangeRules(NamedTuple):
    """A pair's trading steps as an exchange publishes them (None: the exchange sets none)."""

    tick_size: float | None
    lot_size: float | None
    min_notional: float | None
    date: str  # UTC time the snapshot was fetched, ISO 8601
    source: str  # the snapshot file


def exchange_info_path(symbol: str, data_dir: str | Path | None = None) -> Path:
    """Where the store keeps a pair's exchange info: ``<store>/<SYMBOL>.exchange.json``."""
    return CandleStore(data_dir).root / f"{normalise_symbol(symbol)}.exchange.json"


def write_exchange_info(
    symbol: str, exchange: str, info: dict[str, Any], fetched: str, data_dir: str | Path | None
) -> Path:
    """Store (atomically, replacing any older one) a pair's exchange info fetched at ``fetched``."""
    path = exchange_info_path(symbol, data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"exchange": exchange, "symbol": normalise_symbol(symbol), "fetched": fetched}
    text = json.dumps({**body, "info": info}, indent=1, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read_exchange_info(symbol: str, data_dir: str | Path | None = None) -> dict[str, Any]:
    """The stored snapshot of a pair (``exchange``, ``symbol``, ``fetched``, ``info``)."""
    sym = normalise_symbol(symbol)
    path = exchange_info_path(sym, data_dir)
    if not path.is_file():
        if any(s == sym for s, _, _ in samples()):
            raise CandleError(
                f"exchange rules: {sym} is a packaged synthetic sample of no exchange, so it "
                "has no exchange rules; fetch real candles or give tick_size, lot_size and "
                "min_notional"
            )
        raise CandleError(
            f"{path}: no exchange rules stored for {sym}; fetch them with its candles "
            f"(`sparkbt data fetch btcturk --symbol {sym} --since DATE`)"
        )
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CandleError(f"{path}: unreadable exchange info ({exc})") from exc
    if not isinstance(body, dict) or not isinstance(body.get("info"), dict):
        raise CandleError(f"{path}: not an exchange info snapshot")
    return body


def _positive(value: Any) -> float | None:
    """A positive finite number from an exchange field (strings included), else None."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) and out > 0 else None


def _scale_step(scale: Any) -> float | None:
    """``10 ** -scale`` as the nearest float (``1e-8``, not ``10.0 ** -8``'s rounding)."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale != int(scale):
        return None
    return float(f"1e{-int(scale)}")


def rules_of_btcturk(info: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    """``(tick, lot, minimum value)`` of one pair's BTCTurk exchangeinfo entry."""
    price = next(
        (
            f
            for f in info.get("filters") or []
            if isinstance(f, dict) and f.get("filterType") == "PRICE_FILTER"
        ),
        {},
    )
    tick = _positive(price.get("tickSize")) or _scale_step(info.get("denominatorScale"))
    lot = _scale_step(info.get("numeratorScale"))
    return tick, lot, _positive(price.get("minExchangeValue"))


def exchange_rules(symbol: str, exchange: str, data_dir: str | Path | None) -> ExchangeRules:
    """The tick, lot and minimum value of ``symbol`` from the store's ``exchange`` snapshot."""
    if exchange not in EXCHANGES:
        raise CandleError(f"exchange rules: expected {', '.join(EXCHANGES)} (got {exchange!r})")
    body = read_exchange_info(symbol, data_dir)
    path = exchange_info_path(symbol, data_dir)
    if body.get("exchange") != exchange:
        raise CandleError(f"{path}: holds {body.get('exchange')!r} rules, not {exchange!r}")
    tick, lot, minimum = rules_of_btcturk(body["info"])
    return ExchangeRules(tick, lot, minimum, str(body.get("fetched", "")), str(path))
