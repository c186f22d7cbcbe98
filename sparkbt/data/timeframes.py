"""Bar periods: parse and spell timeframes, infer them from timestamps, check declared ones.

A timeframe is written as a count and a unit (``"15m"``, ``"4h"``, ``"1d"``,
``"1w"``); :func:`parse_timeframe` is the one place that bounds it
(:data:`MAX_TIMEFRAME`). Candles carry theirs in ``frame.attrs["timeframe"]``.
"""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd

from sparkbt.errors import CandleError

__all__ = [
    "MAX_TIMEFRAME",
    "check_declared",
    "format_timeframe",
    "infer_timeframe",
    "parse_timeframe",
    "period_ns",
    "time_index",
]

_TF_RE = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hr|d|day|w|wk|week)s?\s*$", re.IGNORECASE)
_TF_UNITS: dict[str, Literal["s", "min", "h", "D", "W"]] = {
    "s": "s",
    "sec": "s",
    "m": "min",
    "min": "min",
    "h": "h",
    "hr": "h",
    "d": "D",
    "day": "D",
    "w": "W",
    "wk": "W",
    "week": "W",
}
_UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "D": 86400, "W": 604800}
MAX_TIMEFRAME = pd.Timedelta(days=3650)
"""The longest bar period or duration :func:`parse_timeframe` accepts (about ten years)."""
_MAX_TF_TEXT = "3650d (about ten years)"


def parse_timeframe(value: str | pd.Timedelta) -> pd.Timedelta:
    """Parse ``"1m"``, ``"15m"``, ``"4h"``, ``"1d"``, ``"1w"`` (case-insensitive) to a Timedelta."""
    if isinstance(value, pd.Timedelta):
        td = value
    else:
        m = _TF_RE.match(str(value))
        if not m:
            raise CandleError(
                f"timeframe: expected a number and a unit such as 1m, 15m, 1h, 4h, 1d, 1w "
                f"(got {value!r})"
            )
        count, unit = int(m.group(1)), _TF_UNITS[m.group(2).lower()]
        seconds = count * _UNIT_SECONDS[unit]  # exact in Python ints: no Timedelta overflow
        if seconds > MAX_TIMEFRAME.total_seconds():
            raise CandleError(f"timeframe: at most {_MAX_TF_TEXT} (got {value!r})")
        td = pd.Timedelta(count, unit=unit)
    if td <= pd.Timedelta(0):
        raise CandleError(f"timeframe: must be positive (got {value!r})")
    if td > MAX_TIMEFRAME:
        raise CandleError(f"timeframe: at most {_MAX_TF_TEXT} (got {value!r})")
    return td


def format_timeframe(td: pd.Timedelta) -> str:
    """Canonical short spelling of a bar period: ``4h``, ``15m``, ``1d``, ``1w``, ``90s``."""
    secs = int(td.total_seconds())
    if secs <= 0 or td != pd.Timedelta(seconds=secs):
        return str(td)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def time_index(candles: pd.DataFrame | pd.Series) -> pd.DatetimeIndex:
    """The timestamps of canonical candles (or of a series on them) as a DatetimeIndex."""
    index = candles.index
    if not isinstance(index, pd.DatetimeIndex):
        raise CandleError(f"candles: expected a DatetimeIndex (got {type(index).__name__})")
    return index


def infer_timeframe(index: pd.DatetimeIndex) -> pd.Timedelta | None:
    """The median step between timestamps, or None with fewer than two bars."""
    if len(index) < 2:
        return None
    steps = np.diff(index.asi8)
    return pd.Timedelta(int(np.median(steps)), unit="ns")


def check_declared(declared: pd.Timedelta, index: pd.DatetimeIndex, where: object) -> None:
    """Refuse a declared bar period the candles do not have (it would rescale every ratio).

    It agrees when it is the median step, or when it is the shortest step and
    every step is a whole number of it (a series with missing periods, as a
    quiet market leaves in the store). One candle has no step: anything goes.
    """
    if len(index) < 2:
        return
    steps = np.diff(index.asi8)
    median = int(np.median(steps))
    want = int(declared.value)
    if median == want or (int(steps.min()) == want and not np.any(steps % want)):
        return
    raise CandleError(
        f"{where}: timeframe: declared {format_timeframe(declared)} but the candles are "
        f"{format_timeframe(pd.Timedelta(median, unit='ns'))} apart (median step); "
        "leave the timeframe out to use theirs"
    )


def period_ns(candles: pd.DataFrame) -> int:
    """Bar period in ns: the declared timeframe, else the median step (1 day for one bar)."""
    tf = candles.attrs.get("timeframe")
    if tf:
        return int(parse_timeframe(tf).value)
    inferred = infer_timeframe(time_index(candles))
    return int(inferred.value) if inferred is not None else 86_400 * 10**9
