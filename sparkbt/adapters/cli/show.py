"""``sparkbt show``: print stored evidence (a run, sweep or walk-forward), as a table or JSON.

``--trades`` lists a run's trades instead. An id that is not found names the
evidence root searched and where that root came from (``--evidence-dir``,
``$SPARKBT_EVIDENCE_DIR`` or the default ``./evidence``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sparkbt.adapters.cli.args import EVIDENCE_DIR
from sparkbt.adapters.cli.summary import print_stats_table
from sparkbt.adapters.cli.sweeps import show_sweep, show_walk_forward
from sparkbt.errors import ConfigError, EvidenceNotFound

if TYPE_CHECKING:
    from rich.console import JustifyMethod

__all__ = ["print_trades", "register", "show"]


def show(
    ref: str = typer.Argument(..., help="Run id (or unique prefix) or evidence folder."),
    evidence_dir: Path | None = EVIDENCE_DIR,
    trades: bool = typer.Option(False, "--trades", help="List the run's trades."),
    orders: bool = typer.Option(
        False, "--orders", help="List every order of a run of an orders strategy."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the stored JSON (or trade or order records)."
    ),
) -> None:
    """Print a stored run, sweep or walk-forward (--trades, --orders: a run's trades, orders)."""
    from sparkbt.evidence import RunEvidence, dump_json, read_evidence

    try:
        ev = read_evidence(ref, evidence_dir)
    except EvidenceNotFound as exc:
        if exc.root is None:
            raise
        raise EvidenceNotFound(f"{exc}; {_root_source(evidence_dir)}") from None
    if trades and not isinstance(ev, RunEvidence):
        raise ConfigError(
            f"--trades: {ev.id} is a {ev.kind.replace('walkforward', 'walk-forward')}; "
            "trades are stored with backtest runs only"
        )
    if orders:
        _show_orders(ev, trades, as_json)
        return
    if ev.kind == "walkforward":
        show_walk_forward(ev, as_json)
    elif not isinstance(ev, RunEvidence):
        show_sweep(ev, as_json)
    elif trades and as_json:
        typer.echo(dump_json(trade_records(ev.trades)), nl=False)
    elif trades:
        from rich.console import Console

        title = f"trades of run {ev.id}: {ev.report['strategy']}"
        if ev.is_portfolio:  # one table per symbol, in the order of the portfolio
            for sym in ev.report.get("metadata", {}).get("symbols") or []:
                print_trades(Console(), f"{title} · {sym}", ev.trades[ev.trades.symbol == sym])
        else:
            print_trades(Console(), title, ev.trades)
    elif as_json:
        typer.echo(dump_json(ev.report), nl=False)
    else:
        print_stats_table("stored run", ev.report, ev.path)
        if ev.is_orders:
            from rich.console import Console

            from sparkbt.adapters.cli.orders import print_order_summary

            print_order_summary(Console(), ev.id, ev.orders)


def _show_orders(ev: Any, trades: bool, as_json: bool) -> None:
    """``show --orders``: every order of an order run, as a table or JSON records."""
    from sparkbt.adapters.cli.orders import order_records, print_orders, status_text
    from sparkbt.evidence import dump_json

    if trades:
        raise ConfigError("--orders and --trades: choose one")
    if not getattr(ev, "is_orders", False):
        what = ev.kind.replace("walkforward", "walk-forward")
        kind = ev.report.get("kind", "targets") if what == "backtest" else what
        raise ConfigError(
            f"--orders: {ev.id} is a {'run of ' + kind if what == 'backtest' else kind}; "
            "orders are stored with runs of strategies that return orders"
        )
    if as_json:
        typer.echo(dump_json(order_records(ev.orders)), nl=False)
        return
    from rich.console import Console

    console = Console()
    print_orders(console, f"orders of run {ev.id}: {ev.report['strategy']}", ev.orders)
    console.print(status_text(ev.orders), soft_wrap=True)


def _root_source(evidence_dir: Path | None) -> str:
    """Where the evidence root came from, and how to choose another."""
    if evidence_dir is not None:
        return "that root is --evidence-dir (else SPARKBT_EVIDENCE_DIR, else ./evidence)"
    if os.environ.get("SPARKBT_EVIDENCE_DIR"):
        return "that root is $SPARKBT_EVIDENCE_DIR; --evidence-dir chooses another"
    return "that root is the default ./evidence; --evidence-dir or SPARKBT_EVIDENCE_DIR set another"


def trade_records(trades: Any) -> list[dict[str, Any]]:
    """The trades table as JSON-safe records (times in ISO 8601, NaN as null)."""
    import pandas as pd

    from sparkbt.engine.stats import json_safe

    return [
        {k: v.isoformat() if isinstance(v, pd.Timestamp) else json_safe(v) for k, v in r.items()}
        for r in trades.to_dict("records")
    ]


_TRADE_COLUMNS: dict[str, tuple[Any, JustifyMethod]] = {  # header: (cell text of a trade, justify)
    "#": (lambda t: str(t["id"]), "right"),
    "side": (lambda t: t["side"], "left"),
    "entry": (lambda t: _time(t["entry_time"]), "left"),
    "exit": (lambda t: _time(t["exit_time"]), "left"),
    "entry price": (lambda t: f"{t['entry_price']:,.6g}", "right"),
    "exit price": (lambda t: f"{t['exit_price']:,.6g}", "right"),
    "units": (lambda t: f"{t['units']:,.6g}", "right"),
    "pnl": (lambda t: f"{t['pnl']:,.2f}", "right"),
    "return": (lambda t: f"{t['return']:+.2%}", "right"),
    "bars": (lambda t: f"{t['bars_held']:,}", "right"),
    "exit reason": (lambda t: t["exit_reason"].replace("_", " "), "left"),
}
_WRAPPING = {"entry": 10, "exit": 10, "exit reason": 8}  # least width: a date, "trailing"
_OPTIONAL = {"entry price", "exit price", "units"}  # shown when the console is wide enough


def print_trades(console: Any, title: str, trades: Any) -> None:
    """One row per trade, with as many columns as fit the console.

    Always: number, side, entry and exit time (wrapping between date and
    clock), pnl, return, bars held and exit reason; then the entry and exit
    prices, then the units, when the console is wide enough for them. Numbers
    never wrap or shrink; every column is in ``--json``.
    """
    records = trades.to_dict("records")
    cells = {h: [cell(t) for t in records] for h, (cell, _) in _TRADE_COLUMNS.items()}

    def least(h: str) -> int:  # narrowest a column gets: whole numbers, whole words
        words = [w for text in (h, *cells[h]) for w in (text.split() if h in _WRAPPING else [text])]
        return max(_WRAPPING.get(h, 0), *map(len, words))

    for extra in (("entry price", "exit price", "units"), ("entry price", "exit price"), ()):
        headers = [h for h in _TRADE_COLUMNS if h in extra or h not in _OPTIONAL]
        if sum(least(h) + 3 for h in headers) + 1 <= console.width:
            break
    console.print(_trades_table(title, cells, headers, len(records)))
    if not records:
        console.print("no trades")


def _trades_table(title: str, cells: dict[str, list[str]], headers: list[str], n: int) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for h in headers:
        table.add_column(
            h,
            justify=_TRADE_COLUMNS[h][1],
            no_wrap=h not in _WRAPPING,
            min_width=_WRAPPING.get(h),
        )
    for i in range(n):
        table.add_row(*(cells[h][i] for h in headers))
    return table


def _time(ts: Any) -> str:
    """``2024-01-01 04:00`` (seconds only when there are any)."""
    text = str(ts)[:19]
    return text[:16] if text.endswith(":00") else text


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command("show")(show)
