"""``sparkbt report RUN_ID --html FILE``: a stored run's report as one self-contained HTML file.

It is the page ``sparkbt serve`` shows for the run, a portfolio's included.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sparkbt.adapters.cli.args import EVIDENCE_DIR

__all__ = ["register", "report"]


def report(
    ref: str = typer.Argument(..., help="Run id (or unique prefix) or evidence folder."),
    html: Path = typer.Option(
        ..., "--html", help="Write the report to this HTML file (scripts, styles and data inlined)."
    ),
    evidence_dir: Path | None = EVIDENCE_DIR,
    data: Path | None = typer.Option(
        None,
        "--data",
        help="Candle file the run used, for the price chart when the store does not have them.",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Candle store to find the run's candles in (default ./data)."
    ),
) -> None:
    """Write a stored run's report as one HTML file that opens offline."""
    from sparkbt.errors import EvidenceNotFound, SparkbtError
    from sparkbt.evidence import RunEvidence, read_evidence

    ev = read_evidence(ref, evidence_dir)
    if not isinstance(ev, RunEvidence):
        raise EvidenceNotFound(f"{ref}: is a {ev.kind}, not a backtest run")
    from sparkbt.adapters.web.standalone import portfolio_sources, write_report_html

    if ev.is_portfolio:
        path = write_report_html(ev, portfolio_sources(ev.report, data_dir), html)
        typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return
    meta = ev.report.get("metadata") or {}
    candles, note = None, ""
    try:
        if data is not None:
            from sparkbt.data.candles import load_candles

            candles = load_candles(data, timeframe=meta.get("timeframe"))
        elif meta.get("symbol") and meta.get("timeframe"):
            from sparkbt.data.store import resolve_candles

            candles = resolve_candles(meta["symbol"], meta["timeframe"], data_dir)
        else:
            note = "the run does not name its symbol and timeframe; pass --data"
    except SparkbtError as exc:
        if data is not None:
            raise
        note = f"its candles are not in the store ({str(exc).splitlines()[0]}); pass --data"
    path = write_report_html(ev, candles, html, note)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command("report")(report)
