"""Stored evidence for the verify tests: a small candle store, strategy files, helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import sparkbt as sb
from sparkbt.evidence import write_parquet

BARS = 600

CROSS = """
import pandas as pd


def my_cross(candles: pd.DataFrame, fast: int = 5, slow: int = 20) -> pd.Series:
    close = candles["close"]
    return (close.rolling(fast).mean() > close.rolling(slow).mean()).astype(float)
"""

ORDERS = """
import pandas as pd


def my_orders(candles: pd.DataFrame, every: int = 40) -> pd.DataFrame:
    ts = candles.index[::every]
    rows = []
    for i, t in enumerate(ts):
        rows.append({"timestamp": t, "side": "buy" if i % 2 == 0 else "sell", "qty": 1.0})
    return pd.DataFrame(rows)
"""


def make_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A candle store of two symbols (not the packaged samples' candles) and strategy files."""
    data = tmp_path / "data"
    cs = sb.CandleStore(data)
    for seed, sym in enumerate(("ETHUSDT", "BTCUSDT"), start=40):
        cs.merge(sym, "4h", sb.synthetic_candles(BARS, start="2022-01-01", seed=seed, symbol=sym))
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "my_cross.py").write_text(CROSS)
    (strategies / "my_orders.py").write_text(ORDERS)
    monkeypatch.setenv("SPARKBT_STRATEGIES_DIR", str(strategies))
    return data


def candles(data: Path, symbol: str = "ETHUSDT") -> pd.DataFrame:
    return sb.CandleStore(data).read(symbol, "4h")


def edit_table(path: Path, column: str, row: int) -> tuple[float, float]:
    """Rewrite a Parquet table with one float of ``column`` moved by one unit in the last place."""
    table = pq.read_table(path).to_pandas()
    old = float(table.at[row, column])
    new = float(np.nextafter(old, np.inf))
    table.at[row, column] = new
    write_parquet(table, path)
    return old, new


def edit_json(path: Path, *keys: str, value: object) -> None:
    doc = json.loads(path.read_text())
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    path.write_text(json.dumps(doc, indent=2))


def touch_later(path: Path) -> None:
    """Move a file's mtime on, so caches keyed by it see the edit."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
