"""The engine: options, the strategy registry, simulation kernels, statistics and results.

Imports only ``sparkbt.data`` (candles), ``sparkbt.evidence`` and ``sparkbt.errors``.
"""
