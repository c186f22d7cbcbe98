"""Checks of a run report's trade table and CSV against the run's trades.parquet."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from playwright.sync_api import TimeoutError as PlaywrightTimeout

__all__ = [
    "IDS_JS",
    "ROWS_JS",
    "check_csv",
    "check_rows",
    "expect_ids",
    "read_trades",
    "table_rows",
    "wait_rows",
]

ROWS_JS = """() => Array.from(document.querySelectorAll("#trade-table tbody tr")).map(
  tr => Array.from(tr.cells).map(td => td.textContent))"""
IDS_JS = """() => Array.from(document.querySelectorAll("#trade-table tbody tr")).map(
  tr => Number(tr.dataset.id))"""


def expect_ids(page: Any, want: list[int]) -> None:
    """Wait until the trade table lists the trade ids ``want`` in that order."""
    js = f"want => JSON.stringify(({IDS_JS})()) === JSON.stringify(want)"
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(js, arg=want, timeout=10_000)
    assert page.evaluate(IDS_JS) == want


def read_trades(evidence: Path, run_id: str) -> pd.DataFrame:
    """trades.parquet of the stored run ``run_id`` under the evidence root ``evidence``."""
    return pd.read_parquet(evidence / "backtest" / run_id / "trades.parquet")


def table_rows(page: Any) -> tuple[list[str], list[list[str]]]:
    """The trade table's column headers and the text of every listed row."""
    headers = [h.strip() for h in page.locator("#trade-table thead th").all_inner_texts()]
    return headers, page.evaluate(ROWS_JS)


def wait_rows(page: Any, count: int) -> None:
    """Wait until the trade table lists ``count`` rows."""
    page.wait_for_function(
        "n => document.querySelectorAll('#trade-table tbody tr').length === n", arg=count
    )


def _minute(ts: Any) -> str:
    return "" if pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M")


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("%", ""))


def check_rows(rows: list[list[str]], headers: list[str], trades: pd.DataFrame) -> None:
    """The trade table shows every trade of ``trades`` in id order, to its displayed precision."""
    assert len(rows) == len(trades) > 0
    col = {name: i for i, name in enumerate(headers)}
    for row, (_, t) in zip(rows, trades.iterrows(), strict=True):
        where = f"trade {t['id']}: {row}"
        assert int(row[col["id"]]) == t["id"], where
        assert row[col["side"]] == t["side"], where
        assert row[col["exit reason"]] == t["exit_reason"], where
        assert row[col["entry time"]] == _minute(t["entry_time"]), where
        assert row[col["exit time"]] == _minute(t["exit_time"]), where
        assert int(row[col["bars held"]]) == t["bars_held"], where
        for name in ("entry_price", "exit_price", "pnl", "fees"):
            shown = row[col[name.replace("_", " ")]]
            if pd.isna(t[name]):
                assert shown == "", where
                continue
            # at most four decimals are shown: the value rounds to the text
            assert abs(_number(shown) - t[name]) <= 0.5e-4 + 1e-9 * abs(t[name]), (name, where)
        assert abs(_number(row[col["return"]]) / 100 - t["return"]) <= 0.5e-4 + 1e-12, where
        units = _number(row[col["units"]])
        assert abs(units - t["units"]) <= 1e-7 * abs(t["units"]), where


def check_csv(path: Path, trades: pd.DataFrame) -> None:
    """The downloaded CSV holds trades.parquet exactly: columns, times and full-precision floats."""
    csv = pd.read_csv(path)
    assert list(csv.columns) == list(trades.columns)
    assert len(csv) == len(trades)
    for name in trades.columns:
        want = trades[name]
        got = csv[name]
        if isinstance(want.dtype, pd.DatetimeTZDtype):
            got = pd.to_datetime(got, utc=True, format="ISO8601")
            assert got.dt.as_unit("ns").equals(want.dt.as_unit("ns")), name
        elif want.dtype.kind == "f":
            assert np.array_equal(got.to_numpy(float), want.to_numpy(float), equal_nan=True), name
        elif want.dtype.kind in "iub":
            assert got.tolist() == want.tolist(), name
        else:
            assert got.astype(str).tolist() == want.astype(str).tolist(), name
