"""sparkbt: vectorized backtesting research toolkit.

>>> import sparkbt as sb
>>> candles = sb.load_candles("candles.csv")            # doctest: +SKIP
>>> res = sb.backtest(candles, "sma_cross", fast=10, slow=30, fees=0.001)  # doctest: +SKIP
>>> res.stats["sharpe"], res.trades, res.equity         # doctest: +SKIP
"""

from sparkbt.data.candles import load_candles
from sparkbt.data.panel import Panel
from sparkbt.data.panel_load import load_panel
from sparkbt.data.store import CandleStore, resolve_candles, sample_candles
from sparkbt.data.synthetic import synthetic_candles
from sparkbt.engine.options import ENGINE_OPTIONS, Config
from sparkbt.engine.registry import Param, constraint, get_strategy, list_strategies
from sparkbt.engine.result import BacktestResult
from sparkbt.engine.simulate import backtest
from sparkbt.engine.stats import STAT_KEYS
from sparkbt.errors import (
    CandleError,
    ConfigError,
    DependencyError,
    EvidenceNotFound,
    InputError,
    PortfolioError,
    SparkbtError,
    StrategyError,
    WeightsError,
)
from sparkbt.evidence import read_evidence
from sparkbt.research.sweep import sweep
from sparkbt.research.verify import VerifyResult, verify
from sparkbt.research.walkforward import walk_forward
from sparkbt.version import ENGINE_VERSION, __version__

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
    "Panel",
    "Param",
    "PortfolioError",
    "SparkbtError",
    "StrategyError",
    "VerifyResult",
    "WeightsError",
    "__version__",
    "backtest",
    "constraint",
    "get_strategy",
    "list_strategies",
    "load_candles",
    "load_panel",
    "read_evidence",
    "resolve_candles",
    "sample_candles",
    "sweep",
    "synthetic_candles",
    "verify",
    "walk_forward",
]
