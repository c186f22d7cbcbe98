"""``sparkbt guard check`` and ``sparkbt guard policy``: a guard policy offline.

``sparkbt guard check RUN_OR_SWEEP_ID --policy policy.toml`` prints one row per
gate (result, value, limit, action) and the decision; ``--json`` prints the
decision record. A completed evaluation exits 0 whatever the decision; bad
input (unknown id, bad policy file) raises an InputError, which the root
command prints as one line with exit 2. ``sparkbt guard policy`` prints the
policy in force.

``GATE_STYLE`` and ``fmt_value`` are the gate-row styling the service-client
commands of :mod:`sparkbt.adapters.cli.guard_proposals` print with too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sparkbt.adapters.cli.args import EVIDENCE_DIR

__all__ = ["GATE_STYLE", "check", "fmt_value", "show_policy"]

_POLICY_HELP = "Policy TOML file (one gates.NAME table per gate); default policy if omitted."
GATE_STYLE = {"pass": "green", "warn": "yellow", "block": "bold red", "skip": "dim"}


def _policy(path: Path | None) -> Any:
    from sparkbt.research.policy import default_policy, load_policy

    return load_policy(path) if path is not None else default_policy()


def fmt_value(value: Any) -> str:
    """A gate value or limit as printed: a dash for None, yes/no, 4 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def check(
    ref: str = typer.Argument(..., help="Backtest or sweep id (or unique prefix) or folder."),
    policy: Path | None = typer.Option(None, "--policy", "-p", help=_POLICY_HELP),
    evidence_dir: Path | None = EVIDENCE_DIR,
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        help="Sweep the run was picked from: its combinations are the trials the DSR deflates by.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision record as JSON."),
) -> None:
    """Evaluate a policy's gates on a stored backtest or sweep."""
    from sparkbt.errors import ConfigError
    from sparkbt.evidence import RunEvidence, default_evidence_dir, dump_json, read_evidence
    from sparkbt.research.gates import decision_record, evaluate
    from sparkbt.research.stored_evidence import from_run, from_sweep
    from sparkbt.research.sweep_evidence import SweepEvidence

    pol = _policy(policy)
    root = Path(evidence_dir) if evidence_dir is not None else default_evidence_dir()
    ev = read_evidence(ref, root)
    if isinstance(ev, RunEvidence):
        sw = read_evidence(sweep, root) if sweep is not None else None
        if sw is not None and not isinstance(sw, SweepEvidence):
            raise ConfigError(f"--sweep {sweep!r}: not a sweep (it is a {sw.kind})")
        stored = from_run(ev, sw)
    elif isinstance(ev, SweepEvidence):
        if sweep is not None:
            raise ConfigError("--sweep applies to a backtest run, not to a sweep")
        stored = from_sweep(ev, root)
    else:
        raise ConfigError(f"{ref}: guard check needs a backtest or a sweep (got {ev.kind})")
    results = evaluate(pol, stored.evidence)
    record = {
        "evidence": {"kind": stored.kind, "id": stored.id, **stored.subject},
        **decision_record(pol, results),
        "dsr": stored.dsr,
        "notes": stored.notes,
    }
    if as_json:
        typer.echo(dump_json(record), nl=False)
        return
    _print_check(record)


def _print_check(record: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ev = record["evidence"]
    params = ", ".join(f"{k}={v}" for k, v in (ev.get("params") or {}).items())
    table = Table(
        title=f"guard check: {ev['kind']} {ev['id']} {ev.get('strategy') or ''}({params})"
    )
    for col in ("gate", "result", "value", "limit", "action", "detail"):
        table.add_column(col, justify="right" if col in ("value", "limit") else "left")
    for g in record["gates"]:
        style = GATE_STYLE[g["result"]]
        table.add_row(
            g["gate"],
            f"[{style}]{g['result']}[/]",
            fmt_value(g["value"]),
            fmt_value(g["limit"]),
            g["action"],
            g["message"],
        )
    console.print(table)
    for note in record["notes"]:
        console.print(f"· {note}", soft_wrap=True, markup=False)
    verdict = record["decision"]
    colour = "bold red" if verdict == "blocked" else "bold green"
    pol = record["policy"]
    console.print(
        f"decision: [{colour}]{verdict}[/] · policy {pol['source']} (sha256 {pol['sha256'][:12]})",
        soft_wrap=True,
    )


def show_policy(
    policy: Path | None = typer.Option(None, "--policy", "-p", help=_POLICY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the policy as JSON."),
) -> None:
    """Print the policy in force: every gate with its limit and action."""
    from rich.console import Console
    from rich.table import Table

    from sparkbt.evidence import dump_json

    pol = _policy(policy)
    if as_json:
        typer.echo(
            dump_json({**pol.to_dict(), "source": pol.source, "sha256": pol.sha256}), nl=False
        )
        return
    table = Table(title=f"guard policy: {pol.source}")
    for col in ("gate", "passes when", "limit", "action"):
        table.add_column(col, justify="right" if col == "limit" else "left")
    for g in pol.gates:
        spec = g.spec
        rule = {"max": f"{spec.help} <= limit", "min": f"{spec.help} >= limit"}.get(
            spec.compare, spec.help
        )
        table.add_row(g.name, rule, fmt_value(g.limit), g.action)
    console = Console()
    console.print(table)
    console.print(f"sha256 {pol.sha256}", soft_wrap=True)
