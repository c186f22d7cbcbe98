"""The folds of a portfolio walk-forward: windows of the panel's union bars.

Fold ``k`` trains on union bars ``[s, s+train)`` and tests on the ``test`` bars
after them. Each window holds the symbols with a candle in it (a symbol listed
later joins the folds from its first candle on): the training sweep runs on the
training window, and the best combination is backtested on the training and test
bars with the test bars traded (fresh cash at the first test bar, the training
bars as warm-up), the run ``backtest(window, strategy, trade_from=first test
bar)`` gives for the symbols with a candle in the test window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sparkbt.data.panel import Panel
from sparkbt.data.timeframes import time_index
from sparkbt.engine.options import Config
from sparkbt.engine.registry import Strategy
from sparkbt.research.portfolio_jobs import PortfolioJob

__all__ = ["bars_frame", "oos_portfolio_fold", "panel_window"]


def bars_frame(panel: Panel) -> pd.DataFrame:
    """An empty frame on the panel's union bars, carrying its timeframe (to count bars)."""
    frame = pd.DataFrame(index=panel.index)
    frame.attrs["timeframe"] = panel.timeframe
    return frame


def panel_window(panel: Panel, lo: int, hi: int, traded_from: pd.Timestamp | None = None) -> Panel:
    """Union bars ``[lo, hi)`` of ``panel``: the symbols with a candle there, cut to them.

    With ``traded_from``, a symbol needs a candle at or after it (the bars it is traded on).
    """
    first, last = panel.index[lo], panel.index[hi - 1]
    need = first if traded_from is None else traded_from
    frames: dict[str, pd.DataFrame] = {}
    for sym, frame in panel.frames.items():
        ts = time_index(frame)
        cut = frame.loc[(ts >= first) & (ts <= last)]
        if len(cut) and time_index(cut)[-1] >= need:
            cut.attrs = dict(frame.attrs)
            frames[sym] = cut
    return Panel(frames, panel.timeframe, dict(panel.attrs))


def oos_portfolio_fold(
    panel: Panel,
    strat: Strategy,
    config: Config,
    params: dict[str, Any],
    start: int,
    n_train: int,
    n_test: int,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Stats of ``params`` traded on the test bars (training bars as warm-up), and the symbols."""
    test_from = panel.index[start + n_train]
    window = panel_window(panel, start, start + n_train + n_test, traded_from=test_from)
    combo = pd.DataFrame({p: [v] for p, v in params.items()}, index=[0])
    first = int(window.index.searchsorted(test_from))
    return PortfolioJob(window, strat, config, combo, start=first).run(0, 1), window.symbols
