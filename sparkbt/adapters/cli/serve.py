"""``sparkbt serve`` and the ``sparkbt jobs start|status|list`` client commands.

Registered on the root app by :func:`register`; FastAPI, uvicorn and httpx are
imported only when a command runs.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sparkbt.adapters.cli.options import engine_specs, with_options
from sparkbt.adapters.http.client import (
    DEFAULT_URL,
    ServiceClient,
    ServiceError,
    ServiceUnreachable,
)
from sparkbt.errors import InputError

__all__ = ["register"]

jobs_app = typer.Typer(
    help="Start and inspect backtests on a running `sparkbt serve`.", no_args_is_help=True
)


class Impl(StrEnum):
    engine = "engine"
    mock = "mock"


class Executor(StrEnum):
    local = "local"
    dask = "dask"


class Status(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(4010, min=1, max=65535, help="TCP port."),
    workers: int | None = typer.Option(
        None, min=1, help="Worker processes running backtests (default: number of cores)."
    ),
    job_timeout: float = typer.Option(
        600.0, min=0.001, help="Seconds a job may run before its worker is killed."
    ),
    db: Path | None = typer.Option(
        None, help="SQLite job database (default: EVIDENCE_DIR/service/jobs.sqlite)."
    ),
    evidence_dir: Path | None = typer.Option(
        None, help="Evidence folder (default: $SPARKBT_EVIDENCE_DIR or ./evidence)."
    ),
    data_dir: Path | None = typer.Option(
        None, help="Candle store (default: $SPARKBT_DATA_DIR or ./data)."
    ),
    audit_log: Path | None = typer.Option(
        None, help="JSON-lines audit log (default: EVIDENCE_DIR/audit.jsonl)."
    ),
    impl: Impl = typer.Option(
        Impl.engine,
        envvar="BACKTEST_IMPL",
        case_sensitive=False,
        help="engine runs sparkbt; mock only sleeps (for testing the service itself).",
    ),
    private: bool = typer.Option(
        False,
        "--private",
        help="Every API read needs a valid key too (SPARKBT_PRIVATE=1); /metrics and "
        "/healthz stay open.",
    ),
    policy: Path | None = typer.Option(
        None,
        "--policy",
        help="Guard policy TOML file for evaluating param changes (default: the default policy).",
    ),
    approvals: int = typer.Option(
        1, "--approvals", help="Approvals a guard proposal needs before it is approved."
    ),
    max_queue: int | None = typer.Option(
        None,
        "--max-queue",
        min=1,
        help="Jobs that may wait in the queue; more starts are answered 429 "
        "(SPARKBT_MAX_QUEUE, default 1000).",
    ),
    max_queued_per_user: int | None = typer.Option(
        None,
        "--max-queued-per-user",
        min=1,
        help="Jobs one user may have waiting (starts, evaluations, sweep cells); more are "
        "answered 429 (SPARKBT_MAX_QUEUED_PER_USER, default 50).",
    ),
    allowed_hosts: str | None = typer.Option(
        None,
        envvar="SPARKBT_ALLOWED_HOSTS",
        help="Host header values answered, comma-separated (others get 400; '*' answers any). "
        "Default: the bind host, localhost, 127.0.0.1 and ::1.",
    ),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        envvar="SPARKBT_FORWARDED_ALLOW_IPS",
        help="Comma-separated proxy addresses whose X-Forwarded-For/-Proto headers are "
        "trusted (e.g. 127.0.0.1 behind a local reverse proxy). Default: none.",
    ),
    header_timeout: float = typer.Option(
        10.0,
        min=0.001,
        envvar="SPARKBT_HEADER_TIMEOUT",
        help="Seconds a connection may take to send a request's headers before it is closed.",
    ),
    timeout_keep_alive: int = typer.Option(
        5, min=1, envvar="SPARKBT_TIMEOUT_KEEP_ALIVE", help="Seconds an idle connection is kept."
    ),
    limit_concurrency: int = typer.Option(
        1000,
        min=1,
        envvar="SPARKBT_LIMIT_CONCURRENCY",
        help="Open connections before new requests are answered 503.",
    ),
    max_header_bytes: int = typer.Option(
        16 * 1024,
        min=1024,
        envvar="SPARKBT_MAX_HEADER_BYTES",
        help="Largest request head (request line and headers) in bytes.",
    ),
    executor: Executor = typer.Option(
        Executor.local,
        envvar="SPARKBT_EXECUTOR",
        case_sensitive=False,
        help="local runs jobs in worker processes here; dask runs them on the Dask cluster "
        "at --scheduler (its workers need this sparkbt and the same evidence/data paths).",
    ),
    scheduler: str | None = typer.Option(
        None,
        envvar="SPARKBT_SCHEDULER",
        help="Dask scheduler address for --executor dask, e.g. tcp://host:8786.",
    ),
    log_level: str = typer.Option("warning", help="uvicorn log level."),
) -> None:
    """Run the backtest HTTP service (admin token from SPARKBT_ADMIN_TOKEN)."""
    from sparkbt.data.store import default_data_dir
    from sparkbt.errors import require
    from sparkbt.evidence import default_evidence_dir
    from sparkbt.platform.settings import Settings, parse_hosts

    settings = Settings.from_env(
        host=host,
        port=port,
        workers=workers,
        job_timeout=job_timeout,
        db_path=db.resolve() if db else None,
        evidence_dir=(evidence_dir or default_evidence_dir()).resolve(),
        data_dir=(data_dir or default_data_dir()).resolve(),
        audit_log=audit_log.resolve() if audit_log else None,
        impl=impl.value,
        private=private or None,
        policy_file=policy.resolve() if policy else None,
        approvals=approvals,
        max_queue=max_queue,
        max_queued_per_user=max_queued_per_user,
        allowed_hosts=parse_hosts(allowed_hosts) if allowed_hosts else None,
        forwarded_allow_ips=forwarded_allow_ips or None,
        header_timeout=header_timeout,
        keep_alive_timeout=timeout_keep_alive,
        limit_concurrency=limit_concurrency,
        max_header_bytes=max_header_bytes,
        executor=executor.value,
        scheduler=scheduler,
    )
    settings.check_admin_token()
    require("uvicorn", "service")
    from sparkbt.adapters.http.app import create_app
    from sparkbt.adapters.http.server import run

    app = create_app(settings)
    typer.echo(
        f"sparkbt service on http://{host}:{port} (impl={settings.impl}, "
        f"{_where_jobs_run(settings)}, db={settings.db_file}"
        f"{', private' if settings.private else ''}, policy={app.state.service.policy.source})",
        err=True,
    )
    run(app, settings, log_level)


def _where_jobs_run(settings: Any) -> str:
    if settings.executor == "dask":
        return f"executor=dask, scheduler={settings.scheduler}"
    return f"workers={settings.workers}"


def _client(url: str, token: str | None, key: str | None) -> ServiceClient:
    return run_client(
        lambda: ServiceClient(url, token, key=key)
    )  # a malformed URL fails right here


def emit(obj: Any, as_json: bool, human: str) -> None:
    from sparkbt.platform.text import printable

    typer.echo(json.dumps(obj, indent=2, sort_keys=True) if as_json else printable(human))


def _value(raw: str) -> Any:
    """A command-line value as JSON when it reads as JSON (10, 0.5, true), else the string."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_params(
    pairs: list[str], params_json: str | None, flags: list[str], strategy: str
) -> dict[str, Any]:
    """Strategy parameters from --params JSON, then -p NAME=VALUE, then --NAME VALUE flags.

    The flags are checked by name against the strategy's schema (as ``sparkbt run``
    does); every value is the service's to check.
    """
    out: dict[str, Any] = {}
    if params_json:
        try:
            loaded = json.loads(params_json)
        except ValueError as exc:
            raise InputError(f"--params: expected a JSON object ({exc})") from None
        if not isinstance(loaded, dict):
            raise InputError("--params: expected a JSON object such as '{\"fast\": 10}'")
        out.update(loaded)
    for item in pairs:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--param: expected NAME=VALUE (got {item!r})")
        out[key.strip()] = _value(raw)
    if flags:
        from sparkbt.adapters.cli.args import parse_strategy_args
        from sparkbt.engine.options import ENGINE_OPTIONS
        from sparkbt.engine.registry import get_strategy

        named = parse_strategy_args(flags, get_strategy(strategy), (*ENGINE_OPTIONS, *_OWN))
        out.update({k: _value(v) for k, v in named.items()})
    return out


def _describe(job: dict[str, Any]) -> str:
    lines = [
        f"{job['id']}  {job['status']}  {job['strategy']} {job['params']} "
        f"{job['pair']} {job['timeframe']} (impl={job['impl']})"
    ]
    for key in ("user", "created_at", "started_at", "finished_at", "run_id", "evidence", "error"):
        if job.get(key):
            lines.append(f"  {key}: {job[key]}")
    for key in ("total_return", "sharpe", "max_drawdown", "total_trades"):
        if job.get("stats") and key in job["stats"]:
            lines.append(f"  {key}: {job['stats'][key]}")
    return "\n".join(lines)


URL_OPTION = typer.Option(DEFAULT_URL, "--url", envvar="SPARKBT_URL", help="Service base URL.")
TOKEN_OPTION = typer.Option(None, "--token", envvar="SPARKBT_ADMIN_TOKEN", help="Admin token.")
KEY_OPTION = typer.Option(
    None,
    "--key",
    envvar="SPARKBT_API_KEY",
    help="API key from `sparkbt users add` (sent as a bearer key with every request).",
)
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of text.")


def run_client(fn: Any) -> Any:
    """Call the service; one line on stderr and exit 2 when it is unreachable or refuses
    the request (4xx), exit 1 when the server fails (5xx) or a --wait runs out."""
    try:
        return fn()
    except ServiceError as exc:
        from sparkbt.platform.text import printable

        typer.echo(printable(f"error: {exc}"), err=True)
        usage = isinstance(exc, ServiceUnreachable) or 400 <= exc.status < 500
        raise typer.Exit(2 if usage else 1) from None


_OWN = ("pair", "timeframe", "strategy", "param", "params", "notes", "wait", "wait_timeout")
"""Options of ``jobs start`` besides the engine's, for near-miss hints on unknown flags."""


@jobs_app.command(
    "start",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
@with_options(engine_specs, client=True)
def jobs_start(
    ctx: typer.Context,
    pair: str = typer.Option("ETHUSDT", help="Symbol."),
    timeframe: str = typer.Option("4h", help="Bar size."),
    strategy: str = typer.Option("sma_cross", "--strategy", "-s", help="Strategy name."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="Strategy parameter NAME=VALUE (or pass it as --NAME VALUE)."
    ),
    params: str | None = typer.Option(None, "--params", help="Parameters as a JSON object."),
    notes: str = typer.Option("", help="Free text stored with the job."),
    options: Any = None,  # the engine options' flags (sparkbt.adapters.cli.options)
    wait: bool = typer.Option(False, "--wait", help="Wait until the job is done or failed."),
    wait_timeout: float = typer.Option(600.0, help="Seconds --wait waits at most."),
    url: str = URL_OPTION,
    token: str | None = TOKEN_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Queue a backtest and print its id (with --wait, its final status).

    Strategy parameters and engine options as `sparkbt run` takes them:
    sparkbt jobs start --strategy sma_cross --fast 10 --slow 30 --fees 0.001 --sl-stop 0.02
    """
    body: dict[str, Any] = {
        "pair": pair,
        "timeframe": timeframe,
        "strategy": strategy,
        "params": parse_params(param, params, list(ctx.args), strategy),
        "notes": notes,
    }
    if options:
        body["options"] = options  # checked by the service with the engine's own Config
    with _client(url, token, key) as client:
        job = run_client(lambda: client.start(**body))
        if wait:
            job = run_client(lambda: client.wait(job["id"], timeout=wait_timeout))
            emit(job, as_json, _describe(job))
            raise typer.Exit(0 if job["status"] == "done" else 1)
        emit(job, as_json, f"{job['id']} {job['status']}")


@jobs_app.command("status")
def jobs_status(
    job_id: str = typer.Argument(..., help="Job id or a unique prefix of it."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show one job: status, timestamps, stats or error."""
    with _client(url, None, key) as client:
        job = run_client(lambda: client.find(job_id))
    emit(job, as_json, _describe(job))


@jobs_app.command("list")
def jobs_list(
    status: Status | None = typer.Option(None, help="Only jobs with this status."),
    limit: int = typer.Option(20, min=1, max=1000, help="At most this many, newest first."),
    url: str = URL_OPTION,
    key: str | None = KEY_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """List jobs, newest first."""
    with _client(url, None, key) as client:
        jobs = run_client(lambda: client.list(status.value if status else None, limit))
    human = (
        "\n".join(
            f"{j['id']}  {j['status']:<7}  {j['created_at']}  {j['strategy']} {j['pair']} "
            f"{j['timeframe']} {j['params']}"
            for j in jobs
        )
        or "no jobs"
    )
    emit(jobs, as_json, human)


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add ``serve`` and the ``jobs`` group to the root CLI."""
    del data_app  # the service adds nothing under `sparkbt data`
    app.command("serve")(serve)
    app.add_typer(jobs_app, name="jobs")
