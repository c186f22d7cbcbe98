"""Market data: the candle schema and readers, timeframes, the local candle store, synthetic
candles and exchange feeds. Imports nothing of sparkbt but ``sparkbt.errors``.
"""
