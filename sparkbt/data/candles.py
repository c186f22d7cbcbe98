"""Candles: the canonical OHLCV frame, readers and validation (bar periods: :mod:`.timeframes`).

The canonical frame (shared SEMANTICS.md) is indexed by a strictly increasing
UTC ``DatetimeIndex`` named ``timestamp`` with float64 columns
``open high low close volume``. ``frame.attrs`` carries ``timeframe`` (a string
such as ``"4h"``), ``symbol`` when known, ``source`` (where the candles came
from: one of :data:`SOURCES`), ``synthetic`` (True for generated candles such as
the packaged sample), ``volume_missing`` (the input had no volume column, as FX
and index candles often do: volume is then 0.0) and, for files, ``path``.

Readers accept CSV (also ``.csv.gz``; fields separated by ``,``, ``;``, tab or
``|``, and with ``;`` or tab a ``,`` decimal mark, as spreadsheets export them),
Parquet, Arrow IPC/Feather and pandas DataFrames, with the usual column
spellings. Validation runs once, up front, and the first problem found is
reported in one line naming the source, the place and timestamp, and the
column. The place is ``line N`` of a text file (the header is line 1, so the
first candle is line 2) and ``row N`` (from 1) of a DataFrame, Parquet or
Arrow table.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from sparkbt.data.timeframes import (
    check_declared,
    format_timeframe,
    infer_timeframe,
    parse_timeframe,
    time_index,
)
from sparkbt.errors import CandleError

__all__ = [
    "COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_TIMESTAMP_CHARS",
    "SOURCES",
    "load_candles",
    "validate_candles",
]

COLUMNS = ("open", "high", "low", "close", "volume")
# Where candles came from: the packaged sample, the local store, a file, an
# in-memory DataFrame, or an exchange client's answer held in memory.
SOURCES = ("sample", "store", "file", "dataframe", "exchange")

_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o", "open_price", "openprice"),
    "high": ("high", "h", "high_price", "highprice"),
    "low": ("low", "l", "low_price", "lowprice"),
    "close": ("close", "c", "close_price", "closeprice", "last"),
    "volume": ("volume", "v", "vol", "base_volume", "volume_base"),
}
_TIME_ALIASES = (
    "timestamp",
    "time",
    "date",
    "datetime",
    "t",
    "ts",
    "open_time",
    "opentime",
    "date_time",
    "time_utc",
    "timestamp_utc",
)

MAX_TIMESTAMP_CHARS = 64
"""The longest timestamp text read (``2024-01-01T00:00:00.000000000+00:00`` has 35)."""
MAX_FILE_BYTES = 4 * 1024**3
"""The largest candle file read: 4 GiB (ten million 1-minute bars as CSV take about 0.7 GiB)."""


# --------------------------------------------------------------------------- reading
_TEXT_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")
_DELIMITERS = (",", ";", "\t", "|")
_SNIFF_BYTES = 1 << 16


def _is_text(path: Path) -> bool:
    return path.name.lower().endswith(_TEXT_SUFFIXES)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _text_dialect(path: Path) -> tuple[str, str]:
    """(field delimiter, decimal mark) from the start of a text file.

    The delimiter is the one of ``, ; tab |`` the header uses most (``,`` when
    none); with another delimiter than ``,``, a ``,`` in the data lines is the
    decimal mark (``100,5``), as European spreadsheets write it.
    """
    with _open_text(path) as fh:
        lines = [line for line in fh.read(_SNIFF_BYTES).splitlines() if line.strip()]
    header = lines[0] if lines else ""
    sep = max(_DELIMITERS, key=header.count) if any(d in header for d in _DELIMITERS) else ","
    decimal = "," if sep != "," and any("," in line for line in lines[1:]) else "."
    return sep, decimal


def _line_number(path: Path, row: int) -> int:
    """The line of a text file holding data row ``row`` (from 0): blank lines are skipped."""
    seen = -2  # the first non-blank line is the header
    try:
        with _open_text(path) as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    seen += 1
                    if seen == row:
                        return number
    except OSError:
        pass
    return row + 2


class _Place:
    """The input named in messages, and where a candle sits in it.

    ``at(i)`` names data row ``i`` (from 0): ``line N`` of a text file,
    ``row N`` (from 1) of a frame or table.
    """

    def __init__(self, name: str, text_file: Path | None = None) -> None:
        self.name = name
        self.text_file = text_file

    def __str__(self) -> str:
        return self.name

    def at(self, row: int) -> str:
        if self.text_file is not None:
            return f"line {_line_number(self.text_file, row)}"
        return f"row {row + 1}"


def _read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CandleError(f"{path}: file not found")
    if path.is_dir():
        raise CandleError(f"{path}: is a folder, expected a CSV, Parquet or Arrow file")
    if not path.is_file():
        raise CandleError(f"{path}: not a regular file, expected a CSV, Parquet or Arrow file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CandleError(
            f"{path}: {size:,} bytes, larger than the {MAX_FILE_BYTES:,} bytes a candle file may "
            "have (split it by date range)"
        )
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".feather", ".arrow", ".ipc")):
            import pyarrow.feather as feather

            table: pd.DataFrame = feather.read_table(path).to_pandas()
            return table
        if _is_text(path):
            sep, decimal = _text_dialect(path)
            return pd.read_csv(path, sep=sep, decimal=decimal)
    except CandleError:
        raise
    except Exception as exc:  # unreadable or corrupt file: one line, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CandleError(f"{path}: cannot read file ({first})") from exc
    raise CandleError(
        f"{path}: unknown file type, expected .csv, .csv.gz, .parquet, .feather or .arrow"
    )


def _find_column(df: pd.DataFrame, aliases: tuple[str, ...]) -> str | None:
    lowered = {str(c).strip().lower(): c for c in df.columns}
    for alias in aliases:
        if alias in lowered:
            return lowered[alias]
    return None


def _to_utc_index(values: Any, where: _Place) -> pd.DatetimeIndex:
    """Timestamps as datetimes, ISO text, epoch seconds, ms, us or ns -> UTC ns index."""
    if isinstance(values, pd.DatetimeIndex):
        idx = values
    else:
        ser = pd.Series(values)
        if ser.isna().any():
            row = int(np.flatnonzero(ser.isna().to_numpy())[0])
            raise CandleError(f"{where}: {where.at(row)}: column 'timestamp' is missing a value")
        if pd.api.types.is_numeric_dtype(ser.dtype) and not pd.api.types.is_bool_dtype(ser.dtype):
            num = ser.to_numpy(dtype="float64")
            biggest = float(np.nanmax(np.abs(num))) if len(num) else 0.0
            unit: Literal["s", "ms", "us", "ns"] = (
                "s"
                if biggest < 1e11
                else "ms"
                if biggest < 1e14
                else "us"
                if biggest < 1e17
                else "ns"
            )
            ints = ser.to_numpy()
            if unit == "s" and not np.all(np.equal(np.mod(num, 1), 0)):
                ints = num * 1e3
                unit = "ms"
            idx = pd.DatetimeIndex(pd.to_datetime(ints, unit=unit, utc=True))
        else:
            _check_timestamp_lengths(ser, where)
            try:
                idx = pd.DatetimeIndex(pd.to_datetime(ser, utc=True, format="ISO8601"))
            except (ValueError, TypeError):
                try:
                    idx = pd.DatetimeIndex(pd.to_datetime(ser, utc=True, format="mixed"))
                except (ValueError, TypeError) as exc:
                    bad = _first_unparsable(ser)
                    raise CandleError(
                        f"{where}: {where.at(bad[0])}: column 'timestamp' is not a date/time "
                        f"(got {bad[1]!r}); expected ISO text or epoch seconds/milliseconds"
                    ) from exc
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns").rename("timestamp")


def _check_timestamp_lengths(ser: pd.Series, where: _Place) -> None:
    """Refuse the first timestamp text longer than any date/time, before it is parsed.

    The fallback date parser's time grows with the square of a text's length, so
    one megabyte of garbage in a timestamp cell would take minutes to refuse.
    """
    lengths = ser.astype(str).str.len().to_numpy()
    too_long = np.flatnonzero(lengths > MAX_TIMESTAMP_CHARS)
    if too_long.size:
        row = int(too_long[0])
        raise CandleError(
            f"{where}: {where.at(row)}: column 'timestamp' is not a date/time "
            f"({int(lengths[row])} characters, at most {MAX_TIMESTAMP_CHARS})"
        )


def _first_unparsable(ser: pd.Series) -> tuple[int, Any]:
    for i, v in enumerate(ser.tolist()):
        try:
            pd.Timestamp(v)
        except (ValueError, TypeError):
            return i, v
    return 0, ser.iloc[0] if len(ser) else None


def _is_canonical(df: pd.DataFrame) -> bool:
    idx = df.index
    return (
        isinstance(idx, pd.DatetimeIndex)
        and str(idx.dtype) == "datetime64[ns, UTC]"
        and all(c in df.columns and df[c].dtype == np.float64 for c in COLUMNS)
    )


def _normalise(df: pd.DataFrame, where: _Place) -> pd.DataFrame:
    if df.shape[0] == 0:
        raise CandleError(f"{where}: no candles (empty input)")
    if _is_canonical(df):  # already the canonical schema: no conversion, no copy
        out = df.loc[:, list(COLUMNS)]
        out.index = out.index.rename("timestamp")
        out.attrs = {}
        return out
    tcol = _find_column(df, _TIME_ALIASES)
    if (
        tcol is None
        and len(df.columns)
        and str(df.columns[0]).strip().lower() in {"", "unnamed: 0", "index"}
    ):
        tcol = df.columns[0]  # a CSV written with its DatetimeIndex: first column unnamed
    if tcol is not None:
        index = _to_utc_index(df[tcol].to_numpy() if df[tcol].dtype == object else df[tcol], where)
    elif isinstance(df.index, pd.DatetimeIndex):
        index = _to_utc_index(df.index, where)
    elif df.index.name and str(df.index.name).strip().lower() in _TIME_ALIASES:
        index = _to_utc_index(df.index.to_series(), where)
    else:
        raise CandleError(
            f"{where}: missing column 'timestamp' (also accepted: time, date, datetime, t, "
            f"open_time, or a DatetimeIndex){_one_column_hint(df, where)}"
        )
    columns: dict[str, np.ndarray] = {}
    volume_missing = False
    for col in COLUMNS:
        src = _find_column(df, _ALIASES[col])
        if src is None and col == "volume":  # FX and index candles have none: trade size 0
            columns[col], volume_missing = np.zeros(len(index)), True
            continue
        if src is None:
            have = ", ".join(map(str, df.columns))
            raise CandleError(
                f"{where}: missing column '{col}' (columns found: {have})"
                f"{_one_column_hint(df, where)}"
            )
        raw = df[src]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype="float64")
        bad = np.isnan(values) & ~pd.isna(raw).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CandleError(
                f"{where}: {where.at(row)} ({_fmt_ts(index[row])}): column '{col}' is not a number "
                f"(got {raw.iloc[row]!r})"
            )
        columns[col] = values
    frame = pd.DataFrame(columns, index=index)
    frame.attrs["volume_missing"] = volume_missing
    return frame


def _one_column_hint(df: pd.DataFrame, where: _Place) -> str:
    if where.text_file is None or len(df.columns) != 1:
        return ""
    return "; the file reads as one column: separate fields with ',', ';', a tab or '|'"


def _fmt_ts(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def validate_candles(frame: pd.DataFrame, where: str = "<DataFrame>") -> None:
    """Check a canonical frame against SEMANTICS.md; raise CandleError on the first problem."""
    _validate(frame, _Place(where))


def _all_good(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, ts: np.ndarray
) -> bool:
    """Whether every row passes (NaN fails every comparison): the fast path, by blocks of
    rows that stay in the CPU cache; the checks that name a row run only when this fails."""
    step = 1 << 15
    for a in range(0, len(o), step):
        z = slice(a, a + step)
        good = (lo[z] > 0) & (lo[z] <= o[z]) & (lo[z] <= c[z]) & (h[z] >= o[z]) & (h[z] >= c[z])
        good &= (v[z] >= 0) & np.isfinite(h[z]) & np.isfinite(v[z])
        if not good.all() or not (np.diff(ts[a : a + step + 1]) > 0).all():
            return False
    return True


def _validate(frame: pd.DataFrame, where: _Place) -> None:
    n = len(frame)
    if n == 0:
        raise CandleError(f"{where}: no candles (empty input)")
    idx = time_index(frame)
    cols = {col: frame[col].to_numpy(dtype="float64") for col in COLUMNS}
    o, h, lo, c, v = (cols[k] for k in COLUMNS)
    if _all_good(o, h, lo, c, v, idx.asi8):
        return

    def fail(row: int, msg: str) -> None:
        raise CandleError(f"{where}: {where.at(row)} ({_fmt_ts(idx[row])}): {msg}")

    for col in COLUMNS:
        nan = np.flatnonzero(~np.isfinite(cols[col]))
        if len(nan):
            fail(
                int(nan[0]),
                f"column '{col}' is missing (NaN or infinite); "
                "drop or fill such rows first, e.g. df.dropna()",
            )
    for col in ("open", "high", "low", "close"):
        bad = np.flatnonzero(cols[col] <= 0)
        if len(bad):
            fail(int(bad[0]), f"column '{col}' must be > 0 (got {float(cols[col][bad[0]])!r})")
    hi_bad = np.flatnonzero(cols["high"] < np.maximum(cols["open"], cols["close"]))
    if len(hi_bad):
        r = int(hi_bad[0])
        fail(
            r,
            f"column 'high' ({float(cols['high'][r])!r}) is below max(open, close) "
            f"({float(max(cols['open'][r], cols['close'][r]))!r})",
        )
    lo_bad = np.flatnonzero(cols["low"] > np.minimum(cols["open"], cols["close"]))
    if len(lo_bad):
        r = int(lo_bad[0])
        fail(
            r,
            f"column 'low' ({float(cols['low'][r])!r}) is above min(open, close) "
            f"({float(min(cols['open'][r], cols['close'][r]))!r})",
        )
    vol_bad = np.flatnonzero(cols["volume"] < 0)
    if len(vol_bad):
        r = int(vol_bad[0])
        fail(r, f"column 'volume' must be >= 0 (got {float(cols['volume'][r])!r})")
    steps = np.diff(idx.asi8)
    dup = np.flatnonzero(steps == 0)
    if len(dup):
        fail(int(dup[0]) + 1, "duplicate timestamp (same as the previous candle)")
    back = np.flatnonzero(steps < 0)
    if len(back):
        r = int(back[0]) + 1
        fail(
            r,
            f"timestamps are not sorted: earlier than the previous candle "
            f"({_fmt_ts(idx[r - 1])}); sort them first, e.g. df.sort_index()",
        )


def load_candles(
    source: str | Path | pd.DataFrame,
    *,
    timeframe: str | None = None,
    symbol: str | None = None,
) -> pd.DataFrame:
    """Read and validate candles from a file path or a DataFrame.

    Returns the canonical frame. ``timeframe`` declares the bar period, which
    must agree with the candles' median step (gaps of whole periods are fine);
    else the frame's own ``attrs["timeframe"]`` or the median step is used. It
    ends up in ``frame.attrs`` with the symbol and where the candles came from.
    """
    if isinstance(source, pd.DataFrame):
        where, raw, path = _Place("<DataFrame>"), source, None
    elif isinstance(source, (str, Path)):
        path = Path(source).expanduser()
        raw = _read_file(path)
        where = _Place(str(path), path if _is_text(path) else None)
    else:
        raise CandleError(
            f"candles: expected a file path or a pandas DataFrame (got {type(source).__name__})"
        )
    frame = _normalise(raw, where)
    _validate(frame, where)
    # A frame keeps what it says about itself; a file is a file, but the flags
    # pandas saved with it (Parquet/Feather attrs) still hold.
    attrs_in = raw.attrs if path is None else {}
    tf: pd.Timedelta | None
    if timeframe is not None:
        tf = parse_timeframe(timeframe)
        check_declared(tf, time_index(frame), where)
    elif attrs_in.get("timeframe"):  # set by an earlier load (a slice keeps its parent's)
        tf = parse_timeframe(attrs_in["timeframe"])
    else:
        tf = infer_timeframe(time_index(frame))
    frame.attrs["timeframe"] = format_timeframe(tf) if tf is not None else None
    frame.attrs["symbol"] = symbol or attrs_in.get("symbol")
    if path is not None:
        frame.attrs["source"] = "file"
        frame.attrs["path"] = str(path)
    else:
        given = attrs_in.get("source")
        frame.attrs["source"] = given if given in SOURCES else "dataframe"
        if attrs_in.get("path"):
            frame.attrs["path"] = attrs_in["path"]
    frame.attrs["synthetic"] = bool(raw.attrs.get("synthetic", False))
    frame.attrs["volume_missing"] = bool(
        frame.attrs.get("volume_missing") or raw.attrs.get("volume_missing", False)
    )
    return frame
