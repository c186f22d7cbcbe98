"""``sparkbt verify``: re-run a stored run, sweep or walk-forward and compare it with its evidence.

One line per file checked (or ``--json``); exit 0 verified, 1 differs, 2 cannot re-run
(candles missing or changed, strategy source changed, other engine version) or no such id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sparkbt.adapters.cli.args import EVIDENCE_DIR

__all__ = ["register", "verify_command"]

_MARKS = {"verified": "[green]verified[/]", "differs": "[red]differs[/]"}


def verify_command(
    ref: str = typer.Argument(..., help="Run, sweep or walk-forward id (or unique prefix)."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    evidence_dir: Path | None = EVIDENCE_DIR,
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Candle store to find the candles in (env SPARKBT_DATA_DIR)."
    ),
    strategy: str | None = typer.Option(
        None, "--strategy", help="Strategy file when its name is not discoverable (FILE.py:FUNC)."
    ),
) -> None:
    """Re-run stored evidence from its recorded inputs and compare every number (exit 0/1/2)."""
    from sparkbt.evidence import dump_json
    from sparkbt.research.verify import verify

    result = verify(ref, evidence_dir, data_dir, strategy=strategy)
    if as_json:
        typer.echo(dump_json(result.to_dict()), nl=False)
    else:
        _print(result)
    raise typer.Exit(result.exit_code)


def _print(result: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    kind = result.kind.replace("walkforward", "walk-forward")
    console.print(f"[bold]verify {kind} {result.id}[/]  ({escape(str(result.path))})")
    if result.status == "cannot_rerun":
        console.print(f"[yellow]cannot re-run[/]: {escape(result.reason or '')}")
        return
    for check in result.checks:
        state = "verified" if check.same else "differs"
        console.print(f"  {_MARKS[state]:<22} {escape(check.file)}")
        for diff in check.differences:
            console.print(f"      {escape(str(diff))}")
    console.print(escape(result.message))


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command("verify")(verify_command)
