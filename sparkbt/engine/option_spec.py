"""What an option is: one :class:`OptionSpec` per option, from which every entry point is built.

An option's name, kind, default, valid values, help text, whether a sweep can
take several values of it, and its command-line flag are written once; the
engine's ``Config``, the commands' flags, the service's request model, the web
form and the docs table are all read off the specs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sparkbt.errors import ConfigError

__all__ = [
    "KINDS",
    "MAX_CASH",
    "MAX_WHOLE",
    "OptionSpec",
    "fraction",
    "markdown_table",
    "number",
    "whole",
    "with_option_keywords",
]

_F = TypeVar("_F", bound=Callable[..., Any])

KINDS = ("number", "choice", "flag", "gates", "text", "whole", "size", "callable", "rule")
"""number: a float; choice: one of ``choices``; flag: true/false; gates: NAME=LIMIT items;
text: free text; whole: a whole number; size: bytes or ``2GB``; callable: API only;
rule: a float, or SYMBOL=FLOAT items giving each symbol of a portfolio its own."""

MAX_WHOLE = 10**9
"""The largest whole-number option (bars, counts): far above any real use, far below the
int64 the kernels compute with, so no option can overflow an evaluation."""
MAX_CASH = 1e15
"""The largest starting cash: equity in float64 stays exact to the cent below it."""

_JSON_TYPES: dict[str, str | list[str]] = {
    "number": "number",
    "rule": ["number", "object", "string"],
    "choice": "string",
    "flag": "boolean",
    "gates": "object",
    "text": "string",
    "whole": "integer",
    "size": "string",
}
_PY_TYPES: dict[str, type] = {
    "number": float,
    "rule": str,  # a command-line value: a number, or SYMBOL=NUMBER items
    "choice": str,
    "flag": bool,
    "text": str,
    "whole": int,
    "size": str,
}


@dataclass(frozen=True)
class OptionSpec:
    """One option: everything any entry point needs to offer, check and document it."""

    name: str
    kind: str  # one of KINDS
    default: Any
    help: str  # the one help text of the option, everywhere
    label: str = ""  # short label of the web form (default: the name)
    choices: tuple[str, ...] = ()
    bounds: str = ""  # valid values in words, for the docs table
    sweeps: bool = False  # a sweep takes several values of it
    cli: bool = True  # a command-line flag (callables and tuning knobs are API only)
    flag_name: str = ""  # command-line spelling without dashes (default: the name, dashed)
    check: Callable[[Any], Any] | None = None  # value -> canonical value, or ConfigError
    # left at its default, the option is not written into a run's config (nor its id):
    # options added after engine v2 leave every v2 run id and evidence byte as it was
    omit_default: bool = False

    @property
    def flag(self) -> str:
        """``--sl-stop``: the option's command-line flag."""
        return "--" + (self.flag_name or self.name.replace("_", "-"))

    @property
    def param(self) -> str:
        """The command function's parameter name for the flag (``gate`` for ``--gate``)."""
        return (self.flag_name or self.name).replace("-", "_")

    @property
    def py_type(self) -> type:
        """The Python type of one value (``str`` for gates: one NAME=LIMIT item)."""
        return _PY_TYPES.get(self.kind, str)

    @property
    def annotation(self) -> Any:
        """The type of the checked value (``float | None`` when unset means "off")."""
        if self.kind == "gates":
            return dict[str, Any]
        return self.py_type | None if self.default is None else self.py_type

    @property
    def json_type(self) -> str | list[str]:
        return _JSON_TYPES.get(self.kind, "string")

    @property
    def title(self) -> str:
        return self.label or self.name

    def normalise(self, value: Any) -> Any:
        """The canonical value (``check``), or the value itself when the spec has no check."""
        return self.check(value) if self.check is not None else value


def number(name: str, value: Any) -> float:
    """A finite float, else ConfigError naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number (got {value!r})") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name}: expected a finite number (got {value!r})")
    return out


def whole(name: str, value: Any, low: int, high: int = MAX_WHOLE) -> int:
    """A whole number in [``low``, ``high``] (given as any number), else ConfigError."""
    out = number(name, value)
    if not out.is_integer() or not low <= out <= high:
        raise ConfigError(f"{name}: expected a whole number in [{low}, {high}] (got {value!r})")
    return int(out)


def fraction(name: str, value: Any, *, zero: bool) -> float:
    """A fraction in [0, 1) (``zero``) or (0, 1), else ConfigError."""
    out = number(name, value)
    ok = (0.0 <= out < 1.0) if zero else (0.0 < out < 1.0)
    if not ok:
        bounds = "[0, 1)" if zero else "(0, 1)"
        raise ConfigError(
            f"{name}: must be a fraction in {bounds}, e.g. 0.02 for 2% (got {value!r})"
        )
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(specs: Iterable[OptionSpec]) -> str:
    """The options as a Markdown table: name, flag, default, valid values, sweeps, help."""
    rows = [
        "| option | flag | default | valid values | sweeps | help |",
        "|---|---|---|---|---|---|",
    ]
    for s in specs:
        valid = ", ".join(s.choices) if s.choices else s.bounds
        rows.append(
            f"| `{s.name}` | {f'`{s.flag}`' if s.cli else '(API only)'} | "
            f"`{s.default!r}` | {_cell(valid)} | {'yes' if s.sweeps else 'no'} | "
            f"{_cell(s.help)} |"
        )
    return "\n".join(rows) + "\n"


def with_option_keywords(*groups: Iterable[OptionSpec]) -> Callable[[_F], _F]:
    """Show the options of ``groups`` as keyword-only parameters of a ``**keywords`` function.

    The function takes them through ``**keywords``; its ``__signature__`` (what
    ``help()``, editors and ``inspect`` show) lists each one with its default,
    before the function's own keyword-only parameters.
    """

    def decorate(fn: _F) -> _F:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        first = next(
            (i for i, p in enumerate(params) if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD)),
            len(params),
        )
        added = [
            inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=s.default)
            for group in groups
            for s in group
        ]
        fn.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[*params[:first], *added, *params[first:]]
        )
        return fn

    return decorate
