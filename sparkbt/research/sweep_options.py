"""The options of a sweep, defined once: engine options (each a list of values) and sweep keywords.

``sweep()``, ``walk_forward()`` and the ``sweep`` / ``walk-forward`` commands
all build a :class:`SweepOptions` with :meth:`SweepOptions.parse`, so every
entry point accepts the same names, checks them the same way and fails before
any candle is read. Engine options other than ``gates`` may hold several values
(a sweep runs each, see ``OptionSpec.sweeps``); ``where``, ``samples``, ``seed`` and the execution
keywords are single values.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sparkbt.engine.options import EXECUTORS, OPTIONS, SWEEP_OPTION_SPECS, Config
from sparkbt.errors import ConfigError
from sparkbt.research.grid import option_values

__all__ = [
    "EXECUTORS",
    "OPTION_NAMES",
    "SweepOptions",
    "default_max_memory",
    "parse_memory",
]

_RUN_NAMES = tuple(s.name for s in SWEEP_OPTION_SPECS if s.kind != "callable")
OPTION_NAMES: tuple[str, ...] = (*(s.name for s in OPTIONS), *_RUN_NAMES)
"""Every keyword :meth:`SweepOptions.parse` takes (the engine options, then the sweep keywords)."""
_UNITS = {
    "": 1,
    "B": 1,
    "K": 2**10,
    "KB": 2**10,
    "KIB": 2**10,
    "M": 2**20,
    "MB": 2**20,
    "MIB": 2**20,
    "G": 2**30,
    "GB": 2**30,
    "GIB": 2**30,
    "T": 2**40,
    "TB": 2**40,
}


def parse_memory(value: int | float | str) -> int:
    """Bytes from ``2GB``, ``500MB``, ``1.5G`` or a number of bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        out = int(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(value))
        unit = m.group(2).upper() if m else ""
        if not m or unit not in _UNITS:
            raise ConfigError(f"max_memory: expected a size like 2GB or 500MB (got {value!r})")
        out = int(float(m.group(1)) * _UNITS[unit])
    if out <= 0:
        raise ConfigError(f"max_memory: must be > 0 (got {value!r})")
    return out


def default_max_memory() -> int:
    """A quarter of physical RAM (psutil if present, else sysconf), at least 256 MiB."""
    try:
        import psutil

        total = int(psutil.virtual_memory().total)
    except ImportError:  # pragma: no cover - psutil is optional
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = 8 * 2**30
    return max(total // 4, 256 * 2**20)


def _canonical_where(where: str) -> str:
    """One spelling of a condition (``fast<slow`` and ``fast  <  slow`` alike), for the sweep id."""
    try:
        return ast.unparse(ast.parse(where.strip(), mode="eval"))
    except SyntaxError:
        return " ".join(where.split())  # compile_condition reports the error


def _whole(name: str, value: Any, low: int) -> int | None:
    """One whole number >= ``low`` (or None): sweep keywords are never grids."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise ConfigError(f"{name}: expected one whole number (got {value!r})")
    try:
        out = int(value)
    except ValueError:
        raise ConfigError(f"{name}: expected one whole number (got {value!r})") from None
    if out < low:
        raise ConfigError(f"{name}: must be >= {low} (got {value!r})")
    return out


@dataclass(frozen=True)
class SweepOptions:
    """Checked options of a sweep; build it with :meth:`parse`."""

    engine: dict[str, list[Any]]  # each option that sweeps -> its values (one or more)
    fixed: dict[str, Any] = field(default_factory=dict)  # the others (gates), checked
    where: str | None = None  # canonical spelling
    samples: int | None = None
    seed: int | None = None
    max_memory: int | None = None  # bytes; None: a quarter of RAM
    workers: int | None = None  # None: the CPU count
    executor: str = "local"
    scheduler: Any = None
    chunk_size: int | None = None

    @classmethod
    def parse(cls, **values: Any) -> SweepOptions:
        """Check every option in :data:`OPTION_NAMES` (missing ones take their defaults)."""
        unknown = sorted(set(values) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"unexpected sweep option(s): {', '.join(unknown)}")
        v = {s.name: s.default for s in (*OPTIONS, *SWEEP_OPTION_SPECS)} | values
        where = v.get("where")
        if where is not None and not isinstance(where, str):
            raise ConfigError(f"where: expected one condition like 'fast < slow' (got {where!r})")
        workers = _whole("workers", v.get("workers"), 1)
        chunk_size = _whole("chunk_size", v.get("chunk_size"), 1)
        samples = _whole("samples", v.get("samples"), 1)
        seed = _whole("seed", v.get("seed"), 0)
        engine = option_values({s.name: v[s.name] for s in OPTIONS if s.sweeps})
        fixed = {s.name: v[s.name] for s in OPTIONS if not s.sweeps}
        checked = Config(**{k: vals[0] for k, vals in engine.items()}, **fixed)
        memory = v.get("max_memory")
        executor = v["executor"]
        if executor not in EXECUTORS:
            raise ConfigError(f"executor: expected {' or '.join(EXECUTORS)} (got {executor!r})")
        return cls(
            engine=engine,
            fixed={name: getattr(checked, name) for name in fixed},
            where=_canonical_where(where) if where is not None and where.strip() else None,
            samples=samples,
            seed=seed,
            max_memory=parse_memory(memory) if memory is not None else None,
            workers=workers,
            executor=executor,
            scheduler=v.get("scheduler"),
            chunk_size=chunk_size,
        )

    @classmethod
    def split(cls, keywords: dict[str, Any]) -> tuple[SweepOptions, dict[str, Any]]:
        """The options among ``keywords`` (checked) and the rest (the strategy's grid)."""
        ours = {k: v for k, v in keywords.items() if k in OPTION_NAMES}
        return cls.parse(**ours), {k: v for k, v in keywords.items() if k not in OPTION_NAMES}

    def replace(self, **engine: Any) -> SweepOptions:
        """These options with engine options fixed to one value each (checked again)."""
        return SweepOptions.parse(**{**self.keywords(), **engine})

    @property
    def swept(self) -> dict[str, list[Any]]:
        """The engine options given more than one value."""
        return {k: v for k, v in self.engine.items() if len(v) > 1}

    def base_config(self) -> Config:
        """The config of the first value of each engine option (swept ones override it per row)."""
        return Config(**{k: v[0] for k, v in self.engine.items()}, **self.fixed)

    def single_config(self, what: str) -> Config:
        """The one config these options describe; ``what`` names the caller in the error."""
        many = self.swept
        if many:
            name, vals = next(iter(many.items()))
            raise ConfigError(
                f"{what}: engine options take one value each (got {len(vals)} for {name}: "
                f"{', '.join(map(str, vals))})"
            )
        return self.base_config()

    def memory_budget(self) -> int:
        return self.max_memory if self.max_memory is not None else default_max_memory()

    def worker_count(self) -> int:
        return self.workers if self.workers is not None else os.cpu_count() or 1

    def keywords(self) -> dict[str, Any]:
        """Keyword arguments of ``sweep()`` that give these options back."""
        engine = {k: v[0] if len(v) == 1 else list(v) for k, v in self.engine.items()}
        return {
            **engine,
            **{k: dict(v) if isinstance(v, dict) else v for k, v in self.fixed.items()},
            **{k: getattr(self, k) for k in _RUN_NAMES},
        }
