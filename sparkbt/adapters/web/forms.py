"""The start form: its fields from a strategy's parameter schema and the engine options,
and the form's values turned into the body the API takes.

The form never judges a value itself: it builds the same JSON body a client
would post to ``POST /api/backtest/start`` and the service checks it exactly as
it checks the API's, so the form and the API accept and refuse the same things
with the same one-line reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparkbt.engine.options import FILLS, GATE_NAMES, parse_gates
from sparkbt.engine.registry import Strategy
from sparkbt.errors import ConfigError

__all__ = ["Field", "body_of_form", "option_fields", "param_fields"]

DIRECTIONS = ("long", "short", "both")
_NUMBER_OPTIONS = ("cash", "fees", "slippage", "sl_stop", "tp_stop", "year_days")


@dataclass(frozen=True)
class Field:
    """One input of the form."""

    name: str  # form field name
    label: str
    kind: str  # number, text, select, checkbox
    value: Any = ""
    help: str = ""
    choices: tuple[str, ...] = ()
    step: str = "any"
    min: float | None = None
    max: float | None = None


def param_fields(strategy: Strategy, values: dict[str, str] | None = None) -> list[Field]:
    """One field per strategy parameter, with its default, type and range."""
    values = values or {}
    out = []
    for spec in strategy.params:
        name = f"param.{spec.name}"
        if spec.type is bool:
            kind, step = "checkbox", "any"
        elif spec.type in (int, float):
            kind, step = "number", "1" if spec.type is int else "any"
        else:
            kind, step = "text", "any"
        value = values.get(name, "" if spec.default is None else spec.default)
        out.append(
            Field(
                name=name,
                label=spec.name,
                kind=kind,
                value=value,
                help=(spec.help or "") + spec.range_text(),
                step=step,
                min=spec.ge,
                max=spec.le,
            )
        )
    return out


def option_fields(values: dict[str, str] | None = None) -> list[Field]:
    """The engine options: costs, direction, fill, stops and risk gates."""
    v = values or {}
    return [
        Field("opt.cash", "cash", "number", v.get("opt.cash", ""), "starting cash (default 10000)"),
        Field(
            "opt.fees", "fees", "number", v.get("opt.fees", ""), "fraction of each fill, e.g. 0.001"
        ),
        Field(
            "opt.slippage",
            "slippage",
            "number",
            v.get("opt.slippage", ""),
            "fraction of price against each fill",
        ),
        Field(
            "opt.direction", "direction", "select", v.get("opt.direction", "long"), "", DIRECTIONS
        ),
        Field(
            "opt.fill",
            "fill",
            "select",
            v.get("opt.fill", "close"),
            "fill at this bar's close or the next open",
            FILLS,
        ),
        Field(
            "opt.sl_stop",
            "stop-loss",
            "number",
            v.get("opt.sl_stop", ""),
            "fraction below entry, e.g. 0.03",
        ),
        Field(
            "opt.tp_stop",
            "take-profit",
            "number",
            v.get("opt.tp_stop", ""),
            "fraction above entry, e.g. 0.06",
        ),
        Field(
            "opt.sl_trail",
            "trailing stop-loss",
            "checkbox",
            v.get("opt.sl_trail", ""),
            "the stop-loss trails the best price",
        ),
        Field(
            "opt.gates",
            "risk gates",
            "text",
            v.get("opt.gates", ""),
            f"NAME=LIMIT, comma separated ({', '.join(GATE_NAMES)})",
        ),
        Field(
            "opt.year_days",
            "days a year",
            "number",
            v.get("opt.year_days", ""),
            "for annualised ratios (default: inferred)",
        ),
    ]


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}: expected a number (got {text!r})") from None


def body_of_form(form: dict[str, str]) -> dict[str, Any]:
    """The start request a filled form stands for (ConfigError for a value that is not a number)."""
    params = {
        key.removeprefix("param."): value.strip()
        for key, value in form.items()
        if key.startswith("param.") and value.strip() != ""
    }
    options: dict[str, Any] = {}
    for name in _NUMBER_OPTIONS:
        text = form.get(f"opt.{name}", "").strip()
        if text:
            options[name] = _number(name, text)
    for name in ("direction", "fill"):
        text = form.get(f"opt.{name}", "").strip()
        if text:
            options[name] = text
    if form.get("opt.sl_trail"):
        options["sl_trail"] = True
    gates = [g for g in form.get("opt.gates", "").replace("\n", ",").split(",") if g.strip()]
    if gates:
        options["gates"] = parse_gates(gates)
    body: dict[str, Any] = {
        "strategy": form.get("strategy", "").strip(),
        "pair": form.get("pair", "").strip(),
        "timeframe": form.get("timeframe", "").strip(),
        "params": params,
        "options": options,
    }
    notes = form.get("notes", "").strip()
    if notes:
        body["notes"] = notes
    return body
