"""The orders of an order run on the command line (``run``, ``show``, ``show --orders``).

A run of a strategy that returns orders prints, under its statistics, how many
orders ended in each status and a compact orders table: each order's time, side,
quantity, type, limit/stop level, status (with why, when it did not fill), and
its fill time, price and fee kind (maker: a resting limit filled at its limit;
taker: every other fill). A long table shows its first and last rows and says
how to list them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console, JustifyMethod

__all__ = ["MAX_ORDER_ROWS", "order_records", "print_order_summary", "print_orders", "status_text"]

MAX_ORDER_ROWS = 20
"""Orders printed under a run's summary; a longer table shows its first and last ten."""

STATUSES = ("filled", "partial", "open", "expired", "cancelled", "rejected")
"""Every final status of an order, in the order the summary counts them."""

_STYLE = {
    "filled": "green",
    "partial": "yellow",
    "open": "cyan",
    "expired": "dim",
    "cancelled": "dim",
    "rejected": "red",
}


def status_text(orders: pd.DataFrame) -> str:
    """``orders 12: filled 7 · partial 1 · expired 2 · cancelled 2`` (statuses that occur)."""
    counts: dict[str, int] = {str(k): int(v) for k, v in orders["status"].value_counts().items()}
    parts = [f"{s} {int(counts[s]):,}" for s in STATUSES if s in counts]
    others = sorted(set(counts) - set(STATUSES))
    parts += [f"{s} {int(counts[s]):,}" for s in others]
    return f"orders {len(orders):,}" + (": " + " · ".join(parts) if parts else "")


def _num(v: Any) -> str:
    return "" if v is None or v != v else f"{float(v):,.6g}"


def _time(ts: Any) -> str:
    if ts is None or ts != ts:
        return ""
    text = str(ts)[:19]
    return text[:16] if text.endswith(":00") else text


def _level(order: dict[str, Any]) -> str:
    """Type and level: ``limit 98.5``, ``stop 95``, ``stop 95 limit 96`` or ``market``."""
    stop, price = order.get("stop"), order.get("price")
    parts = [f"stop {_num(stop)}"] if stop is not None and stop == stop else []
    if price is not None and price == price:
        parts.append(f"limit {_num(price)}")
    return " ".join(parts) or str(order.get("type") or "market").replace("_", "-")


def _status(order: dict[str, Any]) -> str:
    """``filled``, ``cancelled (oco)``, ``partial 0.72 (no cash)``..., coloured by status."""
    status, reason = str(order["status"]), str(order.get("reason") or "none")
    style = _STYLE.get(status, "")
    text = f"[{style}]{status}[/]" if style else status
    if status == "partial":
        text += f" {_num(order['filled'])}"
    return text + ("" if reason in ("none", "expired") else f" ({reason.replace('_', ' ')})")


def _fee_kind(order: dict[str, Any]) -> str:
    kind = order.get("fee_kind")
    return "" if kind is None or kind != kind else str(kind)


_COLUMNS: dict[str, tuple[Any, JustifyMethod]] = {  # header: (cell text of an order, justify)
    "#": (lambda o: str(o["id"]), "right"),
    "time": (lambda o: _time(o["timestamp"]), "left"),
    "side": (lambda o: str(o["side"]), "left"),
    "qty": (lambda o: _num(o["qty"]), "right"),
    "order": (_level, "left"),
    "status": (_status, "left"),
    "fill time": (lambda o: _time(o["fill_time"]), "left"),
    "fill price": (lambda o: _num(o["fill_price"]), "right"),
    "fee": (_fee_kind, "left"),
}
_WRAPPING = {
    "time": 10,
    "fill time": 10,
    "order": 8,
    "status": 9,
    "fill price": 5,
}  # least width when wrapped


def _table(console: Console, title: str, records: list[dict[str, Any]], gap: int | None) -> Any:
    """The orders as a rich Table: one line per order when the console is wide enough,
    else times, levels and statuses wrap between words (numbers never do)."""
    from rich import box
    from rich.table import Table

    cells = {h: [cell(o) for o in records] for h, (cell, _) in _COLUMNS.items()}
    plain = {h: [Text.from_markup(c).plain for c in cells[h]] for h in cells}
    wide = {h: max(len(h), *map(len, plain[h])) for h in cells}
    fits = sum(wide.values()) + 3 * len(wide) <= console.width  # a gap is 3 wide

    def least(h: str) -> int:
        if fits or h not in _WRAPPING:
            return wide[h]
        words = [w for text in (h, *plain[h]) for w in text.split()]
        return max(_WRAPPING[h], *map(len, words))

    padding = (0, 1) if fits else (0, 1, 0, 0)  # narrow: gaps of 2
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, padding=padding)
    for header, (_, justify) in _COLUMNS.items():
        wraps = not fits and header in _WRAPPING
        table.add_column(
            header,
            justify=justify,
            no_wrap=not wraps,
            min_width=least(header),
            max_width=least(header) if wraps else None,
        )
    for i in range(len(records)):
        table.add_row(*(cells[h][i] for h in _COLUMNS))
        if gap is not None and i == gap:
            table.add_row("…", *([""] * (len(_COLUMNS) - 1)))
    return table


def print_orders(
    console: Console, title: str, orders: pd.DataFrame, limit: int | None = None, ref: str = ""
) -> None:
    """The orders table; with ``limit``, the first and last ``limit // 2`` rows and a note."""
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in orders.to_dict("records")
    ]
    gap, half, rest = None, 0, 0
    if limit is not None and len(records) > limit:
        half, rest = limit // 2, limit - limit // 2
        records, gap = records[:half] + records[-rest:], half - 1
    console.print(_table(console, title, records, gap))
    if not len(orders):
        console.print("no orders")
    elif gap is not None:
        console.print(
            f"showing the first {half} and last {rest} of {len(orders):,} "
            f"orders; `sparkbt show {ref or 'RUN_ID'} --orders` lists them all",
            soft_wrap=True,
        )


def print_order_summary(console: Console, run_id: str, orders: pd.DataFrame) -> None:
    """Under a run's statistics: the count of each status and the compact orders table."""
    console.print(status_text(orders), soft_wrap=True)
    print_orders(console, f"orders of run {run_id}", orders, MAX_ORDER_ROWS, run_id[:12])


def order_records(orders: pd.DataFrame) -> list[dict[str, Any]]:
    """The orders table as JSON-safe records (times in ISO 8601, NaN as null)."""
    import pandas as pd

    from sparkbt.engine.stats import json_safe

    def value(v: Any) -> Any:
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return None
        return json_safe(v)

    return [{str(k): value(v) for k, v in r.items()} for r in orders.to_dict("records")]
