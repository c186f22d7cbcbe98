"""Candle readers, normalisation and every validation error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import sparkbt as sb
from sparkbt.data.timeframes import format_timeframe, parse_timeframe
from tests.conftest import make_candles


@pytest.fixture
def base() -> pd.DataFrame:
    return make_candles([100.0, 101.0, 99.5, 102.0, 103.5], freq="4h")


def _raw(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.reset_index()
    out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def test_reads_csv_parquet_feather_and_dataframe(tmp_path, base):
    _raw(base).to_csv(tmp_path / "c.csv", index=False)
    base.to_parquet(tmp_path / "c.parquet")
    base.reset_index().to_feather(tmp_path / "c.feather")
    for src in (tmp_path / "c.csv", tmp_path / "c.parquet", tmp_path / "c.feather", base):
        got = sb.load_candles(src)
        pd.testing.assert_frame_equal(got, base, check_freq=False)
        assert got.attrs["timeframe"] == "4h"
        assert str(got.index.tz) == "UTC" and got.index.name == "timestamp"


@pytest.mark.parametrize("unit,scale", [("s", 1), ("ms", 1000)])
def test_epoch_timestamps_and_column_spellings(base, unit, scale):
    raw = pd.DataFrame(
        {
            "t": base.index.asi8 // 10**9 * scale,
            "O": base["open"],
            "High": base["high"].to_numpy(),
            "l": base["low"].to_numpy(),
            "Close": base["close"].to_numpy(),
            "vol": base["volume"].to_numpy(),
        }
    ).reset_index(drop=True)
    got = sb.load_candles(raw)
    assert (got.index == base.index).all()
    np.testing.assert_array_equal(got["close"], base["close"])


def test_naive_datetime_index_is_utc_and_timeframe_declared(base):
    naive = base.tz_convert(None)
    got = sb.load_candles(naive, timeframe="240M")
    assert str(got.index.tz) == "UTC" and got.attrs["timeframe"] == "4h"


def test_timeframes():
    assert format_timeframe(parse_timeframe("240m")) == "4h"
    assert format_timeframe(parse_timeframe("1D")) == "1d"
    assert format_timeframe(parse_timeframe("1w")) == "1w"
    with pytest.raises(sb.CandleError, match="timeframe: expected a number and a unit"):
        parse_timeframe("hourly")


def _csv(tmp_path, frame: pd.DataFrame, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.drop(columns=["close"]), "missing column 'close'"),
        (lambda d: d.drop(columns=["timestamp"]), "missing column 'timestamp'"),
        (lambda d: d.assign(close=[100, 101, np.nan, 102, 103]), r"line 4 .*'close' is missing"),
        (lambda d: d.assign(open=[100, 0, 99.5, 102, 103.5]), r"line 3 .*'open' must be > 0"),
        (lambda d: d.assign(high=[200, 50, 200, 200, 200]), r"line 3 .*'high' \(50.0\) is below"),
        (lambda d: d.assign(low=[1, 1, 1, 103, 1]), r"line 5 .*'low' \(103.0\) is above"),
        (lambda d: d.assign(volume=[1, 1, 1, 1, -1]), r"line 6 .*'volume' must be >= 0"),
        (lambda d: d.iloc[[0, 2, 1, 3, 4]], r"line 4 .*not sorted"),
        (lambda d: d.iloc[[0, 1, 1, 2, 3]], r"line 4 .*duplicate timestamp"),
        (lambda d: d.iloc[:0], "no candles"),
        (lambda d: d.assign(close=["1", "2", "x", "4", "5"]), r"line 4 .*'close' is not a number"),
        (
            lambda d: d.assign(
                timestamp=["2024-01-01", "nope", "2024-01-03", "2024-01-04", "2024-01-05"]
            ),
            r"line 3: column 'timestamp' is not",
        ),
        (
            lambda d: d.assign(timestamp=["2024-01-01", None, "2024-01-03", "2024-01-04", "x"]),
            r"line 3: column 'timestamp' is missing a value",
        ),
    ],
)
def test_bad_candles_name_file_line_and_column(tmp_path, base, mutate, match):
    """In a text file a problem is at "line N" of the file (the header is line 1)."""
    path = _csv(tmp_path, mutate(_raw(base)))
    with pytest.raises(sb.CandleError, match=match) as info:
        sb.load_candles(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "\n" not in msg and "row " not in msg
    assert isinstance(info.value, ValueError)


def test_line_numbers_count_blank_lines_and_frames_say_row(tmp_path, base):
    bad = _raw(base).assign(high=[200, 200, 200, 50, 200])
    text = bad.to_csv(index=False).splitlines()
    path = tmp_path / "blanks.csv"
    path.write_text("\n".join([text[0], text[1], "", "  ", *text[2:]]) + "\n")
    with pytest.raises(sb.CandleError, match=r"blanks.csv: line 7 \(2024-01-01T12:00:00Z\)"):
        sb.load_candles(path)
    with pytest.raises(sb.CandleError, match=r"<DataFrame>: row 4 .*'high'"):
        sb.load_candles(bad)
    bad.to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(sb.CandleError, match=r"bad.parquet: row 4 .*'high'"):
        sb.load_candles(tmp_path / "bad.parquet")


@pytest.mark.parametrize("decimal", [".", ","])
@pytest.mark.parametrize("name", ["semi.csv", "semi.csv.gz", "semi.txt"])
def test_semicolon_separated_files_are_read(tmp_path, base, decimal, name):
    """European spreadsheet exports: ';' between fields, often ',' as the decimal mark."""
    path = tmp_path / name
    _raw(base).to_csv(path, sep=";", decimal=decimal, index=False)
    if not name.endswith(".gz"):
        assert path.read_text().splitlines()[0] == "timestamp;open;high;low;close;volume"
        assert ("99,5" in path.read_text()) == (decimal == ",")
    pd.testing.assert_frame_equal(sb.load_candles(path), base, check_freq=False)


def test_tab_separated_and_error_lines_in_semicolon_files(tmp_path, base):
    _raw(base).to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    _raw(base).to_csv(tmp_path / "t.csv", sep="\t", index=False)
    for name in ("t.tsv", "t.csv"):
        pd.testing.assert_frame_equal(sb.load_candles(tmp_path / name), base, check_freq=False)
    path = tmp_path / "bad.csv"
    _raw(base).assign(low=[1, 1, 1, 103, 1]).to_csv(path, sep=";", decimal=",", index=False)
    with pytest.raises(sb.CandleError, match=r"bad.csv: line 5 .*'low' \(103.0\) is above"):
        sb.load_candles(path)
    _raw(base).to_csv(path, sep=" ", index=False)
    with pytest.raises(sb.CandleError, match="reads as one column: separate fields with"):
        sb.load_candles(path)


def test_unreadable_missing_and_unknown_files(tmp_path):
    with pytest.raises(sb.CandleError, match="file not found"):
        sb.load_candles(tmp_path / "nope.csv")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(sb.CandleError, match="junk.parquet: cannot read file"):
        sb.load_candles(tmp_path / "junk.parquet")
    (tmp_path / "c.xlsx").write_bytes(b"x")
    with pytest.raises(sb.CandleError, match="unknown file type"):
        sb.load_candles(tmp_path / "c.xlsx")
    with pytest.raises(sb.CandleError, match="expected a file path or a pandas DataFrame"):
        sb.load_candles(42)  # type: ignore[arg-type]


def test_store_merge_is_idempotent_and_new_values_win(tmp_path, base):
    store = sb.CandleStore(tmp_path / "data")
    first = store.merge("ethusdt", "4h", base.iloc[:3])
    assert (first.added, first.updated, first.total) == (3, 0, 3)
    again = store.merge("ETHUSDT", "4h", base.iloc[:3])
    assert (again.added, again.updated, again.total) == (0, 0, 3)
    changed = base.iloc[2:].copy()
    changed.iloc[0, changed.columns.get_loc("volume")] = 999.0
    res = store.merge("ETHUSDT", "4h", changed)
    assert (res.added, res.updated, res.total) == (2, 1, 5)
    got = store.read("ETHUSDT", "4h")
    assert got["volume"].iloc[2] == 999.0 and len(got) == 5 and got.index.is_unique
    assert store.list() == [("ETHUSDT", "4h")]
    assert not list((tmp_path / "data" / "ETHUSDT").glob("*.tmp"))


def test_store_rejects_bad_candles_and_keeps_the_file(tmp_path, base):
    store = sb.CandleStore(tmp_path / "data")
    store.merge("ETHUSDT", "4h", base)
    before = store.path("ETHUSDT", "4h").read_bytes()
    bad = base.copy()
    bad.iloc[1, bad.columns.get_loc("close")] = -1.0
    with pytest.raises(sb.CandleError):
        store.merge("ETHUSDT", "4h", bad)
    assert store.path("ETHUSDT", "4h").read_bytes() == before
    with pytest.raises(sb.CandleError, match="symbol"):
        store.path("../etc", "4h")


def test_store_sweeps_temporary_files_left_by_killed_writers(tmp_path, base):
    import os
    import time

    folder = tmp_path / "data" / "ETHUSDT"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".4h.k1ll3d00.tmp", folder / ".1d.wr1t1ng0.tmp"
    for p in (stale, fresh):
        p.write_bytes(b"PAR1 half a file")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    sb.CandleStore(tmp_path / "data").merge("ETHUSDT", "4h", base)
    assert sorted(p.name for p in folder.iterdir()) == [fresh.name, "4h.lock", "4h.parquet"]


def test_resolve_prefers_store_then_sample(tmp_path, base):
    sample = sb.resolve_candles("ETHUSDT", "4h", tmp_path / "empty")
    assert len(sample) == 6000 and sample.attrs["source"] == "sample" and sample.attrs["synthetic"]
    sb.CandleStore(tmp_path / "data").merge("ETHUSDT", "4h", base)
    assert len(sb.resolve_candles("ETHUSDT", "4h", tmp_path / "data")) == 5
    with pytest.raises(sb.CandleError, match="no candles for BTCTRY 1h"):
        sb.resolve_candles("BTCTRY", "1h", tmp_path / "data")
