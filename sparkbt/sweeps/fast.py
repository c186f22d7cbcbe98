"""Signal rows of many parameter combinations at once, for strategies' fast sweep paths.

The import path of :mod:`sparkbt.research.fast_rows` for strategy modules.
"""

from sparkbt.research.fast_rows import crossover_rows, sweep_rows

__all__ = ["crossover_rows", "sweep_rows"]
