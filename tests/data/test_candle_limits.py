"""Candle files that cannot be candles fail fast and in one line: a garbage timestamp (with
its line number), a device instead of a file, a file over the size limit."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from sparkbt.data import candles
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


def test_a_device_is_refused_before_it_is_read() -> None:
    with pytest.raises(CandleError, match=r"^/dev/zero: not a regular file"):
        load_candles("/dev/zero")


def test_a_file_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _csv(tmp_path / "big.csv", -1, "", rows=100)
    monkeypatch.setattr(candles, "MAX_FILE_BYTES", 1000)
    with pytest.raises(CandleError) as err:
        load_candles(path)
    assert str(err.value).startswith(f"{path}: {path.stat().st_size:,} bytes, larger than the")
    assert "\n" not in str(err.value)
