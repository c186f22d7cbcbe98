"""The exception tree of sparkbt.

::

    SparkbtError                      anything sparkbt raises on purpose
    ├── InputError (ValueError)       bad input from the user: one clear line
    │   ├── CandleError               candle file/frame unreadable or invalid
    │   ├── StrategyError             unknown strategy, bad parameter name/value
    │   ├── ConfigError               bad cash/fees/slippage/direction/grid/...
    │   └── EvidenceNotFound          no stored run/sweep with that id or path
    └── DependencyError (ImportError) an optional extra is not installed

Every message names the file, row, field or value at fault and what was
expected, so the CLI can print it as a single line and exit 2.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

__all__ = [
    "CandleError",
    "ConfigError",
    "DependencyError",
    "EvidenceNotFound",
    "InputError",
    "SparkbtError",
    "StrategyError",
]


class SparkbtError(Exception):
    """Base class of every error sparkbt raises deliberately."""


class InputError(SparkbtError, ValueError):
    """Bad input from the user (CLI exit code 2, HTTP 4xx)."""


class CandleError(InputError):
    """Candles could not be read or failed validation."""


class StrategyError(InputError):
    """Unknown strategy, unknown parameter, or a parameter value out of range."""


class ConfigError(InputError):
    """Bad simulation or sweep configuration."""


class EvidenceNotFound(InputError):
    """No stored evidence matches the requested id or path.

    ``root`` is the evidence root searched for an id, when there was one (callers say
    where that root came from).
    """

    root: Path | None = None


class DependencyError(SparkbtError, ImportError):
    """An optional dependency (extra) is missing."""


def require(module: str, extra: str) -> ModuleType:
    """Import an optional dependency or explain which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DependencyError(
            f'{module} is not installed: install it with `pip install "sparkbt[{extra}]"`'
        ) from exc
