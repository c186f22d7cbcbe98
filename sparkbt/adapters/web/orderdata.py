"""What a report page shows of an order run: the orders, the fills with their fee kind,
and each limit and stop level as a segment on the price chart.

A level is drawn from the bar its order was decided on to the bar it left the
book (the orders table's ``end_time``: its fill, its expiry, the fill of the OCO
sibling that cancelled it, its rejection), or the last bar while it is still open.
A rejected order is drawn for one bar. Segments of one colour and style that do
not overlap share one chart line (the strokes between them are invisible), so a run
of thousands of orders is a few lines on the chart, not thousands.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sparkbt.adapters.web.downsample import bucket_of
from sparkbt.evidence import RunEvidence

__all__ = [
    "LEVEL_COLOURS",
    "MAX_TABLE_ORDERS",
    "STATUS_CLASSES",
    "fill_rows",
    "level_lines",
    "order_end_times",
    "order_payload",
    "order_rows",
]

MAX_TABLE_ORDERS = 2000
"""Orders (and fills) listed in the page; the evidence's orders.parquet has every one."""

LEVEL_COLOURS = {
    "limit": "#2f5bd3",
    "stop": "#e08a1e",
    "stop_limit": "#8a55c9",
}
"""Colour of a level on the price chart, by order type (a stop-limit's stop and limit alike)."""

STATUS_CLASSES = {
    "filled": "done",
    "partial": "warn",
    "open": "running",
    "expired": "skipped",
    "cancelled": "skipped",
    "rejected": "failed",
}
"""The page's status badge class of each order status."""


def _iso(v: Any) -> str | None:
    return None if v is None or pd.isna(v) else pd.Timestamp(v).isoformat()


def _float(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else float(v)


def order_rows(orders: pd.DataFrame) -> list[dict[str, Any]]:
    """The orders as the page lists them (JSON-ready; times ISO, NaN as None)."""
    out = []
    for o in orders.to_dict("records"):
        status = str(o["status"])
        out.append(
            {
                "id": int(o["id"]),
                "time": _iso(o["timestamp"]),
                "side": str(o["side"]),
                "qty": float(o["qty"]),
                "type": str(o["type"]),
                "price": _float(o["price"]),
                "stop": _float(o["stop"]),
                "tif": str(o["tif"]),
                "status": status,
                "status_class": STATUS_CLASSES.get(status, ""),
                "reason": None if str(o["reason"]) == "none" else str(o["reason"]),
                "filled": float(o["filled"]),
                "fill_time": _iso(o["fill_time"]),
                "fill_price": _float(o["fill_price"]),
                "fee": _float(o["fee"]),
                "fee_kind": None if pd.isna(o["fee_kind"]) else str(o["fee_kind"]),
                "tag": None if o.get("tag") is None or pd.isna(o["tag"]) else str(o["tag"]),
            }
        )
    return out


def fill_rows(fills: pd.DataFrame, orders: pd.DataFrame) -> list[dict[str, Any]]:
    """Every fill with its order id and the fee it paid: maker (a resting limit filled at its
    limit) or taker (every other fill, and the engine's own stop, gate and ruin exits)."""
    kinds = dict(zip(orders["id"].astype(int), orders["fee_kind"], strict=True))
    out = []
    for f in fills.to_dict("records"):
        order = int(f["order"]) if "order" in f else -1
        kind = kinds.get(order)
        out.append(
            {
                "time": _iso(f["timestamp"]),
                "order": order if order >= 0 else None,
                "side": str(f["side"]),
                "units": float(f["units"]),
                "price": float(f["price"]),
                "fee": float(f["fee"]),
                "fee_kind": str(kind) if kind is not None and not pd.isna(kind) else "taker",
                "reason": str(f["reason"]),
            }
        )
    return out


def order_end_times(orders: pd.DataFrame, index: pd.DatetimeIndex) -> pd.Series:
    """When each order left the book (see the module docstring); NaT never happens.

    Orders tables stored before ``end_time`` existed have it inferred from the statuses.
    """
    if "end_time" in orders.columns:
        end = pd.Series(pd.DatetimeIndex(orders["end_time"]), index=orders.index)
        return end.fillna(index[-1])  # still open
    decided = pd.DatetimeIndex(orders["timestamp"])
    pos = np.clip(index.searchsorted(decided, side="right"), 0, len(index) - 1)
    next_bar = pd.Series(index[pos], index=orders.index)
    end = pd.Series(pd.NaT, index=orders.index, dtype=index.dtype)
    status = orders["status"].astype(str)
    filled = status.isin(("filled", "partial"))
    end[filled] = orders.loc[filled, "fill_time"]
    end[status == "open"] = index[-1]
    expired = status == "expired"
    gtd = expired & orders["expire"].notna()
    end[gtd] = orders.loc[gtd, "expire"].where(orders.loc[gtd, "expire"] <= index[-1], index[-1])
    cancelled = status == "cancelled"
    if cancelled.any():
        fills = orders[filled & orders["oco"].notna()]
        first = fills.groupby("oco")["fill_time"].min()
        end[cancelled] = orders.loc[cancelled, "oco"].map(first)
    return end.fillna(next_bar)


def _seconds(times: pd.Series) -> np.ndarray:
    """Epoch seconds of times stored at any resolution (parquet may keep microseconds)."""
    return pd.DatetimeIndex(times).as_unit("ns").asi8 // 10**9


def _levels(orders: pd.DataFrame) -> list[tuple[int, str, bool, float]]:
    """(row, type, filled, level) of every limit and stop level, in the orders' order."""
    out = []
    for i, o in enumerate(orders.to_dict("records")):
        done = str(o["status"]) in ("filled", "partial")
        for col in ("stop", "price"):
            if o[col] is not None and not pd.isna(o[col]):
                out.append((i, str(o["type"]), done, float(o[col])))
    return out


def level_lines(
    orders: pd.DataFrame, index: pd.DatetimeIndex, bucket_t: np.ndarray
) -> list[dict[str, Any]]:
    """Chart lines of the orders' levels on the candle buckets ``bucket_t`` (epoch seconds).

    Each line is ``{"type", "filled", "color", "points": [[t, level, ends], ...]}``; the
    stroke leaving a point that ends a segment (``ends`` 1) is invisible, so the segments
    of one line are not joined (the chart library draws no gaps in a line).
    """
    if orders.empty or len(bucket_t) == 0:
        return []
    end = order_end_times(orders, index)
    start_b = bucket_of(bucket_t, _seconds(orders["timestamp"]))
    end_b = bucket_of(bucket_t, _seconds(end))
    last = len(bucket_t) - 1
    lanes: dict[tuple[str, bool], list[list[Any]]] = {}  # key -> lanes: [last bucket, points]
    for i, kind, done, level in _levels(orders):
        a = int(start_b[i])
        b = max(int(end_b[i]), min(a + 1, last))  # at least one bar wide where there is room
        key = (kind, done)
        lane = next((ln for ln in lanes.setdefault(key, []) if ln[0] < a), None)
        if lane is None:
            lane = [-1, []]
            lanes[key].append(lane)
        # the stroke from a segment's last point to the next segment is drawn invisible
        lane[1] += [[int(bucket_t[t]), level, int(t == b)] for t in sorted({a, b})]
        lane[0] = b
    return [
        {"type": kind, "filled": done, "color": LEVEL_COLOURS.get(kind, "#555555"), "points": ln[1]}
        for (kind, done), group in lanes.items()
        for ln in group
    ]


def order_payload(run: RunEvidence, bucket_t: np.ndarray | None) -> dict[str, Any]:
    """The orders part of a report page (``bucket_t``: the candle chart's bar times, if drawn)."""
    orders = run.orders
    counts = orders["status"].astype(str).value_counts() if len(orders) else pd.Series()
    index = pd.DatetimeIndex(run.equity.index)
    return {
        "order_count": len(orders),
        "status_counts": {str(k): int(v) for k, v in counts.items()},
        "orders": order_rows(orders.iloc[:MAX_TABLE_ORDERS]),
        "fills": fill_rows(run.fills.iloc[:MAX_TABLE_ORDERS], orders),
        "fill_count": len(run.fills),
        "level_colours": LEVEL_COLOURS,
        "levels": level_lines(orders, index, bucket_t) if bucket_t is not None else [],
    }
