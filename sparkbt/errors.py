"""The exception tree of sparkbt.

::

    SparkbtError                      anything sparkbt raises on purpose
    ├── InputError (ValueError)       bad input from the user: one clear line
    │   ├── CandleError               candle file/frame unreadable or invalid
    │   ├── StrategyError             unknown strategy, bad parameter name/value
    │   ├── ConfigError               bad cash/fees/slippage/direction/grid/...
    │   ├── EvidenceNotFound          no stored run/sweep with that id or path
    │   └── Refusal                   a request the application refuses; ``kind`` says why
    │       ├── NotFound              kind not_found: no job/proposal/param set with that id
    │       ├── Forbidden             kind forbidden: the caller may not do this
    │       ├── Conflict              kind conflict: the state does not allow it now
    │       └── TooMany               kind too_many: the job queue or the caller's share is full
    └── DependencyError (ImportError) an optional extra is not installed

Every message names the file, row, field or value at fault and what was
expected, so the CLI can print it as a single line and exit 2. A
:class:`Refusal`'s ``kind`` is one of :data:`REFUSAL_KINDS`; each adapter maps
kinds to what it answers (the HTTP adapter to a status code, once).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "REFUSAL_KINDS",
    "CandleError",
    "ConfigError",
    "Conflict",
    "DependencyError",
    "EvidenceNotFound",
    "Forbidden",
    "InputError",
    "NotFound",
    "PortfolioError",
    "Refusal",
    "SparkbtError",
    "StrategyError",
    "TooMany",
    "WeightsError",
    "did_you_mean",
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


class PortfolioError(CandleError, ConfigError):
    """A portfolio's candles cannot share one cash as given: no symbol, a symbol unknown
    or given twice, mixed timeframes or quote currencies (a CandleError and a ConfigError)."""


class WeightsError(StrategyError, ConfigError):
    """A weights frame a portfolio refuses: a row over 100% gross, a symbol not in the
    candles, a weight outside [-1, 1] (a StrategyError and a ConfigError)."""


class EvidenceNotFound(InputError):
    """No stored evidence matches the requested id or path.

    ``root`` is the evidence root searched for an id, when there was one (callers say
    where that root came from).
    """

    root: Path | None = None


REFUSAL_KINDS = (
    "invalid",  # the request's content is wrong (a field, a value)
    "malformed",  # the request cannot be read at all (encoding)
    "unauthorized",  # no valid credential
    "forbidden",  # a valid caller who may not do this
    "not_found",  # nothing with that id or name
    "conflict",  # the current state does not allow it
    "too_large",  # the body is over the limit
    "too_many",  # the job queue (or the caller's share of it) is full: retry later
)
"""Why a request is refused; every :class:`Refusal` has one of them."""


class Refusal(InputError):
    """A request refused by the application: a ``kind`` and a one-line ``detail``.

    ``principal`` is the caller when known (for the audit line of the refusal);
    ``body`` the decoded request it refused, when there is one.
    """

    kind = "invalid"

    def __init__(
        self,
        detail: str,
        kind: str | None = None,
        *,
        principal: Any = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        if kind is not None:
            if kind not in REFUSAL_KINDS:
                raise ValueError(f"kind: expected one of {', '.join(REFUSAL_KINDS)} (got {kind!r})")
            self.kind = kind
        self.detail, self.principal, self.body = detail, principal, body


class NotFound(Refusal):
    """No job, proposal, version or param set with that id or name."""

    kind = "not_found"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail, **context)


class Forbidden(Refusal):
    """The caller may not do this (a role, self-approval, an override without reason)."""

    kind = "forbidden"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail, **context)


class Conflict(Refusal):
    """The job, proposal or param set is not in a state that allows this."""

    kind = "conflict"

    def __init__(self, detail: str, **context: Any) -> None:
        super().__init__(detail, **context)


class TooMany(Refusal):
    """The job queue is full (``reason`` queue_full) or the caller has as many jobs queued
    as one user may (``reason`` user_cap); worth retrying after ``retry_after`` seconds."""

    kind = "too_many"
    retry_after = 10

    def __init__(
        self, detail: str, reason: str, retry_after: int | None = None, **context: Any
    ) -> None:
        super().__init__(detail, **context)
        self.reason = reason
        if retry_after is not None:
            self.retry_after = retry_after


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


def did_you_mean(
    word: str, choices: Iterable[str], *, n: int = 1, show: Callable[[str], str] | None = None
) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` to ``word``, else ``""``.

    The one hint every unknown name gets; ``n`` closest names are listed (``"a, b"``),
    each written by ``show`` (default: in single quotes).
    """
    near = difflib.get_close_matches(word, list(choices), n=n)
    if not near:
        return ""
    shown = show or (lambda s: f"'{s}'")
    return f"; did you mean {', '.join(shown(s) for s in near)}?"
