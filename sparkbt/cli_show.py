"""``sparkbt show``: print stored evidence (a run, sweep or walk-forward), as a table or JSON."""

from __future__ import annotations

from pathlib import Path

import typer

from .cli_core import print_stats_table
from .sweeps.cli import register as register_sweeps
from .sweeps.cli import show_sweep, show_walk_forward

__all__ = ["register", "show"]


def show(
    ref: str = typer.Argument(..., help="Run id (or unique prefix) or evidence folder."),
    evidence_dir: Path | None = typer.Option(
        None, "--evidence-dir", help="Evidence root [env SPARKBT_EVIDENCE_DIR, default ./evidence]."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the stored JSON."),
) -> None:
    """Print a stored run, sweep or walk-forward."""
    from .evidence import RunEvidence, dump_json, read_evidence

    ev = read_evidence(ref, evidence_dir)
    if ev.kind == "walkforward":
        show_walk_forward(ev, as_json)
        return
    if not isinstance(ev, RunEvidence):
        show_sweep(ev, as_json)
        return
    if as_json:
        typer.echo(dump_json(ev.report), nl=False)
    else:
        print_stats_table("stored run", ev.report, ev.path)


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command("show")(show)
    # ``show`` reads what ``sweep`` and ``walk-forward`` store, so their commands
    # come with it (registering twice is a no-op).
    register_sweeps(app, data_app)
