"""Core commands: ``run``, ``strategies``, ``show``, ``data validate``, ``data list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand

from sparkbt.adapters.cli.args import parse_strategy_args, portfolio_source, run_candles
from sparkbt.adapters.cli.options import engine_specs, with_options
from sparkbt.adapters.cli.summary import VOLUME_MISSING, print_stats_table


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


_KIND_TEXT = {
    "targets": "Targets strategies: one symbol's position (--symbol, or each of --symbols "
    "trading its own share of the cash)",
    "weights": "Weights strategies: one cash allocated across --symbols (one symbol: a "
    "portfolio of one)",
}


def _strategy_epilog() -> str:
    try:
        from sparkbt.engine.registry import list_strategies

        groups: dict[str, list[str]] = {kind: [] for kind in _KIND_TEXT}
        for s in list_strategies():
            params = " ".join(f"--{p.name} {_type_name(p)}={p.default!r}" for p in s.params)
            groups.setdefault(s.kind, []).append(f"{s.name}: {params or '(no parameters)'}")
        parts = [
            f"{_KIND_TEXT.get(kind, kind)}.\n\n" + "\n\n".join(lines)
            for kind, lines in groups.items()
            if lines
        ]
        return "Strategy parameters (pass as --NAME VALUE).\n\n" + "\n\n".join(parts)
    except Exception:  # never break --help
        return "Strategy parameters: see `sparkbt strategies`."


def _type_name(p: Any) -> str:
    return p.type.__name__.upper()


@with_options(engine_specs)
def run(
    ctx: typer.Context,
    strategy: str = typer.Option(
        "sma_cross",
        "--strategy",
        "-s",
        help="Strategy name (see `sparkbt strategies`) or path/to/file.py:function.",
    ),
    data: list[str] = typer.Option(
        [],
        "--data",
        help="Candle file (CSV, Parquet, Feather/Arrow); overrides --symbol. Repeat as "
        "--data SYMBOL=FILE (e.g. --data BTC=btc.csv --data ETH=eth.csv) for a portfolio of files.",
        metavar="FILE|SYMBOL=FILE",
        show_default=False,
    ),
    symbol: str = typer.Option("ETHUSDT", "--symbol", help="Symbol to read from the candle store."),
    symbols: str | None = typer.Option(
        None,
        "--symbols",
        metavar="A,B,...",
        help="Portfolio: comma-separated store symbols sharing one cash, e.g. "
        "BTCUSDT,ETHUSDT,SOLUSDT (store first, else the packaged samples). Not with --symbol.",
    ),
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
    """Backtest one strategy (on one symbol, or a portfolio of several) and store its evidence.

    Example: sparkbt run --strategy sma_cross --fast 10 --slow 30 --fees 0.001 --sl-stop 0.02

    Portfolio: sparkbt run --symbols BTCUSDT,ETHUSDT,SOLUSDT --strategy momentum_rotation --k 2
    (the symbols share one cash; stops, loss_streak and cooldown are refused, the
    max_drawdown and daily_loss gates apply to the whole portfolio).
    """
    from sparkbt.engine.options import Config
    from sparkbt.engine.registry import get_strategy
    from sparkbt.engine.simulate import backtest
    from sparkbt.evidence import dump_json

    config = Config(**options)  # bad options fail before any data is read
    strat = get_strategy(strategy)
    params = strat.validate(parse_strategy_args(list(ctx.args), strat))
    source = ctx.get_parameter_source("symbol")
    request = portfolio_source(data, symbols, symbol_given=getattr(source, "name", "") != "DEFAULT")
    if request is not None or strat.kind == "weights":
        from sparkbt.engine.portfolio import check_portfolio_config

        check_portfolio_config(config)  # stops and per-trade gates, before any data is read
    candles = run_candles(data, symbols, symbol, timeframe, data_dir)
    result = backtest(
        candles, strat, **config.to_dict(), trade_from=trade_from, data_dir=data_dir, **params
    )
    path = None if no_save else result.save(evidence_dir)
    if as_json:
        typer.echo(dump_json(result.report), nl=False)
    else:
        print_stats_table("backtest", result.report, path)
        from sparkbt.engine.order_run import OrderRunResult

        if isinstance(result, OrderRunResult):
            from rich.console import Console

            from sparkbt.adapters.cli.orders import print_order_summary

            print_order_summary(Console(), result.run_id, result.orders)


def strategies(
    as_json: bool = typer.Option(False, "--json", help="Print the schemas as JSON."),
) -> None:
    """List strategies: kind (targets or weights), parameters (type, default, range)."""
    from rich.console import Console
    from rich.table import Table

    from sparkbt.engine.registry import list_strategies

    found = list_strategies()
    if as_json:
        typer.echo(json.dumps([s.schema() for s in found], indent=2))
        return
    table = Table(title="strategies")
    table.add_column("name")
    table.add_column("kind")
    table.add_column("parameters")
    table.add_column("description")
    for s in found:
        params = "\n".join(
            f"--{p.name} {_type_name(p)} = {p.default!r}{p.range_text()}" for p in s.params
        )
        cons = "\n".join(f"requires {c.text}" for c, _ in s.constraints)
        table.add_row(s.name, s.kind, "\n".join(x for x in (params, cons) if x) or "—", s.doc)
    Console().print(table)
    Console().print(
        "kind: targets = one symbol's position over time (--symbol, or each of --symbols on its "
        "own share of the cash); weights = one cash allocated across --symbols."
    )


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
