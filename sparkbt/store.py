"""The local candle store: ``<root>/<SYMBOL>/<timeframe>.parquet``.

One Parquet file per symbol and timeframe holding the canonical frame. Writes
merge by timestamp (a new candle replaces a stored one with the same open
time, so re-running a fetch or overlapping ranges never duplicates or loses a
candle), go to a temporary file in the same folder and are renamed into place
(atomic on POSIX), and are serialised between processes by a lock file.

The root is ``--data-dir``, else ``$SPARKBT_DATA_DIR``, else ``./data``. When a
symbol/timeframe is not in the store, :func:`resolve_candles` falls back to the
sample candles packaged with sparkbt (generated, see the README).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .candles import COLUMNS, format_timeframe, load_candles, parse_timeframe, validate_candles
from .errors import CandleError

__all__ = [
    "DEFAULT_SYMBOL",
    "DEFAULT_TIMEFRAME",
    "CandleStore",
    "MergeResult",
    "default_data_dir",
    "resolve_candles",
    "sample_path",
]

DEFAULT_SYMBOL = "ETHUSDT"
DEFAULT_TIMEFRAME = "4h"
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")


def default_data_dir() -> Path:
    """``$SPARKBT_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("SPARKBT_DATA_DIR") or "data")


def normalise_symbol(symbol: str) -> str:
    """Upper-case a symbol and check it is a safe file name (``BTCTRY``, ``ETH-USDT``)."""
    sym = str(symbol).strip().upper()
    if not _SYMBOL_RE.match(sym):
        raise CandleError(
            f"symbol: expected letters, digits, '-', '_' or '.' (at most 32), got {symbol!r}"
        )
    return sym


@dataclass(frozen=True)
class MergeResult:
    """What a merge did: candles new to the store, candles whose values changed, total after."""

    path: Path
    added: int
    updated: int
    total: int


class CandleStore:
    """A folder of canonical candle files, one per symbol and timeframe."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()

    def path(self, symbol: str, timeframe: str) -> Path:
        tf = format_timeframe(parse_timeframe(timeframe))
        return self.root / normalise_symbol(symbol) / f"{tf}.parquet"

    def exists(self, symbol: str, timeframe: str) -> bool:
        return self.path(symbol, timeframe).is_file()

    def read(self, symbol: str, timeframe: str) -> pd.DataFrame:
        """Load one stored series (validated), or raise CandleError if absent."""
        path = self.path(symbol, timeframe)
        if not path.is_file():
            raise CandleError(f"{path}: no stored candles for {symbol} {timeframe}")
        return load_candles(path, timeframe=timeframe, symbol=normalise_symbol(symbol))

    def list(self) -> list[tuple[str, str]]:
        """Every (symbol, timeframe) in the store, sorted."""
        if not self.root.is_dir():
            return []
        return sorted((p.parent.name, p.stem) for p in self.root.glob("*/*.parquet") if p.is_file())

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "a+b") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def merge(self, symbol: str, timeframe: str, candles: pd.DataFrame) -> MergeResult:
        """Merge canonical candles into the store atomically; new values win on overlap."""
        path = self.path(symbol, timeframe)
        new = candles.loc[:, list(COLUMNS)].astype("float64")
        validate_candles(new, f"candles for {symbol} {timeframe}")
        with self._locked(path):
            if path.is_file():
                old = pd.read_parquet(path)
                old.index = pd.DatetimeIndex(old.index).as_unit("ns")
                both = old.index.intersection(new.index)
                updated = int(
                    (old.loc[both, list(COLUMNS)].to_numpy() != new.loc[both].to_numpy())
                    .any(axis=1)
                    .sum()
                )
                merged = pd.concat([old.loc[old.index.difference(new.index)], new]).sort_index()
                added = len(new) - len(both)
            else:
                merged, added, updated = new.sort_index(), len(new), 0
            merged.index = pd.DatetimeIndex(merged.index).as_unit("ns").rename("timestamp")
            validate_candles(merged, str(path))
            self._write_atomic(merged, path)
        return MergeResult(path=path, added=int(added), updated=updated, total=len(merged))

    @staticmethod
    def _write_atomic(frame: pd.DataFrame, path: Path) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            frame.to_parquet(tmp, engine="pyarrow", index=True)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def sample_path(symbol: str = DEFAULT_SYMBOL, timeframe: str = DEFAULT_TIMEFRAME) -> Path | None:
    """Path of a packaged sample file, or None if sparkbt ships none for that pair."""
    tf = format_timeframe(parse_timeframe(timeframe))
    path = Path(__file__).resolve().parent / "_data" / f"{normalise_symbol(symbol)}-{tf}.parquet"
    return path if path.is_file() else None


def resolve_candles(
    symbol: str = DEFAULT_SYMBOL,
    timeframe: str = DEFAULT_TIMEFRAME,
    data_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Candles for symbol/timeframe from the store, else from the packaged sample."""
    store = CandleStore(data_dir)
    if store.exists(symbol, timeframe):
        return store.read(symbol, timeframe)
    sample = sample_path(symbol, timeframe)
    if sample is not None:
        frame = load_candles(sample, timeframe=timeframe, symbol=normalise_symbol(symbol))
        frame.attrs["source"] = f"sample:{sample.name}"
        return frame
    have = ", ".join(f"{s} {t}" for s, t in store.list()) or "none"
    raise CandleError(
        f"{store.path(symbol, timeframe)}: no candles for {normalise_symbol(symbol)} "
        f"{format_timeframe(parse_timeframe(timeframe))} in the store (stored: {have}); "
        "fetch them or pass --data PATH"
    )
