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

from sparkbt.engine import options
from sparkbt.engine.registry import Strategy
from sparkbt.errors import ConfigError

__all__ = ["Field", "body_of_form", "option_fields", "param_fields", "with_pairs"]


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


_KINDS = {"number": "number", "choice": "select", "flag": "checkbox", "gates": "text"}


def option_fields(values: dict[str, str] | None = None) -> list[Field]:
    """One field per engine option of the spec, labelled and explained as the spec says."""
    v = values or {}
    out = []
    for spec in options.OPTIONS:
        name = f"opt.{spec.name}"
        default = spec.default if spec.kind == "choice" else ""
        # a choice that is off by default (exchange rules) offers "none" first, selected
        choices = ("", *spec.choices) if spec.default is None else spec.choices
        out.append(
            Field(
                name,
                spec.title,
                _KINDS.get(spec.kind, "text"),
                v.get(name, default or ""),
                spec.help,
                choices,
            )
        )
    return out


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
    given: dict[str, Any] = {}
    for spec in options.OPTIONS:
        text = form.get(f"opt.{spec.name}", "").strip()
        if not text:
            continue
        if spec.kind == "number":
            given[spec.name] = _number(spec.name, text)
        elif spec.kind == "flag":
            given[spec.name] = True
        elif spec.kind == "gates":
            gates = [g for g in text.replace("\n", ",").split(",") if g.strip()]
            if gates:
                given[spec.name] = options.parse_gates(gates)
        else:
            given[spec.name] = text
    body: dict[str, Any] = {
        "strategy": form.get("strategy", "").strip(),
        "pair": form.get("pair", "").strip(),
        "timeframe": form.get("timeframe", "").strip(),
        "params": params,
        "options": given,
    }
    notes = form.get("notes", "").strip()
    if notes:
        body["notes"] = notes
    return body


def with_pairs(body: dict[str, Any]) -> dict[str, Any]:
    """A start body whose ``pair`` lists several symbols (``BTCUSDT, ETHUSDT``) as ``pairs``:
    a portfolio of them sharing one cash."""
    pair = str(body.get("pair") or "")
    if "," not in pair:
        return body
    out = {k: v for k, v in body.items() if k != "pair"}
    return out | {"pairs": [s.strip() for s in pair.split(",") if s.strip()]}
