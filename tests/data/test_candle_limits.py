"""A garbage timestamp in a candle file fails fast, in one line, with its line number."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparkbt.data.candles import MAX_TIMESTAMP_CHARS, load_candles
from sparkbt.errors import CandleError


def _csv(path: Path, bad_row: int, bad: str, rows: int = 2000) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    for i in range(rows):
        ts = f"2024-01-{1 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z"
        lines.append(f"{bad if i == bad_row else ts},1,2,0.5,1.5,10")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_megabytes_of_garbage_in_one_timestamp_fail_fast(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", 500, "X" * 2_000_000)
    t0 = time.monotonic()
    proc = subprocess.run(  # a subprocess, so the old quadratic parse cannot hang the suite
        [sys.executable, "-m", "sparkbt", "run", "--data", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert time.monotonic() - t0 < 30
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"error: {path}: line 502: column 'timestamp' is not a date/time "
        f"(2000000 characters, at most {MAX_TIMESTAMP_CHARS})"
    )


def test_a_short_bad_timestamp_still_names_its_line(tmp_path: Path) -> None:
    path = _csv(tmp_path / "bad.csv", 7, "not-a-date", rows=50)
    with pytest.raises(CandleError, match=r"line 9: column 'timestamp' is not a date/time"):
        load_candles(path)
