"""``sparkbt paper start|resume|stop|status|reconcile``: paper trading on the BTCTurk feed.

``start`` runs an approved param set (``--paramset NAME``, its approved version
from the guard store, ``--db``) or ``--strategy`` on ``--symbol``/``--symbols``
at ``--timeframe`` with engine option flags and strategy parameters; it checks
the symbols against the exchange, fetches the warm-up history into the store,
creates the session and follows the live feed in the foreground until Ctrl-C,
``sparkbt paper stop ID``, a halt or ``--duration``. ``resume`` continues a
session after a stop or a kill. ``reconcile`` exits 0 when the journal equals
the backtest of the stored candles, 1 when it differs (the first difference and
its cause on stdout). Bad input (unknown or unapproved param set, a pair the
exchange does not list, an id taken) is one line on stderr and exit 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import typer

from sparkbt.adapters.cli.args import parse_strategy_args
from sparkbt.adapters.cli.options import engine_specs, with_options
from sparkbt.errors import InputError

__all__ = ["register"]

_EVIDENCE = typer.Option(
    None, "--evidence-dir", help="Evidence root (env SPARKBT_EVIDENCE_DIR, default ./evidence)."
)
_QUIET = typer.Option(False, "--quiet", help="No line per processed bar.")
_DURATION = typer.Option(None, "--duration", min=0.0, help="Stop after this many seconds.")


def _approved(name: str, db: Path | None, evidence_dir: Path | None) -> tuple[Any, Any]:
    """The approved version of param set ``name`` and its approval evidence (InputError)."""
    from sparkbt.evidence import default_evidence_dir
    from sparkbt.platform.proposals import GuardStore
    from sparkbt.platform.records import NotFound

    path = db or Path(evidence_dir or default_evidence_dir()) / "service" / "jobs.sqlite"
    if not path.is_file():
        raise InputError(f"--paramset {name}: no guard store at {path} (give --db)")
    with GuardStore(path) as store:
        try:
            ps = store.paramset(name)
        except NotFound:
            raise InputError(f"--paramset: unknown param set {name!r}") from None
        if ps.approved is None or ps.approved_proposal_id is None:
            raise InputError(f"--paramset {name}: no version is approved")
        evidence = store.get(ps.approved_proposal_id).evidence
    return ps.approved, evidence


async def _follow(session: Any, duration: float | None, quiet: bool) -> str:
    """Run the session on a live feed, with SIGINT/SIGTERM wired to a clean stop."""
    from sparkbt.data.feeds.btcturk import LiveFeed
    from sparkbt.research.paper import run_session

    feed = LiveFeed(session.spec.symbols, session.spec.timeframe, store=session.store)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)

    def show(done: Any) -> None:
        for row in done.written:
            fills = ", ".join(
                f"{f['side']} {f['units']:g} {f['symbol']} @ {f['price']:g}" for f in row.fills
            )
            if not quiet:
                typer.echo(f"{row.time} equity {row.equity:.2f}" + (f" | {fills}" if fills else ""))
        for w in done.warnings:
            typer.echo(f"warning: {w['message']}", err=True)
        if done.halted:
            typer.echo(f"halted: {done.halted}", err=True)

    try:
        return await run_session(session, feed=feed, stop=stop, duration=duration, on_advance=show)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


@with_options(engine_specs)
def start(
    ctx: typer.Context,
    paramset: str | None = typer.Option(
        None, "--paramset", help="Run this param set's approved version."
    ),
    strategy: str | None = typer.Option(None, "--strategy", "-s", help="Strategy name."),
    symbol: str | None = typer.Option(None, "--symbol", help="Pair, e.g. BTCTRY."),
    symbols: str | None = typer.Option(None, "--symbols", help="Portfolio: BTCTRY,ETHTRY."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="1m 5m 15m 30m 1h 4h 1d."),
    session_id: str | None = typer.Option(None, "--id", help="Session id (default: derived)."),
    warmup: int = typer.Option(1000, "--warmup", min=0, help="Warm-up bars fetched and seen."),
    db: Path | None = typer.Option(
        None, "--db", help="Guard store (default <evidence>/service/jobs.sqlite)."
    ),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Candle store root."),
    evidence_dir: Path | None = _EVIDENCE,
    options: Any = None,
    duration: float | None = _DURATION,
    quiet: bool = _QUIET,
) -> None:
    """Start a paper session and follow the live feed (Ctrl-C or `sparkbt paper stop` ends it).

    Example: sparkbt paper start --strategy sma_cross --symbol BTCTRY --timeframe 1m --fast 5
    """
    from sparkbt.engine.options import Config
    from sparkbt.engine.registry import get_strategy
    from sparkbt.research.paper import start_session
    from sparkbt.research.paper.exchange import prepare_symbols

    version = approval = None
    if paramset is not None:
        if strategy or symbol or symbols or timeframe or ctx.args:
            raise InputError(
                "--paramset runs the approved version as it is; drop the other "
                "strategy, symbol, timeframe and parameter flags"
            )
        version, approval = _approved(paramset, db, evidence_dir)
        pairs, tf, params, opts = version.pairs, version.timeframe, None, None
    else:
        if strategy is None or timeframe is None or not (symbol or symbols):
            raise InputError("give --paramset NAME, or --strategy, --symbol(s) and --timeframe")
        strat = get_strategy(strategy)
        params = strat.validate(parse_strategy_args(list(ctx.args), strat))
        opts = Config(**options).to_dict()
        pairs = [s.strip() for s in (symbols or symbol or "").split(",") if s.strip()]
        tf = timeframe
    pairs = [p.upper().replace("_", "") for p in pairs]
    asyncio.run(prepare_symbols(pairs, tf, warmup, data_dir))
    session = start_session(
        strategy,
        symbols=pairs,
        timeframe=tf,
        params=params,
        options=opts,
        paramset=version,
        approval=approval,
        session_id=session_id,
        warmup_bars=warmup,
        data_dir=data_dir,
        evidence_dir=evidence_dir,
    )
    typer.echo(f"paper session {session.spec.id}: trading from {session.spec.start_bar}", err=True)
    why = asyncio.run(_follow(session, duration, quiet))
    typer.echo(f"paper session {session.spec.id}: {why}", err=True)


def resume(
    session_id: str = typer.Argument(..., help="Session id."),
    evidence_dir: Path | None = _EVIDENCE,
    duration: float | None = _DURATION,
    quiet: bool = _QUIET,
) -> None:
    """Resume a session after a stop or a kill: it catches up on the bars missed, then follows."""
    from sparkbt.research.paper import resume_session

    session = resume_session(session_id, evidence_dir=evidence_dir)
    if session.halted is not None:
        session.close(None)
        raise InputError(f"paper session {session_id}: halted ({session.halted})")
    why = asyncio.run(_follow(session, duration, quiet))
    typer.echo(f"paper session {session_id}: {why}", err=True)


def stop(
    session_id: str = typer.Argument(..., help="Session id."),
    evidence_dir: Path | None = _EVIDENCE,
) -> None:
    """Stop a session (the process running it stops at its next poll)."""
    from sparkbt.research.paper import request_stop

    status = request_stop(session_id, evidence_dir=evidence_dir)
    typer.echo(f"paper session {session_id}: stop requested ({status['state']})")


def _line(s: dict[str, Any]) -> str:
    figures = (
        f"{s['bars']} bars, {s['fills']} fills, equity {s['equity']:.2f}, "
        f"return {s['total_return']:.2%}, max drawdown {s['max_drawdown']:.2%}"
        if s["bars"]
        else "no bar yet"
    )
    extra = "".join(f" | warning: {w['message']}" for w in s["warnings"])
    if s["halted"]:
        extra += f" | halted: {s['halted']}"
    if s.get("ended"):
        extra += f" | ended: {s['ended']}"
    return (
        f"{s['id']} {s['state']} {s['strategy']} {','.join(s['symbols'])} {s['timeframe']} "
        f"from {s['start_bar']}: {figures}{extra}"
    )


def status(
    session_id: str | None = typer.Argument(None, help="Session id (default: every session)."),
    evidence_dir: Path | None = _EVIDENCE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a session's state, figures, warnings and halt (or every session's)."""
    from sparkbt.research.paper import list_sessions, session_status

    if session_id is not None:
        one = session_status(session_id, evidence_dir=evidence_dir)
        typer.echo(json.dumps(one, indent=2) if as_json else _line(one))
        return
    found = list_sessions(evidence_dir=evidence_dir)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
    for s in [] if as_json else found:
        typer.echo(_line(s))


def reconcile(
    session_id: str = typer.Argument(..., help="Session id."),
    evidence_dir: Path | None = _EVIDENCE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare the journal with the backtest of the stored candles: exit 0 identical, 1 not."""
    from sparkbt.research.paper import reconcile as run

    found = run(session_id, evidence_dir=evidence_dir)
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
    elif found.identical:
        typer.echo(f"{session_id}: {found.bars} bars identical to the backtest")
    else:
        d = found.first_difference or {}
        typer.echo(f"{session_id}: differs at {d.get('time')} ({d.get('field')}): {found.cause}")
    if not found.identical:
        raise typer.Exit(1)


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add the ``paper`` command group to the root CLI."""
    paper_app = typer.Typer(help="Paper trading on the live BTCTurk feed.", no_args_is_help=True)
    paper_app.command(
        "start", context_settings={"allow_extra_args": True, "ignore_unknown_options": True}
    )(start)
    paper_app.command("resume")(resume)
    paper_app.command("stop")(stop)
    paper_app.command("status")(status)
    paper_app.command("reconcile")(reconcile)
    app.add_typer(paper_app, name="paper")
