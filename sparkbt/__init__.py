"""sparkbt: vectorized backtesting research toolkit.

>>> import sparkbt as sb
>>> candles = sb.load_candles("candles.csv")            # doctest: +SKIP
>>> res = sb.backtest(candles, "sma_cross", fast=10, slow=30, fees=0.001)  # doctest: +SKIP
>>> res.stats["sharpe"], res.trades, res.equity         # doctest: +SKIP
"""

from .candles import load_candles
from .config import ENGINE_OPTIONS, Config
from .errors import (
    CandleError,
    ConfigError,
    DependencyError,
    EvidenceNotFound,
    InputError,
    SparkbtError,
    StrategyError,
)
from .evidence import read_evidence
from .registry import Param, constraint, get_strategy, list_strategies
from .result import BacktestResult
from .simulate import backtest
from .stats import STAT_KEYS
from .store import CandleStore, resolve_candles, sample_candles
from .sweeps import sweep, walk_forward
from .synthetic import synthetic_candles
from .version import ENGINE_VERSION, __version__

__all__ = [
    "ENGINE_OPTIONS",
    "ENGINE_VERSION",
    "STAT_KEYS",
    "BacktestResult",
    "CandleError",
    "CandleStore",
    "Config",
    "ConfigError",
    "DependencyError",
    "EvidenceNotFound",
    "InputError",
    "Param",
    "SparkbtError",
    "StrategyError",
    "__version__",
    "backtest",
    "constraint",
    "get_strategy",
    "list_strategies",
    "load_candles",
    "read_evidence",
    "resolve_candles",
    "sample_candles",
    "sweep",
    "synthetic_candles",
    "walk_forward",
]
