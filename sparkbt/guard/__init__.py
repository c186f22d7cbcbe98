"""Guardrails: a param change is approved only past a policy of gates on its evidence.

``assess`` (the evidence of a param change and its gates), ``runs`` (its
stored runs: full window, out-of-sample, neighbours), ``trials`` (the variants
counted for the deflated Sharpe ratio and PBO), ``policy`` (TOML
gates and defaults), ``evaluate`` (the pure decision),
``overfit`` (deflated Sharpe ratio, PBO by CSCV), ``lookahead`` (signals on
truncated candles), ``stored`` (evidence from stored runs and sweeps),
``paramsets`` (content-hashed versions and their diffs), ``proposals`` (the
approval workflow's store, ``GuardStore``), ``records`` (proposals, approvals,
param sets and history as records), ``tables`` (their SQLite tables and rows),
``users`` (API keys with roles), ``cli`` (``check_cli``: offline checks;
``proposals_cli``: the service's client).
"""

from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.records import Conflict, Forbidden, NotFound
from sparkbt.platform.users import ROLES, User, UserStore
from sparkbt.research.assess import Assessment, assess
from sparkbt.research.gates import (
    Evidence,
    GateResult,
    decision,
    decision_record,
    evaluate,
    param_changes,
)
from sparkbt.research.lookahead import LookaheadResult, lookahead_check
from sparkbt.research.overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe_ratio,
)
from sparkbt.research.paramsets import (
    FieldChange,
    ParamSetVersion,
    diff,
    max_param_change,
    version_of,
)
from sparkbt.research.policy import GATES, Policy, default_policy, load_policy, loads_policy

__all__ = [
    "GATES",
    "ROLES",
    "Assessment",
    "Conflict",
    "Evidence",
    "FieldChange",
    "Forbidden",
    "GateResult",
    "GuardStore",
    "LookaheadResult",
    "NotFound",
    "ParamSetVersion",
    "Policy",
    "User",
    "UserStore",
    "assess",
    "decision",
    "decision_record",
    "default_policy",
    "deflated_sharpe_ratio",
    "diff",
    "evaluate",
    "expected_max_sharpe",
    "load_policy",
    "loads_policy",
    "lookahead_check",
    "max_param_change",
    "param_changes",
    "pbo_cscv",
    "probabilistic_sharpe_ratio",
    "version_of",
]
