"""``sparkbt guard``: evaluate a guard policy offline on stored evidence, show a policy,
and the service's guardrails: propose a param change, show, list, approve, reject.

``sparkbt guard check RUN_OR_SWEEP_ID --policy policy.toml`` prints one row per
gate (result, value, limit, action) and the decision; ``--json`` prints the
decision record. A completed evaluation exits 0 whatever the decision; bad
input (unknown id, bad policy file) raises an InputError, which the root
command prints as one line with exit 2.

``propose``, ``show``, ``list``, ``approve``, ``reject`` and ``paramset`` are
clients of a running ``sparkbt serve`` with the connection options of
``sparkbt jobs`` (--url/$SPARKBT_URL, --key/$SPARKBT_API_KEY,
--token/$SPARKBT_ADMIN_TOKEN): a refusal (401, 403, 404, 409, 422) or an
unreachable service is one line on stderr and exit 2.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from ..service.cli import (
    JSON_OPTION,
    KEY_OPTION,
    TOKEN_OPTION,
    URL_OPTION,
    emit,
    engine_options,
    parse_params,
    run_client,
)

__all__ = [
    "approve",
    "check",
    "list_proposals",
    "propose",
    "register",
    "reject",
    "show",
    "show_paramset",
    "show_policy",
]

_POLICY_HELP = "Policy TOML file (one gates.NAME table per gate); default policy if omitted."
_STYLE = {"pass": "green", "warn": "yellow", "block": "bold red", "skip": "dim"}


def _policy(path: Path | None) -> Any:
    from .policy import default_policy, load_policy

    return load_policy(path) if path is not None else default_policy()


def _fmt(value: Any) -> str:
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
    evidence_dir: Path | None = typer.Option(
        None, "--evidence-dir", help="Evidence root (env SPARKBT_EVIDENCE_DIR, default ./evidence)."
    ),
    sweep: str | None = typer.Option(
        None,
        "--sweep",
        help="Sweep the run was picked from: its combinations are the trials the DSR deflates by.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the decision record as JSON."),
) -> None:
    """Evaluate a policy's gates on a stored backtest or sweep."""
    from ..errors import ConfigError
    from ..evidence import RunEvidence, default_evidence_dir, dump_json, read_evidence
    from ..sweeps.evidence import SweepEvidence
    from .evaluate import decision_record, evaluate
    from .stored import from_run, from_sweep

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
        style = _STYLE[g["result"]]
        table.add_row(
            g["gate"],
            f"[{style}]{g['result']}[/]",
            _fmt(g["value"]),
            _fmt(g["limit"]),
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

    from ..evidence import dump_json

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
        table.add_row(g.name, rule, _fmt(g.limit), g.action)
    console = Console()
    console.print(table)
    console.print(f"sha256 {pol.sha256}", soft_wrap=True)


# ---- clients of the service's guardrails


class ProposalState(StrEnum):
    evaluating = "evaluating"
    pending = "pending"
    blocked = "blocked"
    approved = "approved"
    rejected = "rejected"
    stale = "stale"


_STATE_STYLE = {
    "evaluating": "cyan",
    "pending": "yellow",
    "blocked": "bold red",
    "approved": "bold green",
    "rejected": "red",
    "stale": "dim",
}


def _guard_client(url: str, token: str | None, key: str | None) -> Any:
    from .client import GuardClient

    return run_client(lambda: GuardClient(url, token, key=key))  # a malformed URL fails right here


def _print_json(obj: Any) -> None:
    from ..evidence import dump_json

    typer.echo(dump_json(obj), nl=False)


def _gate_table(gates: list[dict[str, Any]] | None, title: str = "gates") -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in ("gate", "result", "value", "limit", "action", "detail"):
        table.add_column(col, justify="right" if col in ("value", "limit") else "left")
    for g in gates or ():
        result = str(g.get("result"))
        table.add_row(
            str(g.get("gate")),
            f"[{_STYLE.get(result, '')}]{result}[/]",
            _fmt(g.get("value")),
            _fmt(g.get("limit")),
            str(g.get("action") or ""),
            str(g.get("message") or ""),
        )
    return table


def _state(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, '')}]{state}[/]"


def _print_proposal(p: dict[str, Any], *, full: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    v = p.get("version") or {}
    params = ", ".join(f"{k}={val}" for k, val in (v.get("params") or {}).items())
    console.print(
        f"proposal [bold]{p['id']}[/] · param set {p['paramset']} · {_state(p['state'])}"
        f"{' · decision ' + p['decision'] if p.get('decision') else ''}",
        soft_wrap=True,
    )
    console.print(
        f"  {v.get('strategy', '')}({params}) {v.get('pair', '')} {v.get('timeframe', '')}"
        f" · version {v.get('id', '—')} · base {p.get('base_version_id') or '—'}",
        soft_wrap=True,
        markup=False,
    )
    console.print(
        f"  proposer {p.get('proposer')} · created {p.get('created_at')}"
        f"{' · sweep ' + p['sweep_id'] if p.get('sweep_id') else ''}",
        soft_wrap=True,
        markup=False,
    )
    if p.get("note"):
        console.print(f"  note: {p['note']}", soft_wrap=True, markup=False)
    job = p.get("evaluation")
    if job:
        console.print(
            f"  evaluation: job {job.get('job_id')} {job.get('status')}"
            f"{' · ' + str(job['error']) if job.get('error') else ''}",
            soft_wrap=True,
            markup=False,
        )
    if not full:
        if p.get("gates"):
            console.print(_gate_table(p["gates"]))
        return
    changes = p.get("changes")
    if changes:
        table = Table(title="diff against the approved version")
        for col in ("field", "approved", "proposed", "change", "note"):
            table.add_column(col, justify="right" if col == "change" else "left")
        for c in changes:
            rel = c.get("relative_change")
            table.add_row(
                str(c.get("field")),
                _fmt(c.get("old")),
                _fmt(c.get("new")),
                "—" if rel is None else f"{rel:+.1%}",
                str(c.get("note") or ""),
            )
        console.print(table)
    elif p.get("base_version_id") is None:
        console.print("  diff: first version of the param set (nothing approved yet)")
    if p.get("gates") is not None:
        console.print(_gate_table(p["gates"]))
    headline = ((p.get("evidence") or {}).get("headline")) or {}
    sides = [(side, headline.get(side)) for side in ("approved", "proposed")]
    sides = [(side, stats) for side, stats in sides if stats]
    if sides:
        table = Table(title="headline evidence")
        table.add_column("stat")
        for side, _ in sides:
            table.add_column(side, justify="right")
        keys = list(dict.fromkeys(k for _, stats in sides for k in stats))
        for k in keys:
            table.add_row(k, *(_fmt(stats.get(k)) for _, stats in sides))
        console.print(table)
    approvals = p.get("approvals") or []
    if approvals:
        table = Table(title="approvals")
        for col in ("user", "role", "at", "comment", "override reason"):
            table.add_column(col)
        for a in approvals:
            table.add_row(
                str(a.get("user")),
                str(a.get("role")),
                str(a.get("created_at")),
                str(a.get("comment") or ""),
                str(a.get("override_reason") or ""),
            )
        console.print(table)
    _print_history(console, p.get("history") or [])


def _print_history(console: Any, history: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not history:
        return
    table = Table(title="history")
    for col in ("at", "event", "state", "actor", "proposal"):
        table.add_column(col)
    for h in history:
        table.add_row(
            str(h.get("at")),
            str(h.get("event")),
            str(h.get("state") or ""),
            str(h.get("actor") or ""),
            str(h.get("proposal_id") or ""),
        )
    console.print(table)


_PROPOSE_OWN = ("paramset", "strategy", "pair", "timeframe", "sweep", "note", "wait")


def propose(
    ctx: typer.Context,
    paramset: str = typer.Option(..., "--paramset", help="Param set name (eth-sma-4h)."),
    strategy: str = typer.Option(..., "--strategy", "-s", help="Strategy name."),
    pair: str = typer.Option(..., "--pair", help="Symbol."),
    timeframe: str = typer.Option(..., "--timeframe", help="Bar size."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Strategy parameter NAME=VALUE (or pass it as --NAME VALUE)."
    ),
    params: str | None = typer.Option(None, "--params", help="Parameters as a JSON object."),
    cash: float | None = typer.Option(None, help="Starting cash, quote currency."),
    fees: float | None = typer.Option(None, help="Fee fraction per fill (0.001 = 0.1%)."),
    slippage: float | None = typer.Option(None, help="Slippage fraction per fill."),
    direction: str | None = typer.Option(None, help="long, short or both."),
    fill: str | None = typer.Option(None, help="close or next_open."),
    sl_stop: float | None = typer.Option(None, help="Stop-loss fraction (0.02 = 2%)."),
    tp_stop: float | None = typer.Option(None, help="Take-profit fraction (0.05 = 5%)."),
    sl_trail: bool = typer.Option(False, "--sl-trail", help="Trail the stop-loss."),
    gate: list[str] = typer.Option(
        [], "--gate", help="Risk gate NAME=LIMIT, repeatable (max_drawdown=0.2, cooldown=12)."
    ),
    year_days: float | None = typer.Option(None, help="Days in a year for annualising."),
    sweep: str | None = typer.Option(
        None, "--sweep", help="Sweep the params were picked from (its trials deflate the DSR)."
    ),
    note: str = typer.Option("", "--note", help="Why the change: stored with the proposal."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the evaluation, then print the state and the gates."
    ),
    wait_timeout: float = typer.Option(600.0, help="Seconds --wait waits at most."),
    url: str = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Propose a version of a param set; print the proposal id (with --wait, its gates).

    Strategy parameters and engine options as `sparkbt run` takes them:
    sparkbt guard propose --paramset eth-sma-4h --strategy sma_cross --pair ETHUSDT
    --timeframe 4h --fast 10 --slow 30 --fees 0.001 --wait
    """
    options = engine_options(
        gate,
        sl_trail=sl_trail,
        cash=cash,
        fees=fees,
        slippage=slippage,
        direction=direction,
        fill=fill,
        sl_stop=sl_stop,
        tp_stop=tp_stop,
        year_days=year_days,
    )
    body: dict[str, Any] = {
        "paramset": paramset,
        "strategy": strategy,
        "pair": pair,
        "timeframe": timeframe,
        "params": parse_params(param, params, list(ctx.args), strategy),
        "options": options,
        "note": note,
    }
    if sweep is not None:
        body["sweep_id"] = sweep
    with _guard_client(url, token, key) as client:
        made = run_client(lambda: client.propose(**body))
        if not wait:
            emit(made, as_json, str(made["id"]))
            return
        prop = run_client(lambda: client.settle(made["id"], timeout=wait_timeout))
    if as_json:
        _print_json(prop)
        return
    _print_proposal(prop, full=False)


def show(
    proposal_id: str = typer.Argument(..., help="Proposal id."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a proposal: state, diff, gate results, headline evidence, approvals, history."""
    with _guard_client(url, None, key) as client:
        prop = run_client(lambda: client.proposal(proposal_id))
    if as_json:
        _print_json(prop)
        return
    _print_proposal(prop)


def list_proposals(
    status: ProposalState | None = typer.Option(None, help="Only proposals in this state."),
    paramset: str | None = typer.Option(None, "--paramset", help="Only this param set."),
    limit: int = typer.Option(100, min=1, max=10_000, help="At most this many, newest first."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List proposals, newest first."""
    from rich.console import Console
    from rich.table import Table

    with _guard_client(url, None, key) as client:
        found = run_client(
            lambda: client.proposals(status.value if status else None, paramset, limit)
        )
    if as_json:
        _print_json(found)
        return
    if not found:
        typer.echo("no proposals")
        return
    table = Table(title="proposals")
    for col in ("id", "param set", "state", "proposer", "created", "blocking", "note"):
        table.add_column(col)
    for p in found:
        table.add_row(
            str(p["id"]),
            str(p["paramset"]),
            _state(str(p["state"])),
            str(p.get("proposer")),
            str(p.get("created_at")),
            ", ".join(p.get("blocking") or ()),
            str(p.get("note") or ""),
        )
    Console().print(table)


def _decided(prop: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(prop)
        return
    typer.echo(f"{prop['id']} {prop['state']}")


def approve(
    proposal_id: str = typer.Argument(..., help="Proposal id."),
    comment: str = typer.Option("", "--comment", help="Stored with the approval."),
    override_reason: str | None = typer.Option(
        None, "--override-reason", help="Approve a blocked proposal (an admin override): why."
    ),
    url: str = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve a proposal (an approver who did not propose it)."""
    with _guard_client(url, token, key) as client:
        prop = run_client(lambda: client.approve(proposal_id, comment, override_reason))
    _decided(prop, as_json)


def reject(
    proposal_id: str = typer.Argument(..., help="Proposal id."),
    comment: str = typer.Option("", "--comment", help="Stored with the rejection."),
    url: str = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject a proposal."""
    with _guard_client(url, token, key) as client:
        prop = run_client(lambda: client.reject(proposal_id, comment))
    _decided(prop, as_json)


def show_paramset(
    name: str = typer.Argument(..., help="Param set name."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a param set: its approved version and its history."""
    from rich.console import Console

    with _guard_client(url, None, key) as client:
        ps = run_client(lambda: client.paramset(name))
    if as_json:
        _print_json(ps)
        return
    console = Console()
    v = ps.get("approved")
    if v is None:
        console.print(f"param set {ps['name']}: no version approved yet", markup=False)
    else:
        params = ", ".join(f"{k}={val}" for k, val in (v.get("params") or {}).items())
        console.print(
            f"param set {ps['name']}: approved version {v.get('id')} "
            f"(proposal {ps.get('approved_proposal_id')}, {ps.get('updated_at')})",
            soft_wrap=True,
            markup=False,
        )
        options = ", ".join(
            f"{k}={val}"
            for k, val in (v.get("options") or {}).items()
            if val is not None and val is not False and val != {}
        )
        console.print(
            f"  {v.get('strategy')}({params}) {v.get('pair')} {v.get('timeframe')}"
            f"{' · ' + options if options else ''}",
            soft_wrap=True,
            markup=False,
        )
    _print_history(console, ps.get("history") or [])


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add the ``guard`` command group (``check``, ``policy``) to the root CLI."""
    guard_app = typer.Typer(
        help="Guardrails: evaluate a policy of gates on stored evidence; propose, review "
        "and approve param changes on a running `sparkbt serve`.",
        no_args_is_help=True,
    )
    guard_app.command("check")(check)
    guard_app.command("policy")(show_policy)
    guard_app.command(
        "propose", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(propose)
    guard_app.command("show")(show)
    guard_app.command("list")(list_proposals)
    guard_app.command("approve")(approve)
    guard_app.command("reject")(reject)
    guard_app.command("paramset")(show_paramset)
    app.add_typer(guard_app, name="guard")
