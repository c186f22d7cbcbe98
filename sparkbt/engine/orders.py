"""An orders frame, as a strategy returns it, checked and turned into the kernel's arrays.

One row per order (docs/semantics.md "Orders"): ``timestamp`` (the bar it is
decided on), ``side``, ``qty``, and optionally ``type``, ``price``, ``stop``,
``tif``, ``expire``, ``oco``, ``tag`` and ``symbol``. The minimal shape
``{side, qty, price?, ts}`` is accepted as is: ``ts`` (milliseconds since the
epoch, or a timestamp) names the decision time, and a row with a price and no
type is a limit order. A timestamp between two bars belongs to the bar before
it. Every refusal is a one-line StrategyError naming the row and the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

from sparkbt.engine.codes import (
    ORDER_LIMIT,
    ORDER_MARKET,
    ORDER_STOP,
    ORDER_STOP_LIMIT,
    ORDER_TYPES,
    TIF_GTC,
    TIF_GTD,
    TIFS,
)
from sparkbt.engine.order_kernels import Orders
from sparkbt.errors import StrategyError

__all__ = ["ORDER_COLUMNS", "OrderTable", "order_table"]

ORDER_COLUMNS: dict[str, str] = {
    "timestamp": "the bar the order is decided on (from data up to its close); alias ts",
    "side": "buy or sell",
    "qty": "units, > 0",
    "type": "market (default), limit, stop or stop_limit",
    "price": "the limit price (a price and no type: a limit order)",
    "stop": "the stop price of a stop or stop-limit order",
    "tif": "gtc (default), ioc (its first eligible bar only) or gtd (until expire)",
    "expire": "the last time a gtd order may fill",
    "oco": "orders sharing a value cancel each other when one fills",
    "tag": "free text carried to the orders table",
    "symbol": "the symbol of a portfolio's order",
}
"""The columns of an orders frame and what each holds."""


class OrderTable(NamedTuple):
    """Checked orders: the kernel's arrays, the strategy's rows they came from, and symbols.

    The readable table (:attr:`frame`) is built from ``source`` only when asked for.
    """

    orders: Orders  # sorted by (decision bar, row)
    rows: np.ndarray  # int64: the row of ``source`` of each order, in kernel order
    source: pd.DataFrame  # the strategy's orders, in its row order, as given
    stamps: pd.DatetimeIndex  # the decision time of each row of ``source`` (UTC)
    symbol: np.ndarray | None = None  # int64 column of each order's symbol (a portfolio's)
    names: tuple[str, ...] | None = None  # the symbols ``symbol`` indexes

    def since(self, start: int) -> OrderTable:
        """The orders decided from bar ``start`` on, bars renumbered from it (warm-up dropped)."""
        if not start:
            return self
        keep = self.orders.bar >= start
        orders = Orders(*(np.asarray(a)[keep] for a in self.orders))
        orders = orders._replace(bar=orders.bar - start, expire=orders.expire - start)
        symbol = None if self.symbol is None else self.symbol[keep]
        return self._replace(orders=orders, rows=self.rows[keep], symbol=symbol)

    @property
    def frame(self) -> pd.DataFrame:
        """The checked orders in kernel order, with readable side, type, tif (and symbol)."""
        rows = self.rows
        same = len(rows) == len(self.source) and bool(np.all(rows == np.arange(len(rows))))
        out = self.source if same else self.source.take(rows)
        out = out.reset_index(drop=True)
        out["timestamp"] = self.stamps[rows]
        out["side"] = np.asarray(("sell", "", "buy"), dtype=object)[self.orders.side + 1]
        out["type"] = np.asarray(ORDER_TYPES, dtype=object)[self.orders.type]
        out["tif"] = np.asarray(TIFS, dtype=object)[self.orders.tif]
        if "oco" in out.columns:
            out["oco"] = _oco_text(out["oco"])
        if self.names is not None and self.symbol is not None:
            out["symbol"] = np.asarray(self.names, dtype=object)[self.symbol]
        return out


def _fail(name: str, row: int, column: str, message: str) -> StrategyError:
    return StrategyError(f"{name}: order row {row + 1}, column '{column}': {message}")


def _timestamps(name: str, values: pd.Series, column: str) -> pd.DatetimeIndex:
    """Timestamps or epoch milliseconds as UTC; the first bad row is named."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = pd.to_datetime(values, unit="ms", utc=True, errors="coerce")
    else:
        out = pd.to_datetime(values, utc=True, errors="coerce")
    bad = np.flatnonzero(pd.isna(out).to_numpy() & pd.notna(values).to_numpy())
    missing = np.flatnonzero(pd.isna(values).to_numpy())
    if column != "expire" and len(missing):
        raise _fail(name, int(missing[0]), column, "expected a timestamp (got nothing)")
    if len(bad):
        row = int(bad[0])
        raise _fail(
            name,
            row,
            column,
            f"expected a timestamp or epoch milliseconds (got {values.iloc[row]!r})",
        )
    return pd.DatetimeIndex(out)


def _codes(
    name: str, values: pd.Series, column: str, names: Sequence[str], default: int
) -> np.ndarray:
    """Names to codes, one look-up per distinct value (``default`` where nothing is given)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # its categories are its distinct values
        codes, uniques = values.cat.codes.to_numpy(), values.cat.categories
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    keys = [str(u).strip().lower().replace("-", "_") for u in uniques]
    lut = np.array([names.index(k) if k in names else -1 for k in keys] + [default], np.int8)
    out = lut[codes]  # code -1 (nothing given) takes the last entry: the default
    bad = np.flatnonzero(out < 0)
    if len(bad):
        row = int(bad[0])
        raise _fail(name, row, column, f"expected {', '.join(names)} (got {values.iloc[row]!r})")
    return out


def _numbers(name: str, frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(np.isnan(values) & frame[column].notna().to_numpy())
    bad = bad if len(bad) else np.flatnonzero(np.isinf(values))
    if len(bad):
        row = int(bad[0])
        raise _fail(name, row, column, f"expected a number (got {frame[column].iloc[row]!r})")
    return values


def _bars(index: pd.DatetimeIndex, stamps: pd.DatetimeIndex) -> np.ndarray:
    """The bar of each timestamp: the last bar at or before it (-1: before the first).

    Bars are first guessed from the first bar's spacing and checked against their
    neighbours; only the timestamps the guess misses (after a gap in the bars) are
    searched for.
    """
    bars, stamp = index.as_unit("ns").asi8, stamps.as_unit("ns").asi8
    n = len(bars)
    if n < 2 or not len(stamp):
        return np.searchsorted(bars, stamp, side="right").astype(np.int64) - 1
    guess = np.clip((stamp - bars[0]) // (bars[1] - bars[0]), -1, n - 1)
    at = np.maximum(guess, 0)
    nxt = np.minimum(at + 1, n - 1)
    right = np.where(guess < 0, stamp < bars[0], bars[at] <= stamp)
    right &= (guess == n - 1) | (bars[nxt] > stamp)
    if not right.all():
        miss = np.flatnonzero(~right)
        guess[miss] = np.searchsorted(bars, stamp[miss], side="right") - 1
    out: np.ndarray = guess.astype(np.int64)
    return out


def order_table(
    name: str, raw: pd.DataFrame, index: pd.DatetimeIndex, symbols: Sequence[str] | None = None
) -> OrderTable:
    """Check a strategy's orders frame against the bars ``index``; StrategyError names the row.

    ``symbols`` are a portfolio's symbols (a ``symbol`` column is then required
    with several); for one symbol a ``symbol`` column is refused unless it names it.
    """
    frame = raw.rename(columns={"ts": "timestamp"}).reset_index(drop=True)
    unknown = [str(c) for c in frame.columns if c not in ORDER_COLUMNS]
    if unknown:
        raise StrategyError(
            f"{name}: unknown order column '{unknown[0]}' (columns: {', '.join(ORDER_COLUMNS)})"
        )
    if "timestamp" not in frame.columns:
        raise StrategyError(f"{name}: orders need a 'timestamp' (or 'ts') column")
    stamps = _timestamps(name, frame["timestamp"], "timestamp")
    if len(stamps) > 1 and (np.diff(stamps.asi8) < 0).any():
        row = int(np.flatnonzero(np.diff(stamps.asi8) < 0)[0]) + 1
        raise _fail(
            name, row, "timestamp", f"{stamps[row]} is before the row above: sort the orders"
        )
    bar = _bars(index, stamps)
    early = np.flatnonzero(bar < 0)
    if len(early):
        row = int(early[0])
        raise _fail(name, row, "timestamp", f"{stamps[row]} is before the first candle {index[0]}")
    missing = np.flatnonzero(frame["side"].isna().to_numpy())
    if len(missing):
        raise _fail(name, int(missing[0]), "side", "expected buy or sell (got nothing)")
    side = _codes(name, frame["side"], "side", ("sell", "buy"), 0)
    qty = _numbers(name, frame, "qty")
    bad = np.flatnonzero(~(qty > 0))
    if len(bad):
        raise _fail(
            name, int(bad[0]), "qty", f"must be a number of units > 0 (got {qty[bad[0]]!r})"
        )
    price, stop = _numbers(name, frame, "price"), _numbers(name, frame, "stop")
    given = frame["type"] if "type" in frame.columns else pd.Series([None] * len(frame))
    kind = _codes(name, given, "type", ORDER_TYPES, ORDER_MARKET)
    kind[pd.isna(given).to_numpy() & ~np.isnan(price)] = ORDER_LIMIT
    _check_levels(name, kind, price, stop)
    tif_given = frame["tif"] if "tif" in frame.columns else pd.Series([None] * len(frame))
    tif = _codes(name, tif_given, "tif", TIFS, TIF_GTC)
    expire = _expiry(name, frame, index, stamps, tif)
    oco = _oco(frame)
    column = None if symbols is None else _symbols(name, frame, symbols)
    order = np.argsort(bar, kind="stable")
    orders = Orders(
        bar[order],
        (2 * side - 1).astype(np.int8)[order],
        qty[order],
        kind[order],
        price[order],
        stop[order],
        tif[order],
        expire[order],
        oco[order],
    )
    return OrderTable(
        orders,
        order.astype(np.int64),
        frame,
        stamps,
        None if column is None else column[order],
        None if symbols is None else tuple(symbols),
    )


def _symbols(name: str, frame: pd.DataFrame, symbols: Sequence[str]) -> np.ndarray:
    """Each order's symbol as its column in ``symbols``; required with several symbols."""
    if "symbol" not in frame.columns:
        if len(symbols) > 1:
            raise StrategyError(
                f"{name}: orders of a portfolio need a 'symbol' column "
                f"(symbols: {', '.join(symbols)})"
            )
        return np.zeros(len(frame), dtype=np.int64)
    lookup = {s: i for i, s in enumerate(symbols)}
    values = frame["symbol"]
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lut = np.array([lookup.get(u if isinstance(u, str) else str(u), -1) for u in uniques] + [-1])
    out = lut[codes].astype(np.int64)
    bad = np.flatnonzero(out < 0)
    if len(bad):
        row = int(bad[0])
        raise _fail(
            name,
            row,
            "symbol",
            f"{values.iloc[row]!r} is not one of the symbols ({', '.join(symbols)})",
        )
    return out


def _check_levels(name: str, kind: np.ndarray, price: np.ndarray, stop: np.ndarray) -> None:
    """The first row (price before stop) whose type needs a level it lacks is refused."""
    no_price = ((kind == ORDER_LIMIT) | (kind == ORDER_STOP_LIMIT)) & ~(price > 0)
    no_stop = ((kind == ORDER_STOP) | (kind == ORDER_STOP_LIMIT)) & ~(stop > 0)
    if not (no_price.any() or no_stop.any()):
        return
    row = int(np.argmax(no_price | no_stop))
    k = kind[row]
    if no_price[row]:
        what = "a limit" if k == ORDER_LIMIT else "a stop-limit"
        raise _fail(name, row, "price", f"{what} order needs a limit price > 0")
    what = "a stop" if k == ORDER_STOP else "a stop-limit"
    raise _fail(name, row, "stop", f"{what} order needs a stop price > 0")


def _expiry(
    name: str,
    frame: pd.DataFrame,
    index: pd.DatetimeIndex,
    stamps: pd.DatetimeIndex,
    tif: np.ndarray,
) -> np.ndarray:
    """The last bar a GTD order may fill on; ``len(index)`` (never) for the others."""
    out = np.full(len(frame), len(index), dtype=np.int64)
    gtd = tif == TIF_GTD
    if not gtd.any():
        return out
    if "expire" not in frame.columns:
        raise _fail(name, int(np.flatnonzero(gtd)[0]), "expire", "a gtd order needs an expire time")
    when = _timestamps(name, frame["expire"], "expire")
    missing = gtd & np.asarray(when.isna())
    if missing.any():
        raise _fail(name, int(np.argmax(missing)), "expire", "a gtd order needs an expire time")
    early = gtd & (when.as_unit("ns").asi8 < stamps.as_unit("ns").asi8)
    if early.any():
        row = int(np.argmax(early))
        raise _fail(
            name, row, "expire", f"{when[row]} is before the order's timestamp {stamps[row]}"
        )
    out[gtd] = _bars(index, when[gtd])
    return out


def _oco(frame: pd.DataFrame) -> np.ndarray:
    """OCO groups as integers (-1: none; rows sharing a value share a group)."""
    if "oco" not in frame.columns:
        return np.full(len(frame), -1, dtype=np.int64)
    values = frame["oco"]
    if pd.api.types.is_integer_dtype(values.dtype):  # whole numbers >= 0: groups as they are
        groups = values.to_numpy(dtype=np.int64, na_value=-1)
        if (groups[values.notna().to_numpy()] >= 0).all():
            return groups
    return pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)


def _oco_text(values: pd.Series) -> np.ndarray:
    """Each row's OCO value as text (None: none), as the strategy wrote it: 40, not 40.0."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.array([_text(u) for u in uniques] + [None], dtype=object)[codes]


def _text(value: object) -> str:
    """A value as text; a whole float (a column pandas made float for its gaps) without '.0'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)
