"""How the packaged sample candles (``sparkbt/_data``) are made: seeded, synthetic.

Every sample shares the 4h calendar of ETHUSDT (from 2022-01-01 00:00 UTC, 6,000
bars), so together they make a small USDT portfolio: BTCUSDT and SOLUSDT cover
all of it; AVAXUSDT is listed later (its last 3,000 bars) and misses one day of
candles (an exchange halt), so a portfolio on the samples meets both kinds of gap.
Each is :func:`~sparkbt.data.synthetic.synthetic_candles` with the arguments in
:data:`SAMPLE_SPECS`, the same bit for bit on every machine; readers mark them
``source="sample"`` and ``synthetic=True`` (:func:`sparkbt.data.store.sample_candles`).

``python -m sparkbt.data.sample_data [FOLDER]`` writes the sample files missing
from FOLDER (default: the package's own); existing files are never rewritten, so
the bytes (and the run ids that hash them) stay.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from sparkbt.data.synthetic import synthetic_candles

__all__ = ["SAMPLE_SPECS", "SAMPLE_TIMEFRAME", "sample_frame", "write_samples"]

SAMPLE_TIMEFRAME = "4h"
_START = "2022-01-01"
_BARS = 6000

SAMPLE_SPECS: dict[str, dict[str, Any]] = {
    "ETHUSDT": {"price": 3700.0, "seed": 6},
    "BTCUSDT": {"price": 47000.0, "seed": 21},
    "SOLUSDT": {"price": 170.0, "seed": 22},
    "AVAXUSDT": {"price": 110.0, "seed": 23, "first": 3000, "halt": (4200, 4206)},
}
"""Per symbol: start price and seed; ``first`` bar of its listing and a ``halt`` of
bars [lo, hi) without candles, both on the shared calendar."""


def sample_frame(symbol: str) -> pd.DataFrame:
    """The canonical candles of one sample, generated from its spec."""
    spec = SAMPLE_SPECS[symbol]
    first = spec.get("first", 0)
    frame = synthetic_candles(
        _BARS - first,
        timeframe=SAMPLE_TIMEFRAME,
        start=str(pd.Timestamp(_START) + first * pd.Timedelta(SAMPLE_TIMEFRAME)),
        price=spec["price"],
        seed=spec["seed"],
        symbol=symbol,
    )
    if "halt" in spec:
        lo, hi = (bar - first for bar in spec["halt"])
        frame = pd.concat([frame.iloc[:lo], frame.iloc[hi:]])
    return frame


def write_samples(folder: Path) -> list[Path]:
    """Write each sample file missing from ``folder``; the paths written."""
    written = []
    for symbol in SAMPLE_SPECS:
        path = folder / f"{symbol}-{SAMPLE_TIMEFRAME}.parquet"
        if path.exists():
            continue
        frame = sample_frame(symbol)
        frame.attrs = {"synthetic": True}  # the file says so itself, wherever it is copied
        frame.to_parquet(
            path,
            engine="pyarrow",
            compression="zstd",
            compression_level=19,
            use_dictionary=False,
            column_encoding=dict.fromkeys(frame.columns, "BYTE_STREAM_SPLIT"),
        )
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1] / "_data"
    for p in write_samples(target):
        print(p)
