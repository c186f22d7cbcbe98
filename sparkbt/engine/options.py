"""Engine options: one definition, validated once, shared by the API, CLI, sweeps and service.

Engine options are never strategy parameters: a strategy may not declare a
parameter with one of these names (nor with a name of the run or sweep
keywords), so nothing is ever routed to the wrong place.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.candles import time_index
from sparkbt.engine import codes, kernels
from sparkbt.errors import ConfigError

__all__ = [
    "DIRECTIONS",
    "ENGINE_OPTIONS",
    "FILLS",
    "GATE_NAMES",
    "RESERVED_NAMES",
    "SWEEP_OPTIONS",
    "Config",
    "infer_year_days",
    "parse_gates",
]

DIRECTIONS = {"long": codes.LONG, "short": codes.SHORT, "both": codes.BOTH}
FILLS = ("close", "next_open")
GATE_NAMES = codes.GATES
ENGINE_OPTIONS: tuple[str, ...] = (
    "cash",
    "fees",
    "slippage",
    "direction",
    "fill",
    "sl_stop",
    "tp_stop",
    "sl_trail",
    "gates",
    "year_days",
)
"""Keyword arguments of ``backtest``/``sweep`` that configure the engine, not the strategy."""
SWEEP_OPTIONS: tuple[str, ...] = (
    "where",
    "samples",
    "seed",
    "max_memory",
    "workers",
    "executor",
    "scheduler",
    "chunk_size",
    "progress",
)
RESERVED_NAMES: frozenset[str] = frozenset(
    (*ENGINE_OPTIONS, *SWEEP_OPTIONS, "candles", "strategy", "timeframe", "symbol")
)
"""Names a strategy parameter may not take."""


def _number(name: str, value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number (got {value!r})") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}: expected a finite number (got {value!r})")
    return out


def _integer(name: str, value: Any, low: int) -> int:
    out = _number(name, value)
    if not out.is_integer() or out < low:
        raise ConfigError(f"{name}: expected a whole number >= {low} (got {value!r})")
    return int(out)


def _fraction(name: str, value: Any, *, zero: bool) -> float:
    out = _number(name, value)
    ok = (0.0 <= out < 1.0) if zero else (0.0 < out < 1.0)
    if not ok:
        bounds = "[0, 1)" if zero else "(0, 1)"
        raise ConfigError(
            f"{name}: must be a fraction in {bounds}, e.g. 0.02 for 2% (got {value!r})"
        )
    return out


def parse_gates(gates: Any) -> dict[str, float | int]:
    """Validate risk gates: a mapping, or ``["max_drawdown=0.2", ...]`` as the CLI gives them."""
    if gates is None:
        return {}
    if isinstance(gates, (list, tuple)):
        items: dict[str, Any] = {}
        for text in gates:
            key, sep, val = str(text).partition("=")
            if not sep or not key.strip():
                raise ConfigError(
                    f"gate: expected NAME=LIMIT, e.g. max_drawdown=0.2 (got {text!r})"
                )
            items[key.strip()] = val.strip()
        gates = items
    if not isinstance(gates, dict):
        raise ConfigError(f"gates: expected a mapping of gate to limit (got {gates!r})")
    out: dict[str, float | int] = {}
    for key in sorted(gates):
        name = str(key).strip().lower().replace("-", "_")
        if name not in GATE_NAMES:
            near = difflib.get_close_matches(name, GATE_NAMES, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"gate '{key}': unknown (gates: {', '.join(GATE_NAMES)}){hint}")
        value = gates[key]
        if name in ("max_drawdown", "daily_loss"):
            out[name] = _fraction(f"gate {name}", value, zero=False)
        elif name == "loss_streak":
            out[name] = _integer(f"gate {name}", value, 1)
        else:
            out[name] = _integer(f"gate {name}", value, 0)
    return out


@dataclass(frozen=True)
class Config:
    """Engine options (docs/semantics.md "Inputs"), validated on creation.

    ``year_days`` None means inferred from the candles (365 when any bar falls
    on a weekend, else 252); the report records the value used.
    """

    cash: float = 10_000.0
    fees: float = 0.0
    slippage: float = 0.0
    direction: str = "long"
    fill: str = "close"
    sl_stop: float | None = None
    tp_stop: float | None = None
    sl_trail: bool = False
    gates: dict[str, Any] = field(default_factory=dict)
    year_days: float | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        cash = _number("cash", self.cash)
        if cash <= 0:
            raise ConfigError(f"cash: must be > 0 (got {self.cash!r})")
        put("cash", cash)
        for name in ("fees", "slippage"):
            put(name, _fraction(name, getattr(self, name), zero=True))
        d = str(self.direction).strip().lower()
        if d not in DIRECTIONS:
            raise ConfigError(f"direction: expected long, short or both (got {self.direction!r})")
        put("direction", d)
        f = str(self.fill).strip().lower().replace("-", "_")
        if f not in FILLS:
            near = difflib.get_close_matches(f, FILLS, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(f"fill: expected close or next_open (got {self.fill!r}){hint}")
        put("fill", f)
        for name in ("sl_stop", "tp_stop"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                put(name, _fraction(name, value, zero=False))
            else:
                put(name, None)
        trail = self.sl_trail
        if isinstance(trail, str):
            low = trail.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ConfigError(f"sl_trail: expected true or false (got {trail!r})")
            trail = low in ("true", "1", "yes")
        elif not isinstance(trail, (bool, np.bool_, int)) or trail not in (0, 1):
            raise ConfigError(f"sl_trail: expected true or false (got {trail!r})")
        put("sl_trail", bool(trail))
        put("gates", parse_gates(self.gates))
        if self.year_days is not None:
            yd = _number("year_days", self.year_days)
            if yd <= 0:
                raise ConfigError(
                    f"year_days: must be > 0, e.g. 365 or 252 (got {self.year_days!r})"
                )
            put("year_days", int(yd) if yd.is_integer() else yd)

    def resolved(self, candles: pd.DataFrame) -> Config:
        """This config with ``year_days`` fixed from the candles when it was left to inference."""
        if self.year_days is not None:
            return self
        return Config(**{**self.to_dict(), "year_days": infer_year_days(time_index(candles))})

    def to_dict(self) -> dict[str, Any]:
        return {
            "cash": self.cash,
            "fees": self.fees,
            "slippage": self.slippage,
            "direction": self.direction,
            "fill": self.fill,
            "sl_stop": self.sl_stop,
            "tp_stop": self.tp_stop,
            "sl_trail": self.sl_trail,
            "gates": dict(self.gates),
            "year_days": self.year_days,
        }

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
        )


def infer_year_days(index: pd.DatetimeIndex) -> int:
    """365 when any bar falls on a Saturday or Sunday (markets that never close), else 252."""
    days = index.asi8 // 86_400_000_000_000  # UTC day numbers; 1970-01-01 was a Thursday
    return 365 if bool(np.any((days + 3) % 7 >= 5)) else 252
