"""Engine and sweep options: one :class:`OptionSpec` each, from which everything is derived.

Engine options are never strategy parameters: a strategy may not declare a
parameter with one of these names (nor with a name of the run or sweep
keywords), so nothing is ever routed to the wrong place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import time_index
from sparkbt.engine import codes, kernels
from sparkbt.engine.option_spec import (
    MAX_CASH,
    OptionSpec,
    fraction,
    markdown_table,
    number,
    whole,
)
from sparkbt.engine.order_kernels import OrderOptions
from sparkbt.errors import ConfigError, did_you_mean
from sparkbt.version import ENGINE_VERSION, TARGETS_VERSION

__all__ = [
    "DIRECTIONS",
    "ENGINE_OPTIONS",
    "EXECUTORS",
    "FILLS",
    "GATE_NAMES",
    "OPTIONS",
    "RESERVED_NAMES",
    "SWEEP_OPTIONS",
    "SWEEP_OPTION_SPECS",
    "Config",
    "OptionSpec",
    "contract_version",
    "engine_options",
    "infer_year_days",
    "one_rule",
    "options_markdown",
    "parse_gates",
    "spec",
    "split_options",
]

DIRECTIONS = {"long": codes.LONG, "short": codes.SHORT, "both": codes.BOTH}
FILLS = ("close", "next_open")
GATE_NAMES = codes.GATES
EXECUTORS = ("local", "dask")
EXCHANGE_RULES = ("btcturk",)
"""Exchanges whose stored rules (tick, lot, minimum value) a run can take."""


def _key_value(text: Any) -> tuple[str, str] | None:
    """``NAME=VALUE`` as its stripped name and value; None without ``=`` or a name."""
    key, sep, value = str(text).partition("=")
    return (key.strip(), value.strip()) if sep and key.strip() else None


def parse_gates(gates: Any) -> dict[str, float | int]:
    """Validate risk gates: a mapping, or ``["max_drawdown=0.2", ...]`` as the CLI gives them."""
    if gates is None:
        return {}
    if isinstance(gates, (list, tuple)):
        items: dict[str, Any] = {}
        for text in gates:
            pair = _key_value(text)
            if pair is None:
                raise ConfigError(
                    f"gate: expected NAME=LIMIT, e.g. max_drawdown=0.2 (got {text!r})"
                )
            items[pair[0]] = pair[1]
        gates = items
    if not isinstance(gates, dict):
        raise ConfigError(f"gates: expected a mapping of gate to limit (got {gates!r})")
    out: dict[str, float | int] = {}
    for key in sorted(gates):
        name = str(key).strip().lower().replace("-", "_")
        if name not in GATE_NAMES:
            hint = did_you_mean(name, GATE_NAMES)
            raise ConfigError(f"gate '{key}': unknown (gates: {', '.join(GATE_NAMES)}){hint}")
        value = gates[key]
        if name in ("max_drawdown", "daily_loss"):
            out[name] = fraction(f"gate {name}", value, zero=False)
        elif name == "loss_streak":
            out[name] = whole(f"gate {name}", value, 1)
        else:
            out[name] = whole(f"gate {name}", value, 0)
    return out


def _cash(value: Any) -> float:
    cash = number("cash", value)
    if not 0 < cash <= MAX_CASH:
        raise ConfigError(f"cash: must be > 0 and <= {MAX_CASH:.0e} (got {value!r})")
    return cash


def _direction(value: Any) -> str:
    d = str(value).strip().lower()
    if d not in DIRECTIONS:
        raise ConfigError(f"direction: expected long, short or both (got {value!r})")
    return d


def _fill(value: Any) -> str:
    f = str(value).strip().lower().replace("-", "_")
    if f not in FILLS:
        hint = did_you_mean(f, FILLS)
        raise ConfigError(f"fill: expected close or next_open (got {value!r}){hint}")
    return f


def _stop(name: str) -> Callable[[Any], float | None]:
    def check(value: Any) -> float | None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return fraction(name, value, zero=False)

    return check


def _trail(value: Any) -> bool:
    if isinstance(value, str):
        low = value.strip().lower()
        if low not in ("true", "false", "1", "0", "yes", "no"):
            raise ConfigError(f"sl_trail: expected true or false (got {value!r})")
        return low in ("true", "1", "yes")
    if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
        raise ConfigError(f"sl_trail: expected true or false (got {value!r})")
    return bool(value)


def _year_days(value: Any) -> float | int | None:
    if value is None:
        return None
    yd = number("year_days", value)
    if not 1 <= yd <= 366:
        raise ConfigError(f"year_days: must be in [1, 366], e.g. 365 or 252 (got {value!r})")
    return int(yd) if yd.is_integer() else yd


def _maker_fees(value: Any) -> float | None:
    return None if _unset(value) else fraction("maker_fees", value, zero=True)


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


RuleValue = float | dict[str, float | None] | None
"""An exchange rule option: one value, one per symbol (a portfolio's), or None (off)."""


def _step(name: str) -> Callable[[Any], RuleValue]:
    """An exchange step or minimum: a number > 0, a mapping of symbol to one (None: off for
    that symbol), or None (off)."""

    def one(value: Any, label: str = name) -> float | None:
        if _unset(value) or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        out = number(label, value)
        if not 0.0 < out <= MAX_CASH:
            raise ConfigError(f"{label}: must be > 0 (got {value!r}); leave it unset for none")
        return out

    def check(value: Any) -> RuleValue:
        if isinstance(value, str) and "=" in value:  # SYMBOL=VALUE,SYMBOL=VALUE
            value = _symbol_items(name, value)
        if isinstance(value, Mapping):
            if not value:
                raise ConfigError(f"{name}: expected a number or one per symbol (got {{}})")
            return {str(k): one(v, f"{name} of {k}") for k, v in value.items()}
        return one(value)

    return check


def _symbol_items(name: str, text: str) -> dict[str, str]:
    """``BTCTRY=0.0001,ETHTRY=0.001`` as a mapping of symbol to value (``none``: off)."""
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        pair = _key_value(item)
        if pair is None or not pair[1]:
            raise ConfigError(
                f"{name}: expected a number or SYMBOL=NUMBER items such as "
                f"BTCTRY=0.0001,ETHTRY=0.001 (got {item!r})"
            )
        symbol, value = pair
        if symbol in out:
            raise ConfigError(f"{name}: {symbol} is given twice")
        out[symbol] = value
    return out


def one_rule(value: RuleValue) -> float:
    """A rule option as the kernels take one value: NaN for off, or when it is one per
    symbol (a portfolio's kernels take those as arrays, :func:`exchange.symbol_rules`)."""
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _exchange_rules(value: Any) -> str | None:
    if _unset(value) or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    name = str(value).strip().lower()
    if name not in EXCHANGE_RULES:
        raise ConfigError(
            f"exchange_rules: expected {', '.join(EXCHANGE_RULES)} (got {value!r})"
            f"{did_you_mean(name, EXCHANGE_RULES)}"
        )
    return name


def _cost(name: str, help: str) -> OptionSpec:
    """A per-fill cost: a sweepable fraction in [0, 1) that defaults to none."""
    return OptionSpec(
        name,
        "number",
        0.0,
        help,
        bounds="fraction in [0, 1)",
        sweeps=True,
        check=lambda v: fraction(name, v, zero=True),
    )


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "cash",
        "number",
        10_000.0,
        "Starting cash, quote currency.",
        bounds="> 0, <= 1e15",
        sweeps=True,
        check=_cash,
    ),
    _cost("fees", "Fee per fill, fraction of traded value (0.001 = 0.1%)."),
    _cost("slippage", "Fill price slippage, fraction of the close (0.0005 = 0.05%)."),
    OptionSpec(
        "direction",
        "choice",
        "long",
        "Sides the strategy may trade: long, short or both.",
        choices=tuple(DIRECTIONS),
        sweeps=True,
        check=_direction,
    ),
    OptionSpec(
        "fill",
        "choice",
        "close",
        "close: an order fills at its bar's close; next_open: at the next bar's open.",
        choices=FILLS,
        sweeps=True,
        check=_fill,
    ),
    OptionSpec(
        "sl_stop",
        "number",
        None,
        "Stop-loss, fraction below the entry close (0.02 = 2%).",
        label="stop-loss",
        bounds="fraction in (0, 1); unset: no stop",
        sweeps=True,
        check=_stop("sl_stop"),
    ),
    OptionSpec(
        "tp_stop",
        "number",
        None,
        "Take-profit, fraction above the entry close (0.05 = 5%).",
        label="take-profit",
        bounds="fraction in (0, 1); unset: no take-profit",
        sweeps=True,
        check=_stop("tp_stop"),
    ),
    OptionSpec(
        "sl_trail",
        "flag",
        False,
        "Trail the stop-loss behind the best high (low for shorts).",
        label="trailing stop-loss",
        bounds="true or false",
        sweeps=True,
        check=_trail,
    ),
    OptionSpec(
        "gates",
        "gates",
        {},
        "Risk gate NAME=LIMIT, repeatable: max_drawdown=0.2, daily_loss=0.05, "
        "loss_streak=4, cooldown=12 (bars).",
        label="risk gates",
        bounds=", ".join(GATE_NAMES) + " (whole counts <= 1e9)",
        flag_name="gate",
        check=parse_gates,
    ),
    OptionSpec(
        "year_days",
        "number",
        None,
        "Days in a year for annualising (default: 365 if any bar is on a weekend, else 252).",
        label="days a year",
        bounds="1 to 366; unset: inferred from the candles",
        sweeps=True,
        check=_year_days,
    ),
    OptionSpec(
        "maker_fees",
        "number",
        None,
        "Fee of a resting limit order filled at its limit price (maker), fraction of "
        "traded value; every other fill pays fees.",
        label="maker fee",
        bounds="fraction in [0, 1); unset: fees",
        sweeps=True,
        check=_maker_fees,
        omit_default=True,
    ),
    OptionSpec(
        "tick_size",
        "rule",
        None,
        "Exchange price step: limit and stop prices are rounded to it.",
        label="tick size",
        bounds="> 0, or SYMBOL=VALUE items per symbol; unset: no tick",
        check=_step("tick_size"),
        omit_default=True,
    ),
    OptionSpec(
        "lot_size",
        "rule",
        None,
        "Exchange quantity step: every order's units are truncated down to it.",
        label="lot size",
        bounds="> 0, or SYMBOL=VALUE items per symbol; unset: any quantity",
        check=_step("lot_size"),
        omit_default=True,
    ),
    OptionSpec(
        "min_notional",
        "rule",
        None,
        "Smallest order value, quote currency: a fill worth less is rejected.",
        label="minimum order value",
        bounds="> 0, or SYMBOL=VALUE items per symbol; unset: no minimum",
        check=_step("min_notional"),
        omit_default=True,
    ),
    OptionSpec(
        "exchange_rules",
        "choice",
        None,
        "Take the tick, lot and minimum value from the exchange rules stored with the "
        "symbol's candles (btcturk); options given explicitly win.",
        label="exchange rules",
        choices=EXCHANGE_RULES,
        bounds="btcturk; unset: none",
        check=_exchange_rules,
        omit_default=True,
    ),
)
"""The engine options, in the order of ``Config`` and of a report's ``config``."""

SWEEP_OPTION_SPECS: tuple[OptionSpec, ...] = (
    OptionSpec("where", "text", None, 'Filter of combinations, e.g. "fast < slow".'),
    OptionSpec(
        "samples",
        "whole",
        None,
        "Random subset of N combinations (per fold in a walk-forward).",
        bounds=">= 1",
    ),
    OptionSpec("seed", "whole", None, "Seed of --samples (default 0).", bounds=">= 0"),
    OptionSpec(
        "max_memory",
        "size",
        None,
        "Memory budget, e.g. 2GB or 500MB (default: a quarter of RAM).",
        bounds="> 0 bytes",
    ),
    OptionSpec(
        "workers", "whole", None, "Local worker processes (default: the CPU count).", bounds=">= 1"
    ),
    OptionSpec(
        "executor",
        "choice",
        "local",
        "Where chunks run: local processes or a dask cluster.",
        choices=EXECUTORS,
    ),
    OptionSpec("scheduler", "text", None, "Dask scheduler address, e.g. tcp://host:8786."),
    OptionSpec(
        "chunk_size",
        "whole",
        None,
        "Combinations per chunk (default: planned from the memory budget).",
        bounds=">= 1",
        cli=False,
    ),
    OptionSpec(
        "progress", "callable", None, "Called with (done, total) as chunks finish.", cli=False
    ),
)
"""The keywords of a sweep besides the engine options (checked by ``SweepOptions``)."""


def engine_options() -> tuple[str, ...]:
    """The engine option names, read from :data:`OPTIONS` now."""
    return tuple(s.name for s in OPTIONS)


def spec(name: str) -> OptionSpec:
    """The spec of one engine or sweep option."""
    for s in (*OPTIONS, *SWEEP_OPTION_SPECS):
        if s.name == name:
            return s
    raise KeyError(name)


ENGINE_OPTIONS: tuple[str, ...] = engine_options()
"""Keyword arguments of ``backtest``/``sweep`` that configure the engine, not the strategy."""
SWEEP_OPTIONS: tuple[str, ...] = tuple(s.name for s in SWEEP_OPTION_SPECS)
RESERVED_NAMES: frozenset[str] = frozenset(
    (*ENGINE_OPTIONS, *SWEEP_OPTIONS, "candles", "strategy", "timeframe", "symbol", "data_dir")
)
"""Names a strategy parameter may not take."""


V3_OPTIONS: tuple[str, ...] = tuple(s.name for s in OPTIONS if s.omit_default)
"""Options of the v3 contract: a config that sets one is no longer a v2 config."""


def contract_version(config: Mapping[str, Any], *, v3: bool = False) -> str:
    """The engine contract of a single-symbol run of ``config`` (as ``Config.to_dict()``).

    A target run keeps v2 (:data:`sparkbt.version.TARGETS_VERSION`) unless its config
    sets a v3 option (maker fee, exchange rules); ``v3`` (orders, portfolios) says v3 always.
    """
    if v3 or any(name in config for name in V3_OPTIONS):
        return ENGINE_VERSION
    return TARGETS_VERSION


class Config:
    """Engine options (docs/semantics.md "Inputs"), validated on creation; immutable.

    One attribute per spec of :data:`OPTIONS` (positional arguments in that
    order). ``year_days`` None means inferred from the candles (365 when any bar
    falls on a weekend, else 252); the report records the value used.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        specs = OPTIONS
        if len(args) > len(specs):
            raise TypeError(f"Config takes at most {len(specs)} options ({len(args)} given)")
        names = [s.name for s in specs]
        given = dict(zip(names, args, strict=False))
        for key in kwargs:
            if key not in names:
                raise TypeError(f"Config got an unexpected option '{key}'")
            if key in given:
                raise TypeError(f"Config got option '{key}' twice")
        given |= kwargs
        for s in specs:
            value = given.get(s.name, s.default)
            object.__setattr__(self, s.name, s.normalise(value))
        object.__setattr__(self, "_names", tuple(names))

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Config is immutable: use replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # holds a dict of gates

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def replace(self, **changes: Any) -> Config:
        """A new config with ``changes`` applied (checked like any other)."""
        return Config(**{**self.to_dict(), **changes})

    def resolved(self, candles: pd.DataFrame) -> Config:
        """This config with ``year_days`` fixed from the candles when it was left to inference."""
        if self.year_days is not None:
            return self
        return self.replace(year_days=infer_year_days(time_index(candles)))

    def to_dict(self) -> dict[str, Any]:
        """The options as a report's ``config`` records them (see ``OptionSpec.omit_default``)."""
        out = {
            s.name: getattr(self, s.name)
            for s in OPTIONS
            if not (s.omit_default and getattr(self, s.name) == s.default)
        }
        if isinstance(out.get("gates"), dict):
            out["gates"] = dict(out["gates"])
        return out

    def order_options(self) -> OrderOptions:
        """The options only orders read (NaN for "off"): direction, maker fee, exchange rules."""
        nan = float("nan")
        return OrderOptions(
            direction=DIRECTIONS[self.direction],
            maker_fees=nan if self.maker_fees is None else self.maker_fees,
            tick_size=one_rule(self.tick_size),
            lot_size=one_rule(self.lot_size),
            min_notional=one_rule(self.min_notional),
        )

    def sim_options(self) -> kernels.SimOptions:
        """The options as the kernels take them (NaN / 0 / -1 for "off")."""
        g = self.gates
        nan = float("nan")
        return kernels.SimOptions(
            cash=self.cash,
            fees=self.fees,
            slippage=self.slippage,
            next_open=self.fill == "next_open",
            sl_stop=nan if self.sl_stop is None else self.sl_stop,
            tp_stop=nan if self.tp_stop is None else self.tp_stop,
            sl_trail=self.sl_trail,
            max_drawdown=float(g.get("max_drawdown", nan)),
            daily_loss=float(g.get("daily_loss", nan)),
            loss_streak=int(g.get("loss_streak", 0)),
            cooldown=int(g.get("cooldown", -1)),
            lot_size=one_rule(self.lot_size),
            min_notional=one_rule(self.min_notional),
        )


Config.__annotations__ = {s.name: s.annotation for s in OPTIONS}  # for introspection


def split_options(keywords: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``keywords`` split into the engine options and the rest (strategy parameters)."""
    names = set(engine_options())
    ours = {k: v for k, v in keywords.items() if k in names}
    return ours, {k: v for k, v in keywords.items() if k not in names}


def options_markdown() -> str:
    """docs/options.md: the engine options and the sweep options, generated from the specs."""
    return (
        "# Options\n\n"
        "Generated from `sparkbt/engine/options.py` (`OPTIONS`, `SWEEP_OPTION_SPECS`); "
        "do not edit by hand.\n\n"
        "## Engine options\n\n"
        "Keywords of `backtest`, `sweep` and `walk_forward`; flags of `sparkbt run`, `sweep`, "
        "`walk-forward`, `jobs start` and `guard propose`; fields of the service's `options`. "
        "A sweep takes several values of the options marked *sweeps* "
        "(`--fees 0,0.001`, `--sl-stop 0.01:0.05:0.01`).\n\n"
        + markdown_table(OPTIONS)
        + "\n## Sweep options\n\n"
        "Keywords of `sweep` and `walk_forward`; flags of `sparkbt sweep` and `walk-forward`.\n\n"
        + markdown_table(SWEEP_OPTION_SPECS)
    )


def infer_year_days(index: pd.DatetimeIndex) -> int:
    """365 when any bar falls on a Saturday or Sunday (markets that never close), else 252."""
    stamps = index.as_unit("ns").asi8
    for lo in range(0, len(stamps), 1 << 16):  # a weekend bar is usually within the first week
        days = stamps[lo : lo + (1 << 16)] // 86_400_000_000_000  # 1970-01-01 was a Thursday
        if np.any((days + 3) % 7 >= 5):
            return 365
    return 252
