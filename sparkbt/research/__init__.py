"""Research on top of the engine: parameter sweeps, walk-forward, overfitting statistics
(deflated Sharpe, PBO), look-ahead checks, guard policies and the assessment of a param change.
"""
