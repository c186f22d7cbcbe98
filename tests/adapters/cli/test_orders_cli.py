"""Runs of a strategy that returns orders on the command line: run, --json, show, --orders."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import app
from sparkbt.adapters.cli.orders import MAX_ORDER_ROWS, print_orders, status_text
from sparkbt.evidence import read_evidence
from tests.adapters.order_strategy import write_bracket


def invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "120"})


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, str]:
    """One order run saved by ``sparkbt run`` (its output, evidence root and strategy ref)."""
    root = tmp_path_factory.mktemp("orders")
    ref = f"{write_bracket(root / 'strategies')}:bracket"
    out = invoke("run", "--strategy", ref, "--evidence-dir", str(root / "ev"))
    assert out.exit_code == 0, out.output
    return out.stdout, root / "ev", ref


def _orders(root: Path) -> pd.DataFrame:
    (run_dir,) = (root / "backtest").iterdir()
    return pd.read_parquet(run_dir / "orders.parquet")


def test_run_prints_the_status_counts_and_a_truncated_orders_table(stored) -> None:
    out, root, _ = stored
    orders = _orders(root)
    assert len(orders) > MAX_ORDER_ROWS
    counts = orders["status"].value_counts()
    assert {"filled", "cancelled", "expired"} <= set(counts.index)
    line = next(x for x in out.splitlines() if x.startswith("orders "))
    assert line.startswith(f"orders {len(orders)}: filled {counts['filled']}")
    assert f"cancelled {counts['cancelled']}" in line and f"expired {counts['expired']}" in line
    run_id = read_evidence(str(next((root / "backtest").iterdir()))).id
    assert f"orders of run {run_id}" in out
    assert f"of {len(orders)} orders; `sparkbt show {run_id[:12]} --orders` lists them all" in out
    first, last = orders.iloc[0], orders.iloc[-1]
    assert f"{first['price']:,.6g}" in out  # the first order's level
    assert any(x.lstrip().startswith(f"{last['id']} ") for x in out.splitlines())
    assert "maker" in out and "taker" in out and "cancelled" in out and "(oco)" in out


def test_run_json_prints_the_order_report(stored) -> None:
    _, root, ref = stored
    out = invoke("run", "--strategy", ref, "--json", "--no-save")
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["kind"] == "orders" and report["engine_version"] == "3"
    orders = _orders(root)
    filled = orders["status"].isin(["filled", "partial"]).sum()
    assert report["stats"]["orders_filled"] == filled


def test_show_knows_order_runs_and_lists_every_order(stored) -> None:
    _, root, _ = stored
    orders = _orders(root)
    run_id = read_evidence(str(next((root / "backtest").iterdir()))).id
    shown = invoke("show", run_id[:10], "--evidence-dir", str(root))
    assert shown.exit_code == 0, shown.output
    assert "stored run: bracket(every=200)" in shown.stdout
    assert status_text(orders) in shown.stdout
    listed = invoke("show", run_id[:10], "--orders", "--evidence-dir", str(root))
    assert listed.exit_code == 0, listed.output
    ids = re.findall(r"^\s*(\d+)\s+\d{4}-", listed.stdout, flags=re.M)
    assert ids == [str(i) for i in orders["id"]]  # every order, none left out
    records = json.loads(
        invoke("show", run_id[:10], "--orders", "--json", "--evidence-dir", str(root)).stdout
    )
    assert [r["status"] for r in records] == list(orders["status"])
    assert records[0]["timestamp"] == orders["timestamp"].iloc[0].isoformat()
    kinds = {r["fee_kind"] for r in records if r["fill_time"]}
    assert kinds == {"maker", "taker"}
    assert all(r["fee_kind"] is None for r in records if r["fill_time"] is None)


def test_show_orders_of_a_run_of_targets_is_refused(sample, tmp_path) -> None:
    import sparkbt as sb

    path = sb.backtest(sample, "buy_and_hold").save(tmp_path)
    out = invoke("show", path.name, "--orders", "--evidence-dir", str(tmp_path))
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert (
        len(lines) == 1
        and "orders are stored with runs of strategies that return orders" in lines[0]
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--maker-fees", "-1", "maker_fees: must be a fraction in [0, 1)"),
        ("--tick-size", "0", "tick_size: must be > 0"),
        ("--lot-size", "-0.5", "lot_size: must be > 0"),
        ("--min-notional", "-5", "min_notional: must be > 0"),
        ("--exchange-rules", "binance", "exchange_rules: expected btcturk"),
    ],
)
def test_bad_order_options_exit_2_with_one_line(flag, value, message) -> None:
    out = invoke("run", "--strategy", "buy_and_hold", flag, value, "--no-save")
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.output


def test_run_help_explains_the_order_options() -> None:
    out = invoke("run", "--help")
    text = " ".join(out.stdout.split())
    for flag in ("--maker-fees", "--tick-size", "--lot-size", "--min-notional", "--exchange-rules"):
        assert flag in text
    assert "resting limit order filled at its limit price (maker)" in text.replace("│ ", "")


@pytest.mark.parametrize("width", [80, 120])
def test_the_orders_table_fits_the_terminal(stored, width) -> None:
    _, root, _ = stored
    orders = _orders(root)
    buf = io.StringIO()
    console = Console(file=buf, width=width)
    print_orders(console, "orders", orders, MAX_ORDER_ROWS, "abc")
    text = buf.getvalue()
    table = [x for x in text.splitlines() if not x.startswith("showing")]
    assert max(map(len, table)) <= width
    assert "fee" in text and "maker" in text  # the last column is never cut off
    assert "…" in text  # the gap between the first and last rows
