"""Strategy registry: discovery, parameter schemas from signatures, validation.

A strategy is a plain function ``(candles, **params) -> pd.Series`` of target
positions in [-1, 1]. Its parameter schema (name, type, default, valid range)
comes from the signature; ranges are declared with ``Annotated``::

    def sma_cross(
        candles: pd.DataFrame,
        fast: Annotated[int, Param(ge=1, help="fast SMA window")] = 10,
        slow: Annotated[int, Param(ge=2, help="slow SMA window")] = 30,
    ) -> pd.Series: ...

and conditions across parameters with ``@constraint("fast < slow")``.

Strategies are found in the built-in ``strategies/`` folder shipped with
sparkbt, in ``./strategies`` of the working directory, in
``$SPARKBT_STRATEGIES_DIR``, or named directly as ``path/to/file.py:function``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any, NamedTuple, TypeVar, get_args, get_origin, get_type_hints

import numpy as np
import pandas as pd

from sparkbt.engine.expr import Condition, compile_condition
from sparkbt.engine.options import RESERVED_NAMES
from sparkbt.errors import StrategyError, did_you_mean

__all__ = [
    "Param",
    "ParamSpec",
    "Signals",
    "Strategy",
    "constraint",
    "get_strategy",
    "list_strategies",
]

_TYPES = {int: "int", float: "float", bool: "bool", str: "str"}
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """Range and help text of a strategy parameter, for ``Annotated[...]``."""

    ge: float | None = None
    le: float | None = None
    help: str = ""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a strategy: derived from its signature."""

    name: str
    type: type
    default: Any
    ge: float | None = None
    le: float | None = None
    help: str = ""

    def coerce(self, value: Any, strategy: str) -> Any:
        """Convert CLI/JSON input to the declared type and check its range."""
        where = f"{strategy}: parameter '{self.name}'"
        expected = f"{'an' if self.type is int else 'a'} {_TYPES[self.type]}{self.range_text()}"
        if self.type is bool:
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, str) and value.lower() in {"true", "1", "yes", "false", "0", "no"}:
                return value.lower() in {"true", "1", "yes"}
            raise StrategyError(f"{where} must be true or false (got {value!r})")
        out: int | float | str
        try:
            if isinstance(value, (bool, np.bool_)):
                raise TypeError
            if self.type is int:
                if isinstance(value, str):
                    value = value.strip()
                    out = int(value)
                else:
                    fval = float(value)
                    if not fval.is_integer():
                        raise ValueError
                    out = int(fval)
            elif self.type is float:
                out = float(value)
                if not np.isfinite(out):
                    raise ValueError
            else:
                out = str(value)
        except (TypeError, ValueError):
            raise StrategyError(f"{where} must be {expected} (got {value!r})") from None
        if isinstance(out, str):  # bounds are for numbers (refused on text when declared)
            return out
        if (self.ge is not None and out < self.ge) or (self.le is not None and out > self.le):
            raise StrategyError(f"{where} must be {expected} (got {value!r})")
        return out

    def range_text(self) -> str:
        if self.ge is not None and self.le is not None:
            return f" in [{_num(self.ge)}, {_num(self.le)}]"
        if self.ge is not None:
            return f" >= {_num(self.ge)}"
        if self.le is not None:
            return f" <= {_num(self.le)}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": _TYPES[self.type],
            "default": self.default,
            "min": self.ge,
            "max": self.le,
            "help": self.help,
        }


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def constraint(expr: str, message: str | None = None) -> Callable[[_F], _F]:
    """Declare a condition across parameters, e.g. ``@constraint("fast < slow")``."""

    def mark(fn: _F) -> _F:
        existing = list(getattr(fn, "__sparkbt_constraints__", ()))
        fn.__sparkbt_constraints__ = (*existing, (expr, message))  # type: ignore[attr-defined]
        return fn

    return mark


class Signals(NamedTuple):
    """What a strategy returned: targets and optional per-bar stop fractions (NaN = none),
    or an orders frame (``orders``; the targets are then all NaN)."""

    target: pd.Series
    sl_stop: pd.Series | None = None
    tp_stop: pd.Series | None = None
    orders: pd.DataFrame | None = None


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: the function, its parameter schema and its origin."""

    name: str
    func: Callable[..., pd.Series]
    params: tuple[ParamSpec, ...]
    constraints: tuple[tuple[Condition, str], ...] = ()
    origin: str = ""
    source_sha256: str = ""
    doc: str = field(default="", compare=False)
    # "targets": ``(candles, ...)`` returns target positions of one symbol;
    # "weights": ``(panel, ...)`` returns a weights frame over several symbols
    kind: str = "targets"

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    def validate(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Coerce and check user parameters; fill defaults. Raises StrategyError."""
        specs = {p.name: p for p in self.params}
        for key in params:
            if key not in specs:
                hint = did_you_mean(key, specs)
                known = ", ".join(specs) or "none"
                raise StrategyError(
                    f"{self.name}: unknown parameter '{key}' (parameters: {known}){hint}"
                )
        out = {
            name: spec.coerce(params[name], self.name) if name in params else spec.default
            for name, spec in specs.items()
        }
        for cond, message in self.constraints:
            if not bool(cond(out)):
                shown = ", ".join(f"{n}={out[n]!r}" for n in sorted(cond.names))
                raise StrategyError(
                    f"{self.name}: {message or cond.text} is required (got {shown})"
                )
        return out

    def signals(self, candles: pd.DataFrame, params: Mapping[str, Any]) -> pd.Series:
        """Validated parameters -> the strategy's target series, checked for shape and range."""
        return self.evaluate(candles, params).target

    def evaluate(self, candles: pd.DataFrame, params: Mapping[str, Any]) -> Signals:
        """Validated parameters -> targets and any per-bar stop columns, all checked.

        A strategy returns a Series (or array) of targets, a DataFrame with a
        ``target`` column and optional ``sl_stop`` / ``tp_stop`` columns, or an
        orders frame (``side`` and ``qty`` columns, one row per order).
        """
        raw = self.func(candles, **params)
        sl = tp = None
        if isinstance(raw, pd.DataFrame) and {"side", "qty"} <= set(raw.columns):
            none = pd.Series(np.nan, index=candles.index, name="target")
            return Signals(none, orders=raw)  # checked against the bars by engine.orders
        if isinstance(raw, pd.DataFrame):
            if "target" in raw.columns:
                extra = sorted(set(raw.columns) - {"target", "sl_stop", "tp_stop"})
                if extra:
                    raise StrategyError(
                        f"{self.name}: unexpected column(s) {', '.join(map(str, extra))} "
                        "(a strategy frame has target and optional sl_stop, tp_stop)"
                    )
                sl = self._stop_column(raw, "sl_stop", candles)
                tp = self._stop_column(raw, "tp_stop", candles)
                raw = raw["target"]
            elif raw.shape[1] == 1:
                raw = raw.iloc[:, 0]
            else:
                raise StrategyError(
                    f"{self.name}: returned a frame without a 'target' column "
                    f"(columns: {', '.join(map(str, raw.columns))})"
                )
        values = self._column(raw, "targets", candles)
        bad = np.flatnonzero(np.abs(values) > 1.0)  # NaN compares False: allowed
        if len(bad):
            row = int(bad[0])
            raise StrategyError(
                f"{self.name}: target at row {row + 1} is {float(values[row])!r}; "
                "targets must be in [-1, 1] (NaN means 'no opinion')"
            )
        return Signals(pd.Series(values, index=candles.index, name="target"), sl, tp)

    def _column(self, raw: Any, what: str, candles: pd.DataFrame) -> np.ndarray:
        if isinstance(raw, np.ndarray):
            raw = pd.Series(raw.reshape(-1) if raw.ndim == 2 and 1 in raw.shape else raw)
        if not isinstance(raw, pd.Series):
            raise StrategyError(
                f"{self.name}: must return a pandas Series of targets (got {type(raw).__name__})"
            )
        if len(raw) != len(candles):
            raise StrategyError(
                f"{self.name}: returned {len(raw)} {what} for {len(candles)} candles"
            )
        if raw.dtype == np.float64:
            return raw.to_numpy()
        return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)

    def _stop_column(
        self, frame: pd.DataFrame, name: str, candles: pd.DataFrame
    ) -> pd.Series | None:
        if name not in frame.columns:
            return None
        values = self._column(frame[name], f"{name} values", candles)
        bad = np.flatnonzero(~np.isnan(values) & ~((values > 0.0) & (values < 1.0)))
        if len(bad):
            row = int(bad[0])
            raise StrategyError(
                f"{self.name}: {name} at row {row + 1} is {float(values[row])!r}; "
                "stops must be fractions in (0, 1) (NaN means none)"
            )
        return pd.Series(values, index=candles.index, name=name)

    def schema(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "doc": self.doc,
            "origin": self.origin,
            "params": [p.to_dict() for p in self.params],
            "constraints": [c.text for c, _ in self.constraints],
            "kind": self.kind,
        }


def _spec_from_function(name: str, fn: Callable[..., Any], origin: str, sha: str) -> Strategy:
    sig = inspect.signature(fn)
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception:  # unresolved forward references: fall back to raw annotations
        hints = {}
    params: list[ParamSpec] = []
    first = next(iter(sig.parameters), None)
    if first is None:
        raise StrategyError(f"{origin}: strategy {name} must take the candles (or panel) first")
    kind = "weights" if first == "panel" else "targets"
    for i, (pname, p) in enumerate(sig.parameters.items()):
        if i == 0:
            continue  # the candles, or the panel of a weights strategy
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise StrategyError(f"{origin}: strategy {name} may not take *args/**kwargs")
        if pname in RESERVED_NAMES:
            raise StrategyError(
                f"{origin}: strategy {name} declares a parameter '{pname}', which is an engine "
                f"or run option; rename it (reserved: {', '.join(sorted(RESERVED_NAMES))})"
            )
        if p.default is inspect.Parameter.empty:
            raise StrategyError(f"{origin}: parameter '{pname}' of {name} needs a default")
        ann = hints.get(pname, p.annotation)
        meta = Param()
        if get_origin(ann) is Annotated:
            base, *extra = get_args(ann)
            meta = next((m for m in extra if isinstance(m, Param)), meta)
        else:
            base = ann
        if base not in _TYPES:
            base = type(p.default) if type(p.default) in _TYPES else float
        if base not in (int, float) and (meta.ge is not None or meta.le is not None):
            raise StrategyError(
                f"{origin}: parameter '{pname}' of {name} is a {_TYPES[base]}; "
                "only int and float parameters take ge/le bounds"
            )
        params.append(ParamSpec(pname, base, p.default, meta.ge, meta.le, meta.help))
    allowed = {p.name for p in params}
    constraints = tuple(
        (compile_condition(expr, allowed, what=f"{name} constraint"), msg or expr)
        for expr, msg in getattr(fn, "__sparkbt_constraints__", ())
    )
    doc = inspect.getdoc(fn) or ""
    return Strategy(name, fn, tuple(params), constraints, origin, sha, doc.split("\n\n")[0], kind)


def _load_module(path: Path) -> ModuleType:
    """Import a strategy file by path; an edited file (new mtime) is imported afresh."""
    stamp = f"{path}:{path.stat().st_mtime_ns}"
    modname = "sparkbt_user_strategies." + hashlib.sha1(stamp.encode()).hexdigest()[:12]
    if modname in sys.modules:
        return sys.modules[modname]
    spec = importlib.util.spec_from_file_location(modname, path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"{path}: cannot load as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[modname]
        raise StrategyError(f"{path}: failed to import ({type(exc).__name__}: {exc})") from None
    return module


def _strategies_in_file(path: Path) -> dict[str, Strategy]:
    module = _load_module(path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    names = getattr(module, "__all__", None) or [path.stem]
    found = {}
    for fname in names:
        fn = getattr(module, fname, None)
        if callable(fn):
            found[fname] = _spec_from_function(fname, fn, str(path), sha)
    return found


def builtin_dir() -> Path:
    """The built-in strategies: ``sparkbt/strategies`` when installed, else the repository's.

    The repository keeps them in its top-level ``strategies/`` folder; installing
    maps that folder to the ``sparkbt.strategies`` package, so no top-level
    ``strategies`` package lands in site-packages.
    """
    here = Path(__file__).resolve().parents[1]
    installed = here / "strategies"
    return installed if installed.is_dir() else here.parent / "strategies"


def _search_dirs() -> list[Path]:
    dirs = [builtin_dir(), Path.cwd() / "strategies"]
    if os.environ.get("SPARKBT_STRATEGIES_DIR"):
        dirs.append(Path(os.environ["SPARKBT_STRATEGIES_DIR"]))
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r.is_dir() and r not in seen:
            seen.add(r)
            out.append(r)
    return out


def _discover(dirs: tuple[Path, ...]) -> dict[str, Strategy]:
    """Strategies of the folders; rescanned when a folder's or file's mtime changes."""
    stamps = tuple((p, p.stat().st_mtime_ns) for d in dirs for p in [d, *sorted(d.glob("*.py"))])
    return _discover_cached(dirs, stamps)


@lru_cache(maxsize=8)
def _discover_cached(
    dirs: tuple[Path, ...], stamps: tuple[tuple[Path, int], ...]
) -> dict[str, Strategy]:
    found: dict[str, Strategy] = {}
    for d in dirs:
        for path in sorted(d.glob("*.py")):
            if path.name.startswith("_"):
                continue
            found.update(_strategies_in_file(path))  # later folders override built-ins
    return found


def list_strategies() -> list[Strategy]:
    """Every discoverable strategy, sorted by name."""
    return sorted(_discover(tuple(_search_dirs())).values(), key=lambda s: s.name)


def get_strategy(ref: str | Callable[..., pd.Series] | Strategy) -> Strategy:
    """A strategy by name, by ``path/to/file.py:function``, or from a function object."""
    if isinstance(ref, Strategy):
        return ref
    if callable(ref):
        try:
            src = inspect.getsourcefile(ref) or "<function>"
            sha = hashlib.sha256(inspect.getsource(ref).encode()).hexdigest()
        except (OSError, TypeError):
            src, sha = "<function>", ""
        return _spec_from_function(ref.__name__, ref, src, sha)
    text = str(ref).strip()
    if ":" in text and text.split(":", 1)[0].endswith(".py"):
        file_part, func = text.rsplit(":", 1)
        path = Path(file_part).expanduser().resolve()
        if not path.is_file():
            raise StrategyError(f"{file_part}: strategy file not found")
        found = _strategies_in_file_any(path, func)
        return found
    known = _discover(tuple(_search_dirs()))
    if text in known:
        return known[text]
    snake = snake_case(text)
    if snake in known:
        return known[snake]
    hint = did_you_mean(text, known)
    raise StrategyError(f"unknown strategy '{text}' (available: {', '.join(sorted(known))}){hint}")


def snake_case(name: str) -> str:
    """``smaCross``, ``SMACross``, ``sma-cross`` and ``SMA Cross`` -> ``sma_cross``."""
    text = re.sub(r"[\s\-]+", "_", name.strip())
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return text.lower()


def _strategies_in_file_any(path: Path, func: str) -> Strategy:
    module = _load_module(path)
    fn = getattr(module, func, None)
    if not callable(fn):
        names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        hint = did_you_mean(func, names)
        raise StrategyError(f"{path}: no function '{func}'{hint}")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return _spec_from_function(func, fn, str(path), sha)
