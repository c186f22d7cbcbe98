"""``sparkbt sweep`` and ``sparkbt walk-forward``: parse, hand off, print.

Strategy parameters are free options checked against the strategy's schema:
``--fast 5:50 --slow 20:200:5`` (inclusive ranges) or ``--fast 5,8,13``. A
progress bar (combinations done, rate, ETA) goes to stderr so ``--json``
output on stdout stays machine-readable. User mistakes raise InputError
subclasses; the root group prints them as one line and exits 2.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import typer

from sparkbt.adapters.cli.args import parse_strategy_args, run_candles
from sparkbt.adapters.cli.options import sweep_specs, with_options

__all__ = [
    "fmt_stat",
    "print_walk_forward",
    "progress_bar",
    "register",
    "show_sweep",
    "show_walk_forward",
]

_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True}
_DATA: Any = typer.Option(
    None,
    "--data",
    help="Candle file (overrides --symbol), or SYMBOL=FILE, repeated, for a portfolio.",
)
_SYMBOLS: Any = typer.Option(
    None, "--symbols", help="Portfolio of store symbols (A,B,C; packaged samples as fallback)."
)


@contextmanager
def progress_bar(enabled: bool, label: str):
    """A rich progress bar on stderr; yields ``update(done, total)``."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    class Rate(TextColumn):
        def render(self, task: Any) -> Any:
            from rich.text import Text

            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} combos/s" if speed else "… combos/s")

    columns = (
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(""),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _fmt(v: Any, key: str | None = None) -> str:
    """A statistic as ``sparkbt run`` shows it (returns in %); other values compactly."""
    from sparkbt.engine.result import format_stat
    from sparkbt.engine.stats import STAT_KEYS

    if isinstance(v, float) and v != v:
        return "—"
    if key in STAT_KEYS:
        return format_stat(key, v.item() if hasattr(v, "item") else v)
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def _print_top(title: str, frame: Any, metric: str, params: list[str], top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    cols = [
        *params,
        metric,
        *[
            k
            for k in ("total_return", "sharpe", "max_drawdown", "total_trades", "win_rate")
            if k != metric
        ],
    ]
    table = Table(title=title)
    for c in cols:
        table.add_column(c, justify="right", style="bold" if c == metric else None)
    for row in frame.head(top).to_dict("records"):
        table.add_row(*(_fmt(row[c], c) for c in cols))
    Console().print(table)


def show_sweep(evidence: Any, as_json: bool = False) -> None:
    """Print a stored sweep (for ``sparkbt show``): its top table, or sweep.json with --json."""
    from sparkbt.evidence import dump_json

    if as_json:
        typer.echo(dump_json(evidence.meta), nl=False)
        return
    meta = evidence.meta
    ident = meta["identity"]
    metric = meta.get("metric", "sharpe")
    _print_top(
        f"sweep {meta['id']}: {ident['strategy']} · top by {metric}",
        evidence.top(10, metric),
        metric,
        meta.get("params", []),
        10,
    )
    cfg = ident["config"]
    typer.echo(
        f"{meta['combinations']:,} combinations · {_subject(ident)} "
        f"{ident.get('timeframe') or ''} · fees {cfg['fees']} · {cfg['direction']} · "
        f"evidence: {evidence.path}"
    )


def _prepare(ctx: typer.Context, o: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """Shared start of ``sweep`` and ``walk-forward``: check everything, then read candles.

    ``o`` is the command's arguments (``options``: the engine and sweep options).
    Options, strategy, grid and metric are validated before any data is read, so a mistake costs
    nothing. Returns the strategy, the candles and the keyword arguments of the run.
    """
    from sparkbt.engine.registry import get_strategy
    from sparkbt.research.grid import build_grid
    from sparkbt.research.sweep_evidence import rank
    from sparkbt.research.sweep_options import SweepOptions

    opts = SweepOptions.parse(**o["options"])
    strat = get_strategy(o["strategy"])
    grid = parse_strategy_args(list(ctx.args), strat)
    build_grid(
        strat, grid, where=opts.where, samples=opts.samples, seed=opts.seed, options=opts.engine
    )
    rank(_empty_stats(), o["metric"])
    candles = run_candles(o["data"], o["symbols"], o["symbol"], o["timeframe"], o["data_dir"])
    return strat, candles, {**opts.keywords(), **grid, "data_dir": o["data_dir"]}


def _subject(ident: dict[str, Any]) -> str:
    """What a stored sweep ran on: its symbol, or its symbols joined."""
    if ident.get("symbols"):
        return ",".join(ident["symbols"])
    return str(ident.get("symbol") or "candles")


def fmt_stat(key: str, value: Any) -> str:
    """A statistic in a few characters: percentages, days, counts, else 3 decimals."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    from sparkbt.engine.statspec import STAT_SPECS

    v = float(value)
    unit = STAT_SPECS[key].unit if key in STAT_SPECS else ""
    if unit == "percent":
        return f"{v:+.1%}" if key != "max_drawdown" else f"{v:.1%}"
    if unit == "seconds":
        return f"{v / 86_400:,.1f}d"
    if unit == "count":
        return f"{v:,.0f}"
    return f"{v:,.3f}" if abs(v) < 1e6 else f"{v:.3g}"


def print_walk_forward(
    console: Any, title: str, folds: Any, summary: dict[str, Any], params: list[str]
) -> None:
    """The fold table and summary, narrow enough for an 80-column terminal.

    One row per fold: its number, the first test day, the chosen parameters
    (one cell, wrapped between parameters), the metric in sample (IS) and out
    of sample (OOS), and the out-of-sample return. Number cells never wrap or
    shrink; the full fold table is ``wf.folds`` (or ``--json``).
    """
    from rich import box
    from rich.table import Table

    metric = summary["metric"]
    numbers = [(f"is_{metric}", "IS"), (f"oos_{metric}", "OOS")]
    if metric != "total_return":
        numbers.append(("oos_total_return", "OOS return"))
    rows = folds.to_dict("records")
    chosen = [[f"{p}={_param_text(row[p])}" for p in params] for row in rows]
    widest = max((len(item) for items in chosen for item in items), default=1)
    table = Table(
        title=f"{title}\n{metric}: in sample (IS) and out of sample (OOS)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    table.add_column("fold", justify="right", no_wrap=True)
    table.add_column("test from", no_wrap=True)
    table.add_column("parameters", min_width=min(widest, 24), ratio=1)
    for _, header in numbers:
        table.add_column(header, justify="right", no_wrap=True)
    for row, items in zip(rows, chosen, strict=True):
        table.add_row(
            str(row["fold"]),
            str(row["test_start"])[:10],
            " ".join(items),
            *(fmt_stat(col[col.index("_") + 1 :], row[col]) for col, _ in numbers),
        )
    console.print(table)
    is_mean = fmt_stat(metric, summary["in_sample_mean"])
    oos_mean = fmt_stat(metric, summary["out_of_sample_mean"])
    console.print(
        f"{summary['folds']} folds · mean {metric}: IS {is_mean} → OOS {oos_mean} "
        f"(efficiency {fmt_stat('efficiency', summary.get('efficiency'))})"
    )
    console.print(
        f"OOS return compounded {summary['oos_compounded_return']:+.2%} · "
        f"{summary['oos_positive_share']:.0%} of folds positive"
    )


def _param_text(value: Any) -> str:
    if isinstance(value, float):
        return "—" if value != value else f"{value:g}"
    return str(value)


def show_walk_forward(evidence: Any, as_json: bool = False) -> None:
    """Print a stored walk-forward (for ``sparkbt show``): its folds, or walkforward.json."""
    from rich.console import Console

    from sparkbt.evidence import dump_json

    if as_json:
        typer.echo(dump_json(evidence.meta), nl=False)
        return
    ident = evidence.meta["identity"]
    print_walk_forward(
        Console(),
        f"walk-forward {ident['strategy']}: best by {ident['metric']} per fold",
        evidence.folds,
        evidence.summary,
        evidence.params,
    )
    typer.echo(
        f"train {ident['train']:,} · test {ident['test']:,} · step {ident['step']:,} bars · "
        f"{_subject(ident)} {ident.get('timeframe') or ''} · "
        f"fees {ident['config']['fees']} · {ident['config']['direction']}"
    )
    typer.echo(f"evidence: {evidence.path}")


@with_options(sweep_specs, lists=True)
def sweep_cmd(
    ctx: typer.Context,
    strategy: str = typer.Option("sma_cross", "--strategy", "-s", help="Name or file.py:fn."),
    data: list[str] | None = _DATA,
    symbol: str = typer.Option("ETHUSDT", "--symbol", help="Symbol in the candle store."),
    symbols: str | None = _SYMBOLS,
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar period (4h, 1d...)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Candle store folder."),
    options: Any = None,  # engine and sweep options' flags (sparkbt.adapters.cli.options)
    metric: str = typer.Option("sharpe", "--metric", help="Stat that ranks combinations."),
    top: int = typer.Option(10, "--top", help="Rows of the top table."),
    evidence_dir: Path | None = typer.Option(None, "--evidence-dir", help="Evidence root."),
    no_save: bool = typer.Option(False, "--no-save", help="Do not write evidence."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Sweep a parameter grid: --fast 5:50 --slow 20:200:5 (inclusive) or --fast 5,8,13.

    Engine options take lists and ranges the same way and are swept too: --fees 0,0.001.

    Example: sparkbt sweep --strategy sma_cross --fast 5:50 --slow 20:200:5 --where "fast<slow"

    Portfolio: sparkbt sweep --symbols BTCUSDT,ETHUSDT,SOLUSDT --strategy momentum_rotation
    --lookback 10:120:10 --k 1,2,3
    """
    from sparkbt.evidence import dump_json
    from sparkbt.research.sweep import sweep
    from sparkbt.research.sweep_evidence import rank, save_sweep

    strat, candles, opts = _prepare(ctx, locals())
    with progress_bar(not quiet, "sweep") as update:
        results = sweep(candles, strat, progress=update, **opts)
    path = None if no_save else save_sweep(results, evidence_dir, metric=metric, top=top)
    _note_skipped_heatmap(path)
    ranked = rank(results, metric)
    if as_json:
        from sparkbt.engine.stats import json_safe

        payload = {
            "id": path.name if path else None,
            "path": str(path) if path else None,
            "combinations": len(results),
            "metric": metric,
            "top": [
                {k: json_safe(v) for k, v in r.items()} for r in ranked.head(top).to_dict("records")
            ],
            "timing": results.attrs["timing"],
        }
        typer.echo(dump_json(payload), nl=False)
        return
    params = results.attrs["sweep"]["params"]
    _print_top(
        f"{strat.name}: top {top} of {len(results):,} by {metric}", ranked, metric, params, top
    )
    t = results.attrs["timing"]
    of = f" × {t['symbols']} symbols" if "symbols" in t else ""
    typer.echo(
        f"{t['combinations']:,} combinations × {t['candles']:,} candles{of} in "
        f"{t['seconds']:.2f}s ({t['executor']}, {t['workers']} workers)"
    )
    if path is not None:
        typer.echo(f"evidence: {path}")


def _note_skipped_heatmap(path: Path | None) -> None:
    """One stderr line when the saved sweep has no heatmap because matplotlib is missing."""
    if path is None:
        return
    import json

    skipped = json.loads((path / "sweep.json").read_text()).get("heatmap_skipped")
    if skipped:
        typer.echo(f"note: {skipped}", err=True)


def _empty_stats() -> Any:
    import pandas as pd

    from sparkbt.engine.stats import STAT_KEYS

    return pd.DataFrame(columns=list(STAT_KEYS))


@with_options(sweep_specs, lists=True)
def walk_forward_cmd(
    ctx: typer.Context,
    strategy: str = typer.Option("sma_cross", "--strategy", "-s", help="Name or file.py:fn."),
    train: str = typer.Option(..., "--train", help="Training window: bars (720) or 90d."),
    test: str = typer.Option(..., "--test", help="Test window: bars or duration."),
    step: str | None = typer.Option(None, "--step", help="Fold step (the test window)."),
    data: list[str] | None = _DATA,
    symbol: str = typer.Option("ETHUSDT", "--symbol", help="Symbol in the candle store."),
    symbols: str | None = _SYMBOLS,
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar period."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Candle store folder."),
    options: Any = None,  # engine and sweep options' flags (sparkbt.adapters.cli.options)
    metric: str = typer.Option("sharpe", "--metric", help="Stat that picks the best combination."),
    evidence_dir: Path | None = typer.Option(None, "--evidence-dir", help="Evidence root."),
    no_save: bool = typer.Option(False, "--no-save", help="Do not write evidence."),
    as_json: bool = typer.Option(False, "--json", help="Print folds and summary as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Walk-forward: best parameters per training window, judged on the next test window.

    Engine options take one value each.

    Example: sparkbt walk-forward --fast 5:50 --slow 20:200:10 --train 180d --test 60d

    Portfolio: sparkbt walk-forward --symbols BTCUSDT,ETHUSDT --strategy momentum_rotation
    --lookback 10:60:10 --train 360d --test 90d
    """
    from sparkbt.evidence import dump_json
    from sparkbt.research.walkforward import walk_forward

    strat, candles, opts = _prepare(ctx, locals())
    with progress_bar(not quiet, "walk-forward") as update:
        wf = walk_forward(
            candles,
            strat,
            train=train,
            test=test,
            step=step,
            metric=metric,
            progress=update,
            **opts,
        )
    path = None if no_save else wf.save(evidence_dir)
    if as_json:
        payload = {"id": path.name if path else None, "path": str(path) if path else None}
        typer.echo(dump_json({**payload, **wf.to_dict()}), nl=False)
        return
    from rich.console import Console

    print_walk_forward(
        Console(),
        f"walk-forward {strat.name}: best by {metric} per fold",
        wf.folds,
        wf.summary,
        wf.params,
    )
    if path is not None:
        typer.echo(f"evidence: {path}")


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    """Add ``sweep`` and ``walk-forward`` to the root CLI (once, however often called)."""
    known = {c.name for c in app.registered_commands}
    for name, command in (("sweep", sweep_cmd), ("walk-forward", walk_forward_cmd)):
        if name not in known:
            app.command(name, context_settings=_EXTRA)(command)
