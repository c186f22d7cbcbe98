"""The decision: a policy's gates evaluated on the evidence of a param change.

Evidence is a few numbers taken from what the engine already computed (a
report's ``stats``, a walk-forward summary, :mod:`sparkbt.research.overfit`,
:mod:`sparkbt.research.lookahead`); nothing here recomputes a statistic. Each
gate passes, fails with its action (``warn`` or ``block``) or is skipped when
its value is missing or undefined. A change with any ``block`` is ``blocked``;
otherwise it is ``pending`` approval.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sparkbt.errors import ConfigError
from sparkbt.research.policy import Gate, Policy

__all__ = [
    "Evidence",
    "GateResult",
    "decision",
    "decision_record",
    "evaluate",
    "evidence_from_stats",
    "param_changes",
]


@dataclass(frozen=True)
class Evidence:
    """What the gates look at; None means not available (the gate is skipped).

    ``reasons`` maps a gate name to why its value is missing (the skip message).
    """

    max_drawdown: float | None = None
    total_trades: float | None = None
    oos_sharpe: float | None = None
    is_sharpe: float | None = None
    dsr: float | None = None
    pbo: float | None = None
    lookahead_passed: bool | None = None
    param_changes: Mapping[str, float] | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, evidence: Evidence | Mapping[str, Any]) -> Evidence:
        if isinstance(evidence, Evidence):
            return evidence
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(evidence) - set(known))
        if unknown:
            raise ConfigError(
                f"evidence: unknown field(s) {', '.join(unknown)} (fields: {', '.join(known)})"
            )
        return cls(**evidence)


@dataclass(frozen=True)
class GateResult:
    """One gate's outcome: ``result`` is pass, warn, block or skip."""

    gate: str
    result: str
    value: float | bool | None
    limit: float | None
    action: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a non-finite value (an infinite change) becomes None."""
        out = dataclasses.asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            out["value"] = None
        return out


def _number(value: Any) -> float | None:
    """A finite float, or None for missing/undefined (None, NaN, inf, non-numbers)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _value(gate: Gate, ev: Evidence) -> tuple[float | bool | None, str, str]:
    """The gate's value, a label for messages, and why it is missing (when it is)."""
    name = gate.name
    if name == "max_drawdown":
        return _number(ev.max_drawdown), "max drawdown", "no max drawdown in the evidence"
    if name == "min_trades":
        return _number(ev.total_trades), "trades", "no trade count in the evidence"
    if name == "min_oos_sharpe":
        return _number(ev.oos_sharpe), "out-of-sample Sharpe", "no out-of-sample Sharpe"
    if name == "max_oos_degradation":
        oos, ins = _number(ev.oos_sharpe), _number(ev.is_sharpe)
        if oos is None or ins is None:
            return None, "", "needs in-sample and out-of-sample Sharpe"
        if ins <= 0:
            return None, "", f"in-sample Sharpe {_fmt(ins)} is not positive: no edge to degrade"
        return 1.0 - oos / ins, f"OOS Sharpe {_fmt(oos)} vs in-sample {_fmt(ins)}: degradation", ""
    if name == "min_dsr":
        return _number(ev.dsr), "deflated Sharpe ratio", "no deflated Sharpe ratio"
    if name == "max_pbo":
        return _number(ev.pbo), "probability of backtest overfitting", "no sweep to estimate PBO"
    if name == "lookahead":
        passed = ev.lookahead_passed
        return (None if passed is None else bool(passed)), "", "no look-ahead check"
    if name == "max_param_change":
        if ev.param_changes is None:
            return None, "", "no approved version to compare with"
        numbers = {k: _number(v) for k, v in ev.param_changes.items()}
        changes = {k: abs(v) if v is not None else math.inf for k, v in numbers.items()}
        if not changes:
            return 0.0, "no numeric parameter changed:", ""
        worst = max(changes, key=lambda k: changes[k])
        return changes[worst], f"largest relative change ({worst})", ""
    raise ConfigError(f"unknown gate {name!r}")  # pragma: no cover - policies are validated


def _check(gate: Gate, ev: Evidence) -> GateResult:
    spec = gate.spec
    value, label, missing = _value(gate, ev)
    if value is None:
        reason = ev.reasons.get(gate.name) or missing
        return GateResult(gate.name, "skip", None, gate.limit, gate.action, reason)
    if spec.compare == "check":
        ok = bool(value)
        msg = "signals match on truncated data" if ok else "signals use later bars"
        if not ok and ev.reasons.get(gate.name):
            msg = ev.reasons[gate.name]
        return GateResult(gate.name, "pass" if ok else gate.action, ok, None, gate.action, msg)
    assert gate.limit is not None
    v = float(value)
    ok = v <= gate.limit if spec.compare == "max" else v >= gate.limit
    sign = ("<=" if ok else ">") if spec.compare == "max" else (">=" if ok else "<")
    shown = "inf" if math.isinf(v) else _fmt(v)
    msg = f"{label} {shown} {sign} {_fmt(gate.limit)}"
    return GateResult(gate.name, "pass" if ok else gate.action, v, gate.limit, gate.action, msg)


def evaluate(policy: Policy, evidence: Evidence | Mapping[str, Any]) -> list[GateResult]:
    """Every gate of ``policy`` on ``evidence``, in policy order. Pure: no I/O."""
    ev = Evidence.of(evidence)
    return [_check(g, ev) for g in policy.gates]


def decision(results: list[GateResult]) -> str:
    """``"blocked"`` if any gate blocks, else ``"pending"`` (awaiting approval)."""
    return "blocked" if any(r.result == "block" for r in results) else "pending"


def decision_record(policy: Policy, results: list[GateResult]) -> dict[str, Any]:
    """The decision with the policy's hash and every gate result, JSON-ready."""
    return {
        "decision": decision(results),
        "policy": {"source": policy.source, "sha256": policy.sha256},
        "gates": [r.to_dict() for r in results],
    }


def evidence_from_stats(stats: Mapping[str, Any], **extra: Any) -> Evidence:
    """Evidence from a report's ``stats`` (max drawdown, total trades) plus ``extra`` fields."""
    return Evidence.of(
        {"max_drawdown": stats.get("max_drawdown"), "total_trades": stats.get("total_trades")}
        | extra
    )


def param_changes(new: Mapping[str, Any], approved: Mapping[str, Any]) -> dict[str, float]:
    """``|new - old| / |old|`` of every numeric (non-bool) parameter in both; inf from 0."""
    out: dict[str, float] = {}
    for name, old in approved.items():
        cur = new.get(name)
        a, b = _number(old), _number(cur)
        if a is None or b is None or isinstance(old, bool) or isinstance(cur, bool):
            continue
        if a == b:
            out[name] = 0.0
        else:
            out[name] = abs(b - a) / abs(a) if a != 0 else math.inf
    return out
