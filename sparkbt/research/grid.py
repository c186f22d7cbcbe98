"""Parameter grids: value lists, range syntax, ``where`` filters, seeded sampling.

A grid maps parameter names to values: a scalar, a ``range``, a list/array, or
text in the CLI's range syntax (``"5:50"`` and ``"20:200:5"`` are inclusive,
``"5,8,13"`` is a list). Every value is coerced and range-checked against the
strategy's schema, so a sweep row holds exactly the parameters ``backtest``
would get. Combinations are the Cartesian product in schema order (the last
parameter varies fastest); the ``where`` condition and the strategy's own
constraints drop combinations; ``samples=N, seed=S`` then keeps N of the rest,
chosen by a seeded generator and kept in grid order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from sparkbt.engine import options as option_specs
from sparkbt.engine.expr import compile_condition
from sparkbt.engine.registry import ParamSpec, Strategy
from sparkbt.errors import ConfigError

__all__ = ["MAX_COMBINATIONS", "SWEPT_OPTIONS", "build_grid", "option_values", "parse_values"]

SWEPT_OPTIONS: tuple[str, ...] = tuple(s.name for s in option_specs.OPTIONS if s.sweeps)
"""Engine options a sweep can take a list of values for (``gates`` is one mapping)."""

MAX_COMBINATIONS = 20_000_000
"""Largest Cartesian product enumerated before filtering (use ``samples`` with coarser steps).

Grid sizes are computed from each range's start, stop and step before any value
is listed, so a grid over the limit is refused at once (one range too is)."""


def _number(text: str, spec: ParamSpec, whole: str) -> Any:
    try:
        return spec.type(text) if spec.type is not bool else text
    except ValueError:
        raise ConfigError(
            f"--{spec.name}: cannot read {text!r} in {whole!r} as {spec.type.__name__} "
            "(use START:STOP[:STEP] inclusive, or a comma list like 5,8,13)"
        ) from None


def parse_values(text: str, spec: ParamSpec) -> list[Any]:
    """Parse ``"5:50"``, ``"20:200:5"`` (inclusive), ``"5,8,13"`` or ``"7"`` for one parameter."""
    s = str(text).strip()
    if not s:
        raise ConfigError(f"--{spec.name}: empty value (use START:STOP[:STEP] or a comma list)")
    if ":" in s:
        if spec.type not in (int, float):
            raise ConfigError(f"--{spec.name}: ranges need a numeric parameter (got {s!r})")
        parts = s.split(":")
        if len(parts) not in (2, 3) or any(not p.strip() for p in parts):
            raise ConfigError(
                f"--{spec.name}: invalid range {s!r} (expected START:STOP or START:STOP:STEP)"
            )
        start, stop, step = _range(parts, spec, s)
        count = _range_size(start, stop, step)
        if count > MAX_COMBINATIONS:
            raise ConfigError(
                f"--{spec.name}: range {s!r} has {_count(count)} values "
                f"(limit {MAX_COMBINATIONS:,} combinations); use a coarser step"
            )
        if spec.type is int:
            return list(range(start, stop + 1, step))
        return [round(start + i * step, 12) for i in range(count)]
    items = [p.strip() for p in s.split(",")]
    if any(not p for p in items):
        raise ConfigError(f"--{spec.name}: empty item in list {s!r}")
    return [_number(p, spec, s) for p in items]


def _range(parts: list[str], spec: ParamSpec, whole: str) -> tuple[Any, Any, Any]:
    """START, STOP and STEP of a range, checked (finite, step > 0, start <= stop)."""
    start, stop = (_number(p.strip(), spec, whole) for p in parts[:2])
    step = _number(parts[2].strip(), spec, whole) if len(parts) == 3 else spec.type(1)
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ConfigError(f"--{spec.name}: range {whole!r} needs finite numbers")
    if step <= 0:
        raise ConfigError(f"--{spec.name}: range step must be > 0 (got {whole!r})")
    if start > stop:
        raise ConfigError(f"--{spec.name}: range {whole!r} is empty (start > stop)")
    return start, stop, step


def _range_size(start: Any, stop: Any, step: Any) -> int:
    """How many values the inclusive range START:STOP:STEP holds, without listing them."""
    if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int):
        return len(range(start, stop + 1, step))
    ratio = (stop - start) / step
    if not math.isfinite(ratio):  # overflow (a subnormal step): count exactly
        return math.floor((Fraction(stop) - Fraction(start)) / Fraction(step)) + 1
    return math.floor(ratio + 1e-9) + 1


def _count(n: int) -> str:
    """A count for a message: ``1,000,000,000``, or ``1.5e+20`` once digits stop being readable."""
    return f"{n:,}" if n < 10**15 else f"{float(n):.3g}" if n < 10**308 else "more than 1e+308"


def _axis_size(raw: Any, spec: ParamSpec) -> int | None:
    """How many values ``raw`` gives one parameter before listing them (None: not known)."""
    if isinstance(raw, str):
        s = raw.strip()
        parts = s.split(":")
        if ":" in s and len(parts) in (2, 3) and all(p.strip() for p in parts):
            if spec.type in (int, float):
                return _range_size(*_range(parts, spec, s))
            return None  # parse_values reports the mistake
        return s.count(",") + 1
    if isinstance(raw, (range, list, tuple, np.ndarray, pd.Series, pd.Index)):
        return len(raw)
    if isinstance(raw, Iterable) and not isinstance(raw, (bytes, Mapping)):
        return None
    return 1


def _check_grid_size(sizes: Mapping[str, int]) -> int:
    """The number of combinations of axes of these sizes; ConfigError over the limit.

    Called before any axis is listed, so an oversized grid costs nothing.
    """
    total = math.prod(sizes.values())
    if total > MAX_COMBINATIONS:
        name = max(sizes, key=lambda k: sizes[k])
        raise ConfigError(
            f"the grid has {_count(total)} combinations (limit {MAX_COMBINATIONS:,}; "
            f"'{name}' has {_count(sizes[name])} values); use coarser steps or fewer values"
        )
    return total


def _values(name: str, raw: Any, spec: ParamSpec, strategy: Strategy) -> list[Any]:
    if isinstance(raw, str):
        raw = parse_values(raw, spec)
    elif isinstance(raw, (range, list, tuple, np.ndarray, pd.Series, pd.Index)) or (
        isinstance(raw, Iterable) and not isinstance(raw, (bytes, Mapping))
    ):
        raw = list(raw)
    else:
        raw = [raw]
    if not raw:
        raise ConfigError(f"{strategy.name}: empty grid for '{name}' (give at least one value)")
    # a dict keeps first-seen order and finds duplicates in constant time
    out = dict.fromkeys(
        spec.coerce(v.item() if isinstance(v, np.generic) else v, strategy.name) for v in raw
    )
    return list(out)


def option_values(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each engine option's list of values (one for a scalar), every value checked by ``Config``.

    Numbers take the same text forms as parameters (``"0.01,0.02"``, ``"0.01:0.05:0.01"``);
    ``None`` (or NaN) in a stop's list means "no stop".
    """
    swept = {s.name: s for s in option_specs.OPTIONS if s.sweeps}
    out: dict[str, list[Any]] = {}
    for name, raw in values.items():
        if name not in swept:
            continue
        spec = ParamSpec(name, swept[name].py_type, None)
        if isinstance(raw, str) and spec.type is not str:
            items: list[Any] = parse_values(raw, spec)
        elif isinstance(raw, str):
            items = [p.strip() for p in raw.split(",")]
        elif isinstance(raw, (range, list, tuple, np.ndarray, pd.Series, pd.Index)):
            items = [v.item() if isinstance(v, np.generic) else v for v in raw]
        else:
            items = [raw]
        if not items:
            raise ConfigError(f"{name}: empty list of values (give at least one)")
        # a dict keeps first-seen order and finds duplicates in constant time
        out[name] = list(dict.fromkeys(swept[name].normalise(v) for v in items))
    return out


def normalise_grid(strategy: Strategy, grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Every parameter of the schema with its list of values (defaults for the rest)."""
    specs = {p.name: p for p in strategy.params}
    unknown = [k for k in grid if k not in specs]
    if unknown:
        strategy.validate({unknown[0]: None})  # raises with a did-you-mean hint
    _check_grid_size(_known_sizes(strategy, grid))
    return {
        name: _values(name, grid[name], spec, strategy) if name in grid else [spec.default]
        for name, spec in specs.items()
    }


def _known_sizes(strategy: Strategy, grid: Mapping[str, Any]) -> dict[str, int]:
    """Each parameter's number of values where it is known without listing them."""
    sizes = {}
    for spec in strategy.params:
        size = _axis_size(grid[spec.name], spec) if spec.name in grid else 1
        if size is not None:
            sizes[spec.name] = size
    return sizes


def build_grid(
    strategy: Strategy,
    grid: Mapping[str, Any],
    *,
    where: str | None = None,
    samples: int | None = None,
    seed: int | None = None,
    options: Mapping[str, list[Any]] | None = None,
) -> pd.DataFrame:
    """The combinations to run, one row each: parameters in schema order, then swept options.

    ``options`` maps engine options to their lists of values (see
    :func:`option_values`); those with more than one value become columns.
    """
    swept = {k: v for k, v in (options or {}).items() if len(v) > 1}
    _check_grid_size(_known_sizes(strategy, grid) | {k: len(v) for k, v in swept.items()})
    values: dict[str, list[Any]] = dict(normalise_grid(strategy, grid))
    values.update({k: [np.nan if x is None else x for x in v] for k, v in swept.items()})
    sizes = [len(v) for v in values.values()]
    total = _check_grid_size(dict(zip(values, sizes, strict=True)))
    idx = np.indices(sizes).reshape(len(sizes), total)
    kinds = {p.name: p.type for p in strategy.params}
    kinds |= {k: option_specs.spec(k).py_type for k in swept}
    cols = {
        name: np.asarray(vals, dtype=object if kinds[name] is str else None)[idx[i]]
        for i, (name, vals) in enumerate(values.items())
    }
    keep = np.ones(total, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for cond, _msg in strategy.constraints:
            keep &= np.broadcast_to(np.asarray(cond(cols), dtype=bool), (total,))
        after_constraints = int(keep.sum())
        if where is not None and str(where).strip():
            cond = compile_condition(str(where), set(values), what="where")
            keep &= np.broadcast_to(np.asarray(cond(cols), dtype=bool), (total,))
    if not keep.any():
        if where and after_constraints:
            raise ConfigError(
                f"where {where!r} filters out every combination ({after_constraints:,} in the grid)"
            )
        texts = " and ".join(c.text for c, _ in strategy.constraints)
        raise ConfigError(
            f"{strategy.name}: no combination of the grid satisfies {texts} ({total:,} tried)"
        )
    rows = np.flatnonzero(keep)
    if samples is not None:
        if int(samples) < 1:
            raise ConfigError(f"samples: must be >= 1 (got {samples!r})")
        if int(samples) < len(rows):
            rng = np.random.default_rng(0 if seed is None else int(seed))
            rows = np.sort(rng.choice(rows, size=int(samples), replace=False))
    frame = pd.DataFrame({name: col[rows] for name, col in cols.items()}, index=range(len(rows)))
    for name, kind in kinds.items():
        if kind is int:
            frame[name] = frame[name].astype(np.int64)
        elif kind is float:
            frame[name] = frame[name].astype(np.float64)
        elif kind is bool:
            frame[name] = frame[name].astype(bool)
    return frame
