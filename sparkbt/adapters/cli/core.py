"""Core commands: ``run``, ``strategies``, ``show``, ``data validate``, ``data list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from sparkbt.adapters.cli.args import candles_from_options, parse_strategy_args
from sparkbt.adapters.cli.options import engine_specs, with_options

VOLUME_MISSING = "volume missing: set to 0"


class _RunCommand(TyperCommand):
    """``run``: its help lists every strategy's parameters, which imports the strategy modules.

    The epilog is built when help is shown, never when the command line is
    assembled, so other commands execute no strategy code.
    """

    @property
    def epilog(self) -> str:
        return _strategy_epilog()

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        pass  # always computed


def _strategy_epilog() -> str:
    try:
        from sparkbt.engine.registry import list_strategies

        lines = []
        for s in list_strategies():
            params = " ".join(f"--{p.name} {_type_name(p)}={p.default!r}" for p in s.params)
            lines.append(f"{s.name}: {params or '(no parameters)'}")
        return "Strategy parameters (pass as --NAME VALUE):\n\n" + "\n\n".join(lines)
    except Exception:  # never break --help
        return "Strategy parameters: see `sparkbt strategies`."


def _type_name(p: Any) -> str:
    return p.type.__name__.upper()


def print_stats_table(title: str, report: dict[str, Any], path: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from sparkbt.engine.statspec import EXIT_KEYS, format_stat

    console = Console()
    meta = report.get("metadata", {})
    params = ", ".join(f"{k}={v}" for k, v in report.get("params", {}).items())
    cfg = report.get("config", {})
    table = Table(title=f"{title}: {report['strategy']}({params})")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    stats = report["stats"]
    for key, value in stats.items():
        if key not in EXIT_KEYS:
            table.add_row(key, format_stat(key, value))
    exits = [f"{EXIT_KEYS[k]} {v:,}" for k, v in stats.items() if k in EXIT_KEYS and v]
    if exits:
        table.add_row("exits by reason", ", ".join(exits))
    console.print(table)
    head = " ".join(str(x) for x in (meta.get("symbol") or "candles", meta.get("timeframe")) if x)
    warmup = int(meta.get("warmup_bars") or 0)
    console.print(
        f"{head}{_source_text(meta)} · {meta.get('candle_count', 0):,} bars "
        f"{str(meta.get('start', ''))[:10]} → {str(meta.get('end', ''))[:10]}"
        f"{f' after {warmup:,} warm-up bars' if warmup else ''} · "
        f"cash {cfg.get('cash'):,} · fees {cfg.get('fees')} · "
        f"slippage {cfg.get('slippage')} · {cfg.get('direction')} · fill {cfg.get('fill')}"
        f"{_stops_text(cfg)} · run {report['id']}",
        soft_wrap=True,
    )
    clipped = int(meta.get("clipped_targets") or 0)
    if clipped:
        kept, lost = (cfg.get("direction"), "short" if cfg.get("direction") == "long" else "long")
        typer.echo(
            f"{clipped:,} bar{'s' if clipped != 1 else ''} of {lost} targets ignored: "
            f"direction is {kept}; use --direction both"
        )
    if path is not None:
        typer.echo(f"evidence: {path}")


def _source_text(meta: dict[str, Any]) -> str:
    """What the candles are: ``(synthetic sample)``, ``(store, synthetic)``, ``(file)``..."""
    source = meta.get("source")
    parts = []
    if source == "sample":
        parts.append("synthetic sample" if meta.get("synthetic") else "sample")
    elif source is not None:  # reports written before reports named their source have none
        parts.append(source)
        if meta.get("synthetic"):
            parts.append("synthetic")
    if meta.get("volume_missing"):
        parts.append(VOLUME_MISSING)
    return f" ({', '.join(parts)})" if parts else ""


def _stops_text(cfg: dict[str, Any]) -> str:
    parts = []
    if cfg.get("sl_stop"):
        parts.append(f"{'trailing ' if cfg.get('sl_trail') else ''}stop {cfg['sl_stop']}")
    if cfg.get("tp_stop"):
        parts.append(f"take-profit {cfg['tp_stop']}")
    parts += [f"{k}={v}" for k, v in (cfg.get("gates") or {}).items()]
    return "".join(f" · {p}" for p in parts)


@with_options(engine_specs)
def run(
    ctx: typer.Context,
    strategy: str = typer.Option(
        "sma_cross",
        "--strategy",
        "-s",
        help="Strategy name (see `sparkbt strategies`) or path/to/file.py:function.",
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Candle file (CSV, Parquet, Feather/Arrow). Overrides --symbol."
    ),
    symbol: str = typer.Option("ETHUSDT", "--symbol", help="Symbol to read from the candle store."),
    timeframe: str | None = typer.Option(
        None,
        "--timeframe",
        "-t",
        help="Bar period (1m, 15m, 1h, 4h, 1d...). Store lookups default to 4h; with --data it "
        "declares the period (else inferred from the median step).",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Candle store folder (env SPARKBT_DATA_DIR, default ./data)."
    ),
    options: Any = None,  # the engine options' flags (sparkbt.adapters.cli.options)
    trade_from: str | None = typer.Option(
        None,
        "--trade-from",
        help="Trade from this date or time (UTC), e.g. 2024-01-01 or 2024-01-01T08:00: "
        "the strategy sees every candle, the bars before it only warm its indicators up.",
    ),
    evidence_dir: Path | None = typer.Option(
        None,
        "--evidence-dir",
        help="Where runs are stored (env SPARKBT_EVIDENCE_DIR, default ./evidence).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print exactly the report JSON on stdout."),
    no_save: bool = typer.Option(False, "--no-save", help="Do not write evidence."),
) -> None:
    """Backtest one strategy and store its evidence.

    Example: sparkbt run --strategy sma_cross --fast 10 --slow 30 --fees 0.001 --sl-stop 0.02
    """
    from sparkbt.engine.options import Config
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest
    from sparkbt.evidence import dump_json

    config = Config(**options)  # bad options fail before any data is read
    strat = get_strategy(strategy)
    params = strat.validate(parse_strategy_args(list(ctx.args), strat))
    candles = candles_from_options(data, symbol, timeframe, data_dir)
    result = backtest(candles, strat, **config.to_dict(), trade_from=trade_from, **params)
    path = None if no_save else result.save(evidence_dir)
    if as_json:
        typer.echo(dump_json(result.report), nl=False)
    else:
        print_stats_table("backtest", result.report, path)
        if getattr(result, "kind", None) == "orders":
            from rich.console import Console

            from sparkbt.adapters.cli.orders import print_order_summary

            print_order_summary(Console(), result.run_id, result.orders)


def strategies(
    as_json: bool = typer.Option(False, "--json", help="Print the schemas as JSON."),
) -> None:
    """List strategies with their parameters (type, default, valid range)."""
    from rich.console import Console
    from rich.table import Table

    from sparkbt.engine.registry import list_strategies

    found = list_strategies()
    if as_json:
        typer.echo(json.dumps([s.schema() for s in found], indent=2))
        return
    table = Table(title="strategies")
    table.add_column("name")
    table.add_column("parameters")
    table.add_column("description")
    for s in found:
        params = "\n".join(
            f"--{p.name} {_type_name(p)} = {p.default!r}{p.range_text()}" for p in s.params
        )
        cons = "\n".join(f"requires {c.text}" for c, _ in s.constraints)
        table.add_row(s.name, "\n".join(x for x in (params, cons) if x) or "—", s.doc)
    Console().print(table)


def data_validate(
    path: Path = typer.Argument(..., help="Candle file to check (CSV, Parquet, Feather/Arrow)."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Declared bar period."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate a candle file against the canonical schema; exit 2 on the first problem."""
    import numpy as np

    from sparkbt.data.candles import load_candles
    from sparkbt.data.timeframes import parse_timeframe, time_index

    frame = load_candles(path, timeframe=timeframe)
    tf = frame.attrs.get("timeframe")
    gaps = 0
    if tf and len(frame) > 1:
        steps = np.diff(time_index(frame).asi8)
        gaps = int(np.count_nonzero(steps > parse_timeframe(tf).value))
    summary = {
        "path": str(path),
        "rows": len(frame),
        "start": frame.index[0].isoformat(),
        "end": frame.index[-1].isoformat(),
        "timeframe": tf,
        "gaps": gaps,
        "volume_missing": bool(frame.attrs.get("volume_missing")),
        "valid": True,
    }
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"ok: {path}: {summary['rows']:,} candles, {summary['start']} → {summary['end']}, "
            f"timeframe {tf}, {gaps} gap(s) longer than one bar"
            f"{', ' + VOLUME_MISSING if summary['volume_missing'] else ''}"
        )


def data_list(
    data_dir: Path | None = typer.Option(None, "--data-dir", help="Candle store folder."),
) -> None:
    """List the symbols and timeframes in the local candle store, then the packaged sample."""
    from sparkbt.data.store import CandleStore, samples

    store = CandleStore(data_dir)
    entries = store.list()
    if not entries:
        typer.echo(f"no candles in {store.root}")
    for sym, tf in entries:
        typer.echo(f"{sym} {tf} {store.path(sym, tf)}")
    for sym, tf, path in samples():
        typer.echo(
            f"{sym} {tf} {path} (synthetic sample packaged with sparkbt, "
            f"used when the store has no {sym} {tf})"
        )


def register(app: typer.Typer, data_app: typer.Typer) -> None:
    app.command(
        "run",
        cls=_RunCommand,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)
    app.command("strategies")(strategies)
    data_app.command("validate")(data_validate)
    data_app.command("list")(data_list)
