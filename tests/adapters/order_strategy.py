"""A small strategy that returns orders, written to a file for the CLI, service and web tests.

Every ``every`` bars: a buy limit 1% under the close (good for ten bars), then three
bars later an OCO pair: a sell stop 5% under and a sell limit 3% over that close. On
the packaged ETHUSDT 4h sample its orders end filled (maker limits, taker stops),
cancelled (oco), expired and rejected (a sell while flat, reduce only).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["BRACKET", "write_bracket"]

BRACKET = '''
import pandas as pd


def bracket(candles: pd.DataFrame, every: int = 200) -> pd.DataFrame:
    """A buy limit under the close, then an OCO stop-loss / take-profit pair."""
    rows = []
    idx = candles.index
    for i in range(0, len(candles) - 5, every):
        c = float(candles["close"].iloc[i])
        expire = idx[min(i + 10, len(idx) - 1)]
        rows.append({"timestamp": idx[i], "side": "buy", "qty": 1.0, "type": "limit",
                     "price": c * 0.99, "tif": "gtd", "expire": expire})
        rows.append({"timestamp": idx[i + 3], "side": "sell", "qty": 1.0, "type": "stop",
                     "stop": c * 0.95, "oco": i})
        rows.append({"timestamp": idx[i + 3], "side": "sell", "qty": 1.0, "type": "limit",
                     "price": c * 1.03, "oco": i})
    return pd.DataFrame(rows)
'''


def write_bracket(folder: Path) -> Path:
    """Write :data:`BRACKET` to ``folder/bracket.py`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bracket.py"
    path.write_text(BRACKET)
    return path
