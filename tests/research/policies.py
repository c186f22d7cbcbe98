"""Policies the guard tests run under."""

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
