"""Guard policies: which gates a param change must pass, read from a TOML file.

One table per gate; gates a file does not name keep their defaults::

    [gates.max_drawdown]
    limit = 0.25
    action = "block"      # or "warn"

    [gates.lookahead]     # takes only an action
    action = "block"

======================= ======= ======= =====================================================
gate                    limit   action  passes when
======================= ======= ======= =====================================================
``max_drawdown``        0.25    block   max drawdown (fraction) <= limit
``min_trades``          30      block   total trades >= limit
``min_oos_sharpe``      0.5     block   out-of-sample Sharpe >= limit
``max_oos_degradation`` 0.5     warn    1 − OOS Sharpe / in-sample Sharpe <= limit
``min_dsr``             0.9     block   deflated Sharpe ratio >= limit
``max_pbo``             0.5     block   probability of backtest overfitting <= limit
``lookahead``           —       block   signals do not change when later bars are removed
``max_param_change``    0.5     warn    largest relative change of a numeric parameter
                                        vs the approved version <= limit
======================= ======= ======= =====================================================

A policy's ``sha256`` hashes the canonical JSON of its effective gates (limits
as floats), so equal policies hash equally however their files are written.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparkbt.errors import ConfigError, did_you_mean

__all__ = ["ACTIONS", "GATES", "Gate", "GateSpec", "Policy", "default_policy", "load_policy"]

ACTIONS = ("block", "warn")
MAX_POLICY_BYTES = 1024 * 1024
"""The largest policy file or text read (1 MiB); a policy needs a few hundred bytes."""
MAX_POLICY_DEPTH = 8
"""The deepest ``[``/``{`` nesting a policy's text may have; its tables need 2."""
MAX_LIMIT_DIGITS = 30
"""The most digits an integer limit may have (larger ones cannot be a float or printed)."""


@dataclass(frozen=True)
class GateSpec:
    """A known gate: how its value compares with the limit, defaults and the limit's range."""

    name: str
    compare: str  # "max": value <= limit, "min": value >= limit, "check": passed or not
    limit: float | None
    action: str
    help: str
    lo: float | None = None
    hi: float | None = None


GATES: dict[str, GateSpec] = {
    g.name: g
    for g in (
        GateSpec("max_drawdown", "max", 0.25, "block", "max drawdown (fraction)", 0.0, 1.0),
        GateSpec("min_trades", "min", 30.0, "block", "total trades", 0.0),
        GateSpec("min_oos_sharpe", "min", 0.5, "block", "out-of-sample Sharpe"),
        GateSpec(
            "max_oos_degradation", "max", 0.5, "warn", "fall of OOS Sharpe below in-sample", 0.0
        ),
        GateSpec("min_dsr", "min", 0.9, "block", "deflated Sharpe ratio", 0.0, 1.0),
        GateSpec("max_pbo", "max", 0.5, "block", "probability of backtest overfitting", 0.0, 1.0),
        GateSpec("lookahead", "check", None, "block", "signals use no later bars"),
        GateSpec("max_param_change", "max", 0.5, "warn", "largest relative parameter change", 0.0),
    )
}
"""Every gate, in the order policies list and evaluate them."""


@dataclass(frozen=True)
class Gate:
    """A gate as a policy sets it."""

    name: str
    limit: float | None
    action: str

    @property
    def spec(self) -> GateSpec:
        return GATES[self.name]


@dataclass(frozen=True)
class Policy:
    """The effective gates (every known gate, in :data:`GATES` order) and where they came from."""

    gates: tuple[Gate, ...]
    source: str = field(default="default", compare=False)

    def gate(self, name: str) -> Gate:
        return next(g for g in self.gates if g.name == name)

    def to_dict(self) -> dict[str, Any]:
        """``{"gates": {name: {"limit": ..., "action": ...}}}`` (no limit for ``lookahead``)."""
        out: dict[str, Any] = {}
        for g in self.gates:
            out[g.name] = {"action": g.action} if g.limit is None else {"limit": g.limit}
            out[g.name]["action"] = g.action
        return {"gates": out}

    @property
    def sha256(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_toml(self) -> str:
        """The policy as TOML text that :func:`loads_policy` reads back to an equal policy."""
        lines = [f"# sparkbt guard policy (sha256 {self.sha256})"]
        for g in self.gates:
            lines += ["", f"[gates.{g.name}]"]
            if g.limit is not None:
                lines.append(f"limit = {g.limit!r}")
            lines.append(f'action = "{g.action}"')
        return "\n".join(lines) + "\n"


def default_policy() -> Policy:
    """Every gate at its default limit and action."""
    return Policy(tuple(Gate(s.name, s.limit, s.action) for s in GATES.values()))


def _near(word: str, choices: list[str]) -> str:
    return did_you_mean(word, choices)


def _gate(name: str, table: Any, where: str) -> Gate:
    spec = GATES[name]
    at = f"{where}: [gates.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{at} must be a table with limit and action (got {table!r})")
    keys = ["action"] if spec.limit is None else ["limit", "action"]
    for key in table:
        if key == "limit" and spec.limit is None:
            raise ConfigError(f"{at} takes no limit (only action)")
        if key not in keys:
            raise ConfigError(
                f"{at} unknown key '{key}' (keys: {', '.join(keys)}){_near(key, keys)}"
            )
    limit = spec.limit
    if "limit" in table:
        value = table["limit"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{at} limit must be a number (got {value!r})")
        if isinstance(value, int) and abs(value) >= 10**MAX_LIMIT_DIGITS:
            raise ConfigError(f"{at} limit must have at most {MAX_LIMIT_DIGITS} digits")
        limit = float(value)
        bad = (
            not math.isfinite(limit)
            or (spec.lo is not None and limit < spec.lo)
            or (spec.hi is not None and limit > spec.hi)
        )
        if bad:
            rng = (
                f"in [{spec.lo:g}, {spec.hi:g}]"
                if spec.hi is not None and spec.lo is not None
                else f">= {spec.lo:g}"
                if spec.lo is not None
                else "finite"
            )
            raise ConfigError(f"{at} limit must be {rng} (got {value!r})")
    action = table.get("action", spec.action)
    if action not in ACTIONS:
        raise ConfigError(f'{at} action must be "block" or "warn" (got {action!r})')
    return Gate(name, limit, action)


def policy_from_dict(data: dict[str, Any], source: str = "<dict>") -> Policy:
    """A policy from parsed TOML (``{"gates": {name: {...}}}``), validated."""
    for key in data:
        if key != "gates":
            hint = _near(key, ["gates"])
            raise ConfigError(
                f"{source}: unknown key '{key}' (a policy has [gates.NAME] tables){hint}"
            )
    tables = data.get("gates", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: 'gates' must be a table of [gates.NAME] tables")
    names = list(GATES)
    for name in tables:
        if name not in GATES:
            raise ConfigError(
                f"{source}: unknown gate '{name}' (gates: {', '.join(names)}){_near(name, names)}"
            )
    defaults = default_policy()
    gates = tuple(
        _gate(g.name, tables[g.name], source) if g.name in tables else g for g in defaults.gates
    )
    return Policy(gates, source)


def _depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of ``text``, counted before parsing, so a
    deeply nested file never reaches the recursive parser (brackets inside
    strings count too, which only refuses texts no policy needs)."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(depth - 1, 0)
    return deepest


def loads_policy(text: str, source: str = "<string>") -> Policy:
    """A policy from TOML text; ``source`` names it in error messages.

    Text over :data:`MAX_POLICY_BYTES`, nesting deeper than :data:`MAX_POLICY_DEPTH`
    and integers too long to convert are refused in one line before they can
    exhaust memory or the recursion limit.
    """
    if len(text) > MAX_POLICY_BYTES:
        raise ConfigError(f"{source}: policy is larger than {MAX_POLICY_BYTES // 1024} KiB")
    if _depth(text) > MAX_POLICY_DEPTH:
        raise ConfigError(f"{source}: policy nests deeper than {MAX_POLICY_DEPTH} levels")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{source}: invalid TOML: {first}") from None
    return policy_from_dict(data, source)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file. Raises ConfigError with one line naming the file.

    At most :data:`MAX_POLICY_BYTES` + 1 bytes are read, so a device or pipe
    that never ends (``/dev/zero``) is refused as too large, not read to exhaustion.
    """
    p = Path(path).expanduser()
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: policy file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read policy file ({exc.strerror or exc})") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise ConfigError(f"{p}: policy file is larger than {MAX_POLICY_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: cannot read policy file (not UTF-8 text: {exc.reason})") from None
    return loads_policy(text, str(p))
