"""Param-set versions: what a param change approves, as immutable content with a content id.

A param set is a named configuration that trades (``eth-sma-4h``): a strategy
on a pair (or a portfolio of several symbols) and timeframe with its parameters
and engine options. Several symbols are stored as one text, their canonical
comma-joined form (``BTCUSDT,ETHUSDT,SOLUSDT``: normalised, in the order given,
each once); a version of one symbol is stored exactly as before. A *version* of
it records the **effective** values — parameters validated with their defaults
filled in by the strategy's schema, engine options as :class:`sparkbt.engine.options.Config`
resolves them — and the sha256 of the strategy's source. Its id is the
:func:`sparkbt.evidence.content_id` of that canonical content: the same content
always has the same id, and any difference (a default written out or left
implicit is *not* a difference) gives another.

:func:`diff` compares two versions field by field over those effective values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sparkbt.data.panel import quote_currency
from sparkbt.data.store import normalise_symbol
from sparkbt.data.timeframes import format_timeframe, parse_timeframe
from sparkbt.engine.options import ENGINE_OPTIONS, Config
from sparkbt.engine.portfolio import check_portfolio_config
from sparkbt.engine.registry import Strategy, get_strategy
from sparkbt.errors import CandleError, ConfigError, did_you_mean
from sparkbt.evidence import content_id

__all__ = [
    "NAME_RE",
    "FieldChange",
    "ParamSetVersion",
    "diff",
    "max_param_change",
    "pair_text",
    "version_of",
]

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
"""A param set's name: lowercase letters, digits, ``_``, ``.``, ``-``; at most 64 characters."""

_PAIR_RE = re.compile(r"[A-Z0-9][A-Z0-9/_.:-]{0,63}")
_CONTENT_KEYS = ("name", "strategy", "pair", "timeframe", "params", "options", "strategy_sha256")


def check_name(name: Any) -> str:
    """The param set name, or a ConfigError naming the rule it breaks."""
    text = name if isinstance(name, str) else ""
    if not NAME_RE.fullmatch(text):
        raise ConfigError(
            f"param set name: expected 1-64 of a-z, 0-9, '_', '.', '-' starting with a letter "
            f"or digit, e.g. eth-sma-4h (got {name!r})"
        )
    return text


def _pair(pair: Any) -> str:
    text = str(pair).strip().upper() if isinstance(pair, str) else ""
    if not _PAIR_RE.fullmatch(text):
        raise ConfigError(f"pair: expected a symbol such as ETHUSDT (got {pair!r})")
    return text


def pair_text(pair: str | Sequence[str]) -> str:
    """The stored text of a version's symbols: one pair as given, several comma-joined.

    ``pair`` is a symbol (``ETHUSDT``), a comma-separated text of several
    (``BTCUSDT, ethusdt``) or a list of them. One symbol keeps the single-pair
    rule; several are each normalised (:func:`sparkbt.data.store.normalise_symbol`)
    and joined with ``,`` in the order given. ConfigError (one line) for an
    empty item, a symbol given twice, a bad symbol or no symbol at all.
    """
    if isinstance(pair, str):
        items = pair.split(",")
    elif isinstance(pair, Sequence) and all(isinstance(p, str) for p in pair):
        items = list(pair)
    else:
        raise ConfigError(f"pair: expected a symbol or a list of symbols (got {pair!r})")
    if len(items) == 1:
        return _pair(items[0])
    if not items:
        raise ConfigError("pairs: expected at least one symbol (got none)")
    out: list[str] = []
    for i, item in enumerate(items, 1):
        if not item.strip():
            raise ConfigError(f"pairs: symbol {i} of {len(items)} is empty (got {pair!r})")
        try:
            sym = normalise_symbol(item)
        except CandleError as exc:
            raise ConfigError(f"pairs: {exc}") from None
        if sym in out:
            raise ConfigError(f"pairs: symbol {sym} given twice; give each symbol once")
        out.append(sym)
    quotes = {q for q in map(quote_currency, out) if q is not None}
    if len(quotes) > 1:
        raise ConfigError(
            f"pairs: a portfolio needs one quote currency, got {', '.join(sorted(quotes))} "
            f"({','.join(out)})"
        )
    return ",".join(out)


def _timeframe(timeframe: Any) -> str:
    try:
        return format_timeframe(parse_timeframe(str(timeframe).strip()))
    except CandleError as exc:
        raise ConfigError(str(exc)) from None


def _options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    for key in options:
        if key not in ENGINE_OPTIONS:
            hint = did_you_mean(str(key), ENGINE_OPTIONS)
            raise ConfigError(
                f"options: unknown engine option '{key}' "
                f"(options: {', '.join(ENGINE_OPTIONS)}){hint}"
            )
    return Config(**options).to_dict()


@dataclass(frozen=True)
class ParamSetVersion:
    """One immutable version of a param set; ``id`` is the content id of :meth:`content`."""

    name: str
    strategy: str
    pair: str
    timeframe: str
    params: Mapping[str, Any]
    options: Mapping[str, Any]
    strategy_sha256: str

    def content(self) -> dict[str, Any]:
        """The canonical content: every field, JSON-ready."""
        return {
            "name": self.name,
            "strategy": self.strategy,
            "pair": self.pair,
            "timeframe": self.timeframe,
            "params": dict(self.params),
            "options": {**self.options, "gates": dict(self.options.get("gates") or {})},
            "strategy_sha256": self.strategy_sha256,
        }

    @property
    def id(self) -> str:
        return content_id(self.content())

    @property
    def pairs(self) -> list[str]:
        """The symbols the version trades: one pair, or the portfolio's symbols in order."""
        return self.pair.split(",")

    @property
    def is_portfolio(self) -> bool:
        """Whether the version names several symbols (a portfolio sharing one cash)."""
        return "," in self.pair

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.content()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParamSetVersion:
        """A version from :meth:`to_dict` output; a given ``id`` must match the content."""
        missing = [k for k in _CONTENT_KEYS if k not in data]
        if missing:
            raise ConfigError(f"param set version: missing field(s) {', '.join(missing)}")
        version = cls(**{k: data[k] for k in _CONTENT_KEYS})
        if "id" in data and data["id"] != version.id:
            raise ConfigError(
                f"param set version: id {data['id']!r} does not match its content ({version.id})"
            )
        return version


def version_of(
    name: str,
    strategy: str | Callable[..., Any] | Strategy,
    pair: str | Sequence[str],
    timeframe: str,
    params: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ParamSetVersion:
    """A version with effective values: parameters validated with defaults, options resolved.

    ``pair`` is one symbol, or several (a list or comma-separated text, see
    :func:`pair_text`). Raises StrategyError for an unknown strategy or a bad
    parameter and ConfigError for a bad name, pair, timeframe or engine option
    (a portfolio, or a weights strategy, refuses stops, loss_streak and cooldown).
    """
    strat = get_strategy(strategy)
    version = ParamSetVersion(
        name=check_name(name),
        strategy=strat.name,
        pair=pair_text(pair),
        timeframe=_timeframe(timeframe),
        params=strat.validate(dict(params or {})),
        options=_options(options),
        strategy_sha256=strat.source_sha256,
    )
    if version.is_portfolio or strat.kind == "weights":
        # a portfolio takes the max_drawdown and daily_loss gates, no per-trade rules
        check_portfolio_config(Config(**version.options))
    return version


@dataclass(frozen=True)
class FieldChange:
    """One field that differs: ``params.fast``, ``options.fees``, ``options.gates.cooldown``...

    ``relative_change`` is ``|new - old| / |old|`` for numbers (not booleans) on both
    sides, None otherwise or when ``old`` is 0. ``note`` says in words what a change
    means when the values alone do not (``strategy code changed``).
    """

    field: str
    old: Any
    new: Any
    relative_change: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "relative_change": self.relative_change,
            "note": self.note,
        }


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _change(name: str, old: Any, new: Any, note: str = "") -> FieldChange:
    rel = None
    if _is_number(old) and _is_number(new) and old != 0:
        rel = abs(new - old) / abs(old)
    return FieldChange(name, old, new, rel, note)


def _map_changes(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    keys = list(old) + [k for k in new if k not in old]
    return [
        _change(f"{prefix}{k}", old.get(k), new.get(k))
        for k in keys
        if k not in old or k not in new or not _same(old[k], new[k])
    ]


def diff(base: ParamSetVersion, proposed: ParamSetVersion) -> list[FieldChange]:
    """Every field whose effective value differs, in a fixed order; empty for equal content.

    Order: strategy, strategy code, pair, timeframe, ``params.*`` (the base's
    order, then new names), ``options.*`` (engine option order), ``options.gates.*``.
    A parameter only one side has shows None on the other.
    """
    out: list[FieldChange] = []
    if base.name != proposed.name:
        out.append(_change("name", base.name, proposed.name))
    if base.strategy != proposed.strategy:
        out.append(_change("strategy", base.strategy, proposed.strategy))
    if base.strategy_sha256 != proposed.strategy_sha256:
        out.append(
            _change(
                "strategy_sha256",
                base.strategy_sha256,
                proposed.strategy_sha256,
                "strategy code changed",
            )
        )
    for key in ("pair", "timeframe"):
        old, new = getattr(base, key), getattr(proposed, key)
        if old != new:
            out.append(_change(key, old, new))
    out += _map_changes("params.", base.params, proposed.params)
    old_opts = {k: v for k, v in base.options.items() if k != "gates"}
    new_opts = {k: v for k, v in proposed.options.items() if k != "gates"}
    out += _map_changes("options.", old_opts, new_opts)
    out += _map_changes(
        "options.gates.",
        dict(sorted((base.options.get("gates") or {}).items())),
        dict(sorted((proposed.options.get("gates") or {}).items())),
    )
    return out


def max_param_change(changes: list[FieldChange]) -> float | None:
    """The largest relative change of a numeric parameter among ``changes``.

    0.0 when no numeric parameter changed. None when a numeric parameter moved
    away from 0, where a relative change is undefined (the ``max_param_change``
    gate's evidence, :func:`sparkbt.research.gates.param_changes`, counts that
    as infinite). Parameters present on one side only and booleans do not count.
    """
    worst = 0.0
    for c in changes:
        if not c.field.startswith("params.") or not (_is_number(c.old) and _is_number(c.new)):
            continue
        if c.relative_change is None:
            return None
        worst = max(worst, c.relative_change)
    return worst
