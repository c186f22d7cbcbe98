"""Guardrails: a param change is approved only past a policy of gates on its evidence.

``policy`` (TOML gates and defaults), ``evaluate`` (the pure decision),
``overfit`` (deflated Sharpe ratio, PBO by CSCV), ``lookahead`` (signals on
truncated candles), ``stored`` (evidence from stored runs and sweeps), ``cli``.
"""

from .evaluate import Evidence, GateResult, decision, decision_record, evaluate, param_changes
from .lookahead import LookaheadResult, lookahead_check
from .overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
)
from .policy import GATES, Policy, default_policy, load_policy, loads_policy

__all__ = [
    "GATES",
    "Evidence",
    "GateResult",
    "LookaheadResult",
    "Policy",
    "decision",
    "decision_record",
    "default_policy",
    "deflated_sharpe_ratio",
    "evaluate",
    "expected_max_sharpe",
    "load_policy",
    "loads_policy",
    "lookahead_check",
    "param_changes",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
]
