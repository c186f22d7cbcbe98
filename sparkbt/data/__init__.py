"""Market data: the candle schema and readers, the local candle store, synthetic candles
and exchange feeds. Imports nothing of sparkbt but ``sparkbt.errors``.
"""
