"""The trade list of a report: rows for the page, pages of long lists, and the CSV.

A report lists every trade of a run of up to :data:`MAX_TABLE_TRADES` trades in
the page itself (sorted and filtered in the browser). A longer list is served a
page at a time by :func:`trade_page`, sorted and filtered here over every trade,
so a run of 100,000 trades still sorts by PnL across all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sparkbt.engine.result import TRADE_COLUMNS as TRADE_FRAME_COLUMNS

__all__ = [
    "MAX_TABLE_TRADES",
    "TRADE_COLUMNS",
    "table_columns",
    "trade_page",
    "trade_rows",
    "trades_csv",
]

MAX_TABLE_TRADES = 2000
"""Trades listed in the page; longer lists are paged, 2,000 rows a page."""

TRADE_COLUMNS = tuple(c for c in TRADE_FRAME_COLUMNS if c not in ("entry_fee", "exit_fee", "open"))
"""Trade columns listed in the page, in order (the CSV has every column of trades.parquet)."""


def _floats(a: np.ndarray, digits: int) -> list[float | None]:
    out = np.round(np.asarray(a, dtype=np.float64), digits)
    return [None if not np.isfinite(v) else float(v) for v in out]


def table_columns(trades: pd.DataFrame) -> tuple[str, ...]:
    """The columns the page lists: :data:`TRADE_COLUMNS`, after ``symbol`` in a portfolio's."""
    return ("symbol", *TRADE_COLUMNS) if "symbol" in trades.columns else TRADE_COLUMNS


def trade_rows(trades: pd.DataFrame) -> list[list[Any]]:
    """The :func:`table_columns` of ``trades`` as JSON-ready rows (ISO times)."""
    if trades.empty:
        return []
    cols = []
    for name in table_columns(trades):
        values = trades[name]
        if name.endswith("_time"):
            cols.append([None if pd.isna(v) else v.isoformat() for v in values])
        elif values.dtype.kind == "f":
            cols.append(_floats(values.to_numpy(), 12))
        elif values.dtype.kind in "iu":
            cols.append([int(v) for v in values])
        else:
            cols.append([str(v) for v in values])
    return [list(row) for row in zip(*cols, strict=True)]


def trade_page(
    trades: pd.DataFrame,
    *,
    offset: int = 0,
    limit: int = MAX_TABLE_TRADES,
    sort: str = "id",
    descending: bool = False,
    query: str = "",
    reason: str = "",
) -> dict[str, Any]:
    """One page of the trade list after filtering and sorting over every trade.

    ``query`` keeps rows whose side, exit reason or entry/exit time (ISO text)
    contains it; ``reason`` keeps one exit reason. ValueError names a bad field.
    """
    columns = table_columns(trades)
    if sort not in columns:
        raise ValueError(f"sort: expected one of {', '.join(columns)} (got {sort!r})")
    if offset < 0 or not 1 <= limit <= MAX_TABLE_TRADES:
        raise ValueError(
            f"offset >= 0 and 1 <= limit <= {MAX_TABLE_TRADES} (got {offset}, {limit})"
        )
    rows = trades
    if reason:
        rows = rows[rows["exit_reason"].astype(str) == reason]
    q = query.strip().lower()
    if q:
        rows = rows[_matches(rows, q)]
    rows = rows.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
    return {
        "total": len(trades),
        "matching": len(rows),
        "offset": offset,
        "rows": trade_rows(rows.iloc[offset : offset + limit]),
    }


def _matches(rows: pd.DataFrame, q: str) -> np.ndarray:
    """Which rows' side, exit reason, ISO entry/exit time or symbol contain ``q`` (lower case).

    Built as plain strings so an empty selection (no rows, or a ``reason`` that
    matched none) is an empty mask, not a text-plus-datetime column error.
    """
    columns = [rows["side"].astype(str).tolist(), rows["exit_reason"].astype(str).tolist()]
    if "symbol" in rows.columns:
        columns.append(rows["symbol"].astype(str).tolist())
    for name in ("entry_time", "exit_time"):
        columns.append(["" if pd.isna(v) else v.isoformat() for v in rows[name]])
    return np.array(
        [q in " ".join(parts).lower() for parts in zip(*columns, strict=True)], dtype=bool
    )


def trades_csv(trades: pd.DataFrame) -> str:
    """Every column and row of trades.parquet as CSV (ISO times, full float precision)."""
    out = trades.copy()
    for name in out.columns:
        if isinstance(out[name].dtype, pd.DatetimeTZDtype):
            out[name] = out[name].map(lambda v: v.isoformat() if not pd.isna(v) else "")
    return out.to_csv(index=False, float_format="%.17g", lineterminator="\n")
