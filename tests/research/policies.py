"""Policies the guard tests run under, the evidence that passes the default one, and the
param-set versions they assess."""

from typing import Any

from sparkbt.research.paramsets import ParamSetVersion, version_of

LENIENT = """\
[gates.max_drawdown]
limit = 1.0
[gates.min_trades]
limit = 0
[gates.min_oos_sharpe]
limit = -100
[gates.min_dsr]
limit = 0.0
[gates.max_pbo]
limit = 1.0
"""
"""Every numeric gate at a limit any sample run passes: a proposal is pending, not blocked,
so the approval workflow itself is what a test sees (the look-ahead gate still applies)."""

PASSING = {
    "max_drawdown": 0.1,
    "total_trades": 120,
    "oos_sharpe": 1.2,
    "is_sharpe": 1.5,
    "dsr": 0.97,
    "pbo": 0.1,
    "lookahead_passed": True,
}
"""Evidence every gate of the default policy passes."""


def sma_version(fast: int = 12, slow: int = 40, **options: Any) -> ParamSetVersion:
    """A version of ``eth-sma-4h``: sma_cross on ETHUSDT 4h, fees 0.001 unless given."""
    options.setdefault("fees", 0.001)
    return version_of(
        "eth-sma-4h", "sma_cross", "ETHUSDT", "4h", {"fast": fast, "slow": slow}, options
    )
