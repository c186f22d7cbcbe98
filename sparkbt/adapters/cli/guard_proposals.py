"""``sparkbt guard propose|show|list|approve|reject|paramset``: clients of the guardrails.

These commands are clients of a running ``sparkbt serve`` (--url/$SPARKBT_URL,
--key/$SPARKBT_API_KEY). ``propose``, ``approve`` and ``reject`` act as the
user of the key and never fall back to the admin token: a refusal (401, 403,
404, 409, 422) or an unreachable service is one line on stderr and exit 2. They
print a proposal (state, diff, gates, headline evidence, approvals, history), a
list of proposals, or a param set with its history; ``--json`` prints the
service's answer as is.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer

from sparkbt.adapters.cli.guard_check import GATE_STYLE, fmt_value
from sparkbt.adapters.cli.options import engine_specs, with_options
from sparkbt.adapters.cli.serve import (
    JSON_OPTION,
    KEY_OPTION,
    URL_OPTION,
    emit,
    parse_params,
    run_client,
)
from sparkbt.errors import ConfigError
from sparkbt.platform.text import printable

__all__ = [
    "ProposalState",
    "approve",
    "list_proposals",
    "propose",
    "reject",
    "show",
    "show_paramset",
]


class ProposalState(StrEnum):
    evaluating = "evaluating"
    pending = "pending"
    blocked = "blocked"
    approved = "approved"
    rejected = "rejected"
    stale = "stale"
    failed = "failed"


_STATE_STYLE = {
    "evaluating": "cyan",
    "pending": "yellow",
    "blocked": "bold red",
    "approved": "bold green",
    "rejected": "red",
    "stale": "dim",
    "failed": "bold red",
}


def _guard_client(url: str, key: str | None) -> Any:
    from sparkbt.adapters.http.guard_client import GuardClient

    return run_client(lambda: GuardClient(url, None, key=key))  # a malformed URL fails right here


def _print_json(obj: Any) -> None:
    from sparkbt.evidence import dump_json

    typer.echo(dump_json(obj), nl=False)


def _gate_table(gates: list[dict[str, Any]] | None, title: str = "gates") -> Any:
    from rich.table import Table

    table = Table(title=title)
    for col in ("gate", "result", "value", "limit", "action", "detail"):
        table.add_column(col, justify="right" if col in ("value", "limit") else "left")
    for g in gates or ():
        result = str(g.get("result"))
        table.add_row(
            _cell(g.get("gate")),
            f"[{GATE_STYLE.get(result, '')}]{_safe(result)}[/]",
            _cell(fmt_value(g.get("value"))),
            _cell(fmt_value(g.get("limit"))),
            _cell(g.get("action") or ""),
            _cell(g.get("message") or ""),
        )
    return table


def _state(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, '')}]{_safe(state)}[/]"


def _safe(value: Any) -> str:
    """Stored text for a line with rich markup: control codes escaped, no markup."""
    from rich.markup import escape

    return escape(printable(value))


def _cell(value: Any) -> Any:
    """Stored text as a table cell: control codes escaped, never read as markup."""
    from rich.text import Text

    return Text(printable(value))


def _print_proposal(p: dict[str, Any], *, full: bool = True) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    v = p.get("version") or {}
    params = ", ".join(f"{k}={val}" for k, val in (v.get("params") or {}).items())
    console.print(
        f"proposal [bold]{_safe(p['id'])}[/] · param set {_safe(p['paramset'])} · "
        f"{_state(p['state'])}"
        f"{' · decision ' + _safe(p['decision']) if p.get('decision') else ''}",
        soft_wrap=True,
    )
    console.print(
        printable(
            f"  {v.get('strategy', '')}({params}) {v.get('pair', '')} {v.get('timeframe', '')}"
            f" · version {v.get('id', '—')} · base {p.get('base_version_id') or '—'}"
        ),
        soft_wrap=True,
        markup=False,
    )
    console.print(
        printable(
            f"  proposer {p.get('proposer')} · created {p.get('created_at')}"
            f"{' · sweep ' + p['sweep_id'] if p.get('sweep_id') else ''}"
        ),
        soft_wrap=True,
        markup=False,
    )
    if p.get("note"):
        console.print(printable(f"  note: {p['note']}"), soft_wrap=True, markup=False)
    job = p.get("evaluation")
    if job:
        console.print(
            printable(
                f"  evaluation: job {job.get('job_id')} {job.get('status')}"
                f"{' · ' + str(job['error']) if job.get('error') else ''}"
            ),
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
                _cell(c.get("field")),
                _cell(fmt_value(c.get("old"))),
                _cell(fmt_value(c.get("new"))),
                "—" if rel is None else f"{rel:+.1%}",
                _cell(c.get("note") or ""),
            )
        console.print(table)
    elif p.get("base_version_id") is None:
        console.print("  diff: first version of the param set (nothing approved yet)")
    if p.get("gates") is not None:
        console.print(_gate_table(p["gates"]))
    headline = ((p.get("evidence") or {}).get("headline")) or {}
    sides = [(side, stats) for side in ("approved", "proposed") if (stats := headline.get(side))]
    if sides:
        table = Table(title="headline evidence")
        table.add_column("stat")
        for side, _ in sides:
            table.add_column(side, justify="right")
        keys = list(dict.fromkeys(k for _, stats in sides for k in stats))
        for k in keys:
            table.add_row(_cell(k), *(_cell(fmt_value(stats.get(k))) for _, stats in sides))
        console.print(table)
    approvals = p.get("approvals") or []
    if approvals:
        table = Table(title="approvals")
        for col in ("user", "role", "at", "comment", "override reason"):
            table.add_column(col)
        for a in approvals:
            table.add_row(
                _cell(a.get("user")),
                _cell(a.get("role")),
                _cell(a.get("created_at")),
                _cell(a.get("comment") or ""),
                _cell(a.get("override_reason") or ""),
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
            _cell(h.get("at")),
            _cell(h.get("event")),
            _cell(h.get("state") or ""),
            _cell(h.get("actor") or ""),
            _cell(h.get("proposal_id") or ""),
        )
    console.print(table)


def _symbols_body(pair: list[str], symbols: str | None) -> dict[str, Any]:
    """``{"pair": X}`` for one symbol, ``{"pairs": [...]}`` for several (checked by the
    service); InputError (exit 2) for neither or both of ``--pair`` and ``--symbols``."""
    from sparkbt.adapters.cli.args import parse_symbols

    if pair and symbols is not None:
        raise ConfigError("--pair and --symbols: give the symbols one way, not both")
    if symbols is not None:
        return {"pairs": parse_symbols(symbols)}
    if not pair:
        raise ConfigError("--pair: give a symbol (--pair ETHUSDT) or --symbols A,B,C")
    if len(pair) == 1 and "," not in pair[0]:
        return {"pair": pair[0]}
    return {"pairs": parse_symbols(",".join(pair), "--pair")}


_PROPOSE_OWN = ("paramset", "strategy", "pair", "symbols", "timeframe", "sweep", "note", "wait")


@with_options(engine_specs, client=True)
def propose(
    ctx: typer.Context,
    paramset: str = typer.Option(..., "--paramset", help="Param set name (eth-sma-4h)."),
    strategy: str = typer.Option(..., "--strategy", "-s", help="Strategy name."),
    pair: list[str] = typer.Option(
        [], "--pair", help="Symbol; repeat it (or comma-join) for a portfolio."
    ),
    symbols: str | None = typer.Option(
        None, "--symbols", help="A portfolio's symbols, comma-separated: BTCUSDT,ETHUSDT."
    ),
    timeframe: str = typer.Option(..., "--timeframe", help="Bar size."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Strategy parameter NAME=VALUE (or pass it as --NAME VALUE)."
    ),
    params: str | None = typer.Option(None, "--params", help="Parameters as a JSON object."),
    options: Any = None,  # the engine options' flags (sparkbt.adapters.cli.options)
    sweep: str | None = typer.Option(
        None, "--sweep", help="Sweep the params were picked from (its trials deflate the DSR)."
    ),
    note: str = typer.Option("", "--note", help="Why the change: stored with the proposal."),
    wait: bool = typer.Option(
        False, "--wait", help="Wait for the evaluation, then print the state and the gates."
    ),
    wait_timeout: float = typer.Option(600.0, help="Seconds --wait waits at most."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Propose a version of a param set; print the proposal id (with --wait, its gates).

    Strategy parameters and engine options as `sparkbt run` takes them:
    sparkbt guard propose --paramset eth-sma-4h --strategy sma_cross --pair ETHUSDT
    --timeframe 4h --fast 10 --slow 30 --fees 0.001 --wait

    A portfolio (its symbols share one cash): --symbols BTCUSDT,ETHUSDT,SOLUSDT
    --strategy momentum_rotation.
    """
    body: dict[str, Any] = {
        "paramset": paramset,
        "strategy": strategy,
        **_symbols_body(pair, symbols),
        "timeframe": timeframe,
        "params": parse_params(param, params, list(ctx.args), strategy),
        "options": options,
        "note": note,
    }
    if sweep is not None:
        body["sweep_id"] = sweep
    with _guard_client(url, key) as client:
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
    with _guard_client(url, key) as client:
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

    with _guard_client(url, key) as client:
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
            _cell(p["id"]),
            _cell(p["paramset"]),
            _state(str(p["state"])),
            _cell(p.get("proposer")),
            _cell(p.get("created_at")),
            _cell(", ".join(p.get("blocking") or ())),
            _cell(p.get("note") or ""),
        )
    Console().print(table)


def _decided(prop: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(prop)
        return
    typer.echo(printable(f"{prop['id']} {prop['state']}"))


def approve(
    proposal_id: str = typer.Argument(..., help="Proposal id."),
    comment: str = typer.Option("", "--comment", help="Stored with the approval."),
    override_reason: str | None = typer.Option(
        None, "--override-reason", help="Approve a blocked proposal (an admin override): why."
    ),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Approve a proposal (an approver who did not propose it)."""
    with _guard_client(url, key) as client:
        prop = run_client(lambda: client.approve(proposal_id, comment, override_reason))
    _decided(prop, as_json)


def reject(
    proposal_id: str = typer.Argument(..., help="Proposal id."),
    comment: str = typer.Option("", "--comment", help="Stored with the rejection."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reject a proposal."""
    with _guard_client(url, key) as client:
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

    with _guard_client(url, key) as client:
        ps = run_client(lambda: client.paramset(name))
    if as_json:
        _print_json(ps)
        return
    console = Console()
    v = ps.get("approved")
    if v is None:
        console.print(printable(f"param set {ps['name']}: no version approved yet"), markup=False)
    else:
        params = ", ".join(f"{k}={val}" for k, val in (v.get("params") or {}).items())
        console.print(
            printable(
                f"param set {ps['name']}: approved version {v.get('id')} "
                f"(proposal {ps.get('approved_proposal_id')}, {ps.get('updated_at')})"
            ),
            soft_wrap=True,
            markup=False,
        )
        options = ", ".join(
            f"{k}={val}"
            for k, val in (v.get("options") or {}).items()
            if val is not None and val is not False and val != {}
        )
        console.print(
            printable(
                f"  {v.get('strategy')}({params}) {v.get('pair')} {v.get('timeframe')}"
                f"{' · ' + options if options else ''}"
            ),
            soft_wrap=True,
            markup=False,
        )
    _print_history(console, ps.get("history") or [])
