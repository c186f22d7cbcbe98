"""What the paper-session tests of the service share: approved param sets and candles
stored around now (the store feed, with stored candles final at once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

import sparkbt as sb
from sparkbt.data.store import CandleStore
from sparkbt.platform.proposals import GuardStore
from sparkbt.research.gates import evaluate
from sparkbt.research.paramsets import version_of
from sparkbt.research.policy import default_policy
from tests.research.policies import PASSING

STORE_FEED = {"SPARKBT_PAPER_FEED": "store", "SPARKBT_PAPER_SETTLE": "-1000000"}
"""Service environment: sessions follow the store and take every stored candle as final."""


def approve(
    db: Path,
    name: str,
    pair: str | list[str] = "BTCTRY",
    strategy: str = "sma_cross",
    params: dict[str, Any] | None = None,
    timeframe: str = "1m",
) -> str:
    """Propose and approve a version of param set ``name``; its version id."""
    policy = default_policy()
    version = version_of(
        name, strategy, pair, timeframe, {"fast": 2, "slow": 5} if params is None else params
    )
    with GuardStore(db) as store:
        p = store.propose(version, None, "alice", "paper")
        store.record_evaluation(p.id, evaluate(policy, PASSING), policy.sha256, PASSING)
        store.approve(p.id, "bob", "approver", "ok")
    return version.id


def propose_only(db: Path, name: str, pair: str = "BTCTRY") -> None:
    """A param set with a proposal and no approved version."""
    policy = default_policy()
    version = version_of(name, "sma_cross", pair, "1m", {"fast": 2, "slow": 5})
    with GuardStore(db) as store:
        p = store.propose(version, None, "alice", "paper")
        store.record_evaluation(p.id, evaluate(policy, PASSING), policy.sha256, PASSING)


def store_candles(
    data: Path, symbols: tuple[str, ...] = ("BTCTRY",), before: int = 120, after: int = 20
) -> pd.Timestamp:
    """1m candles from ``before`` minutes before now to ``after`` after; now's minute."""
    now = pd.Timestamp.now(tz="UTC").floor("1min")
    start = now - pd.Timedelta(minutes=before)
    for k, sym in enumerate(symbols):
        frame = sb.synthetic_candles(
            n=before + after, timeframe="1m", start=start.isoformat(), seed=11 + k, symbol=sym
        )
        CandleStore(data).merge(sym, "1m", frame)
    return now


def more_candles(data: Path, symbol: str, n: int, seed: int = 99) -> None:
    """``n`` more 1m candles of ``symbol`` after the last stored one."""
    store = CandleStore(data)
    last = store.read(symbol, "1m").index[-1]
    frame = sb.synthetic_candles(
        n=n,
        timeframe="1m",
        start=(last + pd.Timedelta(minutes=1)).isoformat(),
        seed=seed,
        symbol=symbol,
    )
    store.merge(symbol, "1m", frame)
