"""Command-line flags of the engine and sweep options, built from their specs.

``@with_options(...)`` replaces a command's ``options`` parameter with one
typer option per spec (flag spelling, type, default and the one help text of
the spec) and hands the command the values as a dict, so ``run``, ``sweep``,
``walk-forward``, ``jobs start`` and ``guard propose`` offer the same flags
with the same help.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, get_type_hints

import typer

from sparkbt.engine import options as option_specs
from sparkbt.engine.option_spec import OptionSpec

__all__ = ["engine_specs", "rederive", "sweep_specs", "with_options"]

_F = TypeVar("_F", bound=Callable[..., Any])
Specs = Callable[[], Sequence[OptionSpec]]


def engine_specs() -> Sequence[OptionSpec]:
    """The engine options, read from the spec now."""
    return option_specs.OPTIONS


def sweep_specs() -> Sequence[OptionSpec]:
    """The engine options, then the sweep options that are flags."""
    return (*option_specs.OPTIONS, *option_specs.SWEEP_OPTION_SPECS)


def _annotation(s: OptionSpec, *, lists: bool, client: bool) -> tuple[Any, Any]:
    """The parameter's type and its default (before typer.Option wraps it)."""
    if s.kind == "flag":
        return bool, False
    if s.kind == "gates":
        return list[str], []
    if client:
        return s.py_type | None, None
    if lists and s.sweeps:  # one value, a comma list or a START:STOP[:STEP] range
        return str | None, None if s.default is None else str(s.default)
    if s.default is None:
        return s.py_type | None, None
    return s.py_type, s.default


def _parameter(s: OptionSpec, *, lists: bool, client: bool) -> inspect.Parameter:
    kind, default = _annotation(s, lists=lists, client=client)
    return inspect.Parameter(
        s.param,
        inspect.Parameter.KEYWORD_ONLY,
        default=typer.Option(default, s.flag, help=s.help),
        annotation=kind,
    )


def _collect(specs: Sequence[OptionSpec], kwargs: dict[str, Any], client: bool) -> dict[str, Any]:
    """The options' values by option name; a client leaves out the ones not given."""
    values = {s.name: kwargs.pop(s.param) for s in specs}
    if not client:
        return values
    out = {k: v for k, v in values.items() if v not in (None, False, [])}
    for s in specs:
        if s.kind == "gates" and s.name in out:
            out[s.name] = option_specs.parse_gates(out[s.name])
    return out


def with_options(specs: Specs, *, lists: bool = False, client: bool = False) -> Callable[[_F], _F]:
    """Replace the command's ``options`` parameter by the flags of ``specs()``.

    ``lists``: options that sweep take text (a value, ``0,0.001`` or
    ``0.01:0.05:0.01``). ``client``: every option defaults to unset and only
    the given ones reach the command (the service applies the defaults).
    """

    def decorate(fn: _F) -> _F:
        chosen = [s for s in specs() if s.cli]
        hints = get_type_hints(fn)
        sig = inspect.signature(fn)
        own = [p.replace(annotation=hints.get(p.name, Any)) for p in sig.parameters.values()]
        at = [p.name for p in own].index("options")
        added = [_parameter(s, lists=lists, client=client) for s in chosen]
        params = [*own[:at], *added, *own[at + 1 :]]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            options = _collect(chosen, kwargs, client)  # takes the options out of kwargs
            return fn(**kwargs, options=options)

        command.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
        )
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        command.__option_build__ = (fn, specs, lists, client)  # type: ignore[attr-defined]
        return command  # type: ignore[return-value]

    return decorate


def rederive(command: Callable[..., Any]) -> Callable[..., Any]:
    """The command built again from the specs as they are now (after a spec changed)."""
    fn, specs, lists, client = command.__option_build__  # type: ignore[attr-defined]
    return with_options(specs, lists=lists, client=client)(fn)
