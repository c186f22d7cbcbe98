"""Drift watch: a session's running figures against its param set's approval evidence.

The approval evidence is the assessment a version was approved on
(:meth:`sparkbt.research.assess.Assessment.to_dict`): its out-of-sample run
(Sharpe, max drawdown, trades over the held-out bars, total return) and the
policy's ``max_drawdown`` gate. A session warns (once per kind, recorded in
its journal) when

- ``max_drawdown``: its drawdown is past the policy's ``max_drawdown`` limit;
- ``drawdown``: its drawdown is deeper than the worst the out-of-sample run had;
- ``trade_rate``: its trade count is outside 3 Poisson standard deviations of
  the out-of-sample rate times its bars (too many always; too few once 9 or
  more were expected);
- ``sharpe``: after 30 bars, its annualised Sharpe is more than 3 standard
  errors (Lo 2002, ``sqrt((1 + S^2/2) / years)``) below the out-of-sample one;
- ``average_trade``: after 5 closed trades, their mean return is more than 3
  standard errors below the out-of-sample average trade.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sparkbt.research.paper.spec import SessionSpec

__all__ = ["Drift", "drift_warnings", "running_figures"]

_DAY_NS = 86_400 * 10**9


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Drift:
    """What the evidence made plausible (None: the evidence does not say)."""

    oos_sharpe: float | None = None
    oos_max_drawdown: float | None = None
    oos_trades: float | None = None
    oos_bars: float | None = None
    oos_total_return: float | None = None
    max_drawdown_limit: float | None = None

    @staticmethod
    def summary(approval: Mapping[str, Any]) -> dict[str, Any]:
        """The figures kept from an assessment record (or such a summary, as it is)."""
        if "oos_sharpe" in approval:
            return {k: approval.get(k) for k in Drift.__dataclass_fields__}
        split = approval.get("split") or {}
        oos = split.get("out_of_sample") or {}
        data = approval.get("data") or {}
        bars = None
        if _num(data.get("candles")) is not None and _num(split.get("split_bar")) is not None:
            bars = float(data["candles"]) - float(split["split_bar"])
        limit = None
        for gate in approval.get("gates") or []:
            if gate.get("gate") == "max_drawdown":
                limit = _num(gate.get("limit"))
        return {
            "oos_sharpe": _num(oos.get("sharpe")),
            "oos_max_drawdown": _num(oos.get("max_drawdown")),
            "oos_trades": _num(oos.get("total_trades")),
            "oos_bars": bars,
            "oos_total_return": _num(oos.get("total_return")),
            "max_drawdown_limit": limit,
        }

    @classmethod
    def of(cls, spec: SessionSpec) -> Drift:
        return cls(**(spec.approval or {}))


def running_figures(equity: np.ndarray, result: Any, cash: float) -> dict[str, Any]:
    """Bars, return, drawdown (now and worst), trades (all, closed) and their mean return."""
    if not len(equity):
        return {"bars": 0, "trades": 0, "closed_trades": 0}
    peak = np.maximum.accumulate(np.maximum(equity, cash))
    dd = 1.0 - equity / peak
    trades = result.trade_records
    closed = trades[trades["is_open"] == 0]
    return {
        "bars": len(equity),
        "equity": float(equity[-1]),
        "total_return": float(equity[-1] / cash - 1.0),
        "drawdown": float(dd[-1]),
        "max_drawdown": float(dd.max()),
        "trades": len(trades),
        "closed_trades": len(closed),
        "average_trade": float(closed["ret"].mean()) if len(closed) else None,
    }


def _sharpe(equity: np.ndarray, cash: float, per_year: float) -> float | None:
    rets = np.diff(np.concatenate([[cash], equity])) / np.concatenate([[cash], equity[:-1]])
    sd = float(np.std(rets, ddof=1)) if len(rets) > 1 else 0.0
    return None if sd == 0.0 else float(np.mean(rets)) / sd * math.sqrt(per_year)


def drift_warnings(
    drift: Drift, equity: np.ndarray, result: Any, spec: SessionSpec
) -> list[dict[str, Any]]:
    """The warnings the running figures give now (see the module's list)."""
    if not len(equity):
        return []
    config = result.config
    cash = float(config["cash"])
    fig = running_figures(equity, result, cash)
    out: list[dict[str, Any]] = []

    def warn(kind: str, message: str, value: float, limit: float) -> None:
        out.append({"kind": kind, "message": message, "value": value, "limit": limit})

    dd = fig["max_drawdown"]
    if drift.max_drawdown_limit is not None and dd > drift.max_drawdown_limit:
        warn(
            "max_drawdown",
            f"drawdown {dd:.2%} is past the policy's max_drawdown {drift.max_drawdown_limit:.2%}",
            dd,
            drift.max_drawdown_limit,
        )
    if drift.oos_max_drawdown is not None and dd > drift.oos_max_drawdown:
        warn(
            "drawdown",
            f"drawdown {dd:.2%} is deeper than the out-of-sample worst "
            f"{drift.oos_max_drawdown:.2%}",
            dd,
            drift.oos_max_drawdown,
        )
    if drift.oos_trades is not None and drift.oos_bars:
        lam = drift.oos_trades / drift.oos_bars * fig["bars"]
        n = fig["trades"]
        hi, lo = lam + 3 * math.sqrt(lam) + 3, lam - 3 * math.sqrt(lam)
        if n > hi or (lam >= 9 and n < lo):
            warn(
                "trade_rate",
                f"{n} trades in {fig['bars']} bars; the out-of-sample rate gives {lam:.1f}",
                float(n),
                lam,
            )
    per_year = float(config.get("year_days") or 365) * _DAY_NS / _period(spec)
    if drift.oos_sharpe is not None and fig["bars"] >= 30:
        live = _sharpe(equity, cash, per_year)
        se = math.sqrt((1 + drift.oos_sharpe**2 / 2) / (fig["bars"] / per_year))
        if live is not None and live < drift.oos_sharpe - 3 * se:
            warn(
                "sharpe",
                f"Sharpe {live:.2f} is below the out-of-sample {drift.oos_sharpe:.2f} "
                f"by more than 3 standard errors ({se:.2f})",
                live,
                drift.oos_sharpe - 3 * se,
            )
    _average_trade(drift, result, warn)
    return out


def _period(spec: SessionSpec) -> int:
    from sparkbt.data.timeframes import parse_timeframe

    return int(parse_timeframe(spec.timeframe).value)


def _average_trade(drift: Drift, result: Any, warn: Any) -> None:
    trades = result.trade_records
    closed = trades[trades["is_open"] == 0]["ret"]
    if len(closed) < 5 or not drift.oos_trades or drift.oos_total_return is None:
        return
    if drift.oos_total_return <= -1:
        return
    expected = (1 + drift.oos_total_return) ** (1 / drift.oos_trades) - 1
    sd = float(np.std(closed, ddof=1))
    if sd == 0.0:
        return
    t = (float(np.mean(closed)) - expected) / (sd / math.sqrt(len(closed)))
    if t < -3:
        warn(
            "average_trade",
            f"average trade {float(np.mean(closed)):.3%} is below the "
            f"out-of-sample {expected:.3%} (t = {t:.1f})",
            float(np.mean(closed)),
            expected,
        )
