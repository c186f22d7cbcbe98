"""The human summary of a run (``run``, ``show``): statistics, then the candles and options.

A portfolio's summary adds its per-symbol table (pnl, contribution, fees,
trades, exposure, mean |weight|) under the statistics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

__all__ = ["VOLUME_MISSING", "asset_table", "print_stats_table"]

VOLUME_MISSING = "volume missing: set to 0"

_ASSET_CELLS: dict[str, tuple[str, Any]] = {  # column: (header, cell text of a value)
    "pnl": ("pnl", lambda v: f"{v:,.2f}"),
    "contribution": ("contribution", lambda v: f"{v:+.2%}"),
    "fees": ("fees", lambda v: f"{v:,.2f}"),
    "trades": ("trades", lambda v: f"{int(v):,}"),
    "exposure": ("exposure", lambda v: f"{v:.1%}"),
    "mean_abs_weight": ("mean |weight|", lambda v: f"{v:.1%}"),
}


def print_stats_table(title: str, report: dict[str, Any], path: Path | None) -> None:
    """Print a run's report: a portfolio's with its per-symbol table."""
    if report.get("kind") == "portfolio":
        _print_portfolio(title, report, path)
        return
    from rich.console import Console

    console = Console()
    meta = report.get("metadata", {})
    cfg = report.get("config", {})
    console.print(_stats_table(title, report))
    head = " ".join(str(x) for x in (meta.get("symbol") or "candles", meta.get("timeframe")) if x)
    console.print(_run_line(f"{head}{_source_text(meta)}", report), soft_wrap=True)
    _clipped_note(int(meta.get("clipped_targets") or 0), "targets", cfg)
    _rules_note(meta)
    if path is not None:
        typer.echo(f"evidence: {path}")


def _print_portfolio(title: str, report: dict[str, Any], path: Path | None) -> None:
    """Statistics of the portfolio, its symbols' table, then its candles and options."""
    from rich.console import Console

    console = Console()
    meta = report.get("metadata", {})
    cfg = report.get("config", {})
    console.print(_stats_table(title, report))
    console.print(asset_table(report.get("assets") or {}))
    symbols = ", ".join(meta.get("symbols") or report.get("assets") or [])
    head = " ".join(str(x) for x in (symbols or "candles", meta.get("timeframe")) if x)
    console.print(_run_line(f"portfolio of {head}{_sources_text(meta)}", report), soft_wrap=True)
    _clipped_note(int(meta.get("clipped_weights") or 0), "weights", cfg)
    _rules_note(meta)
    if path is not None:
        typer.echo(f"evidence: {path}")


def _run_line(head: str, report: dict[str, Any]) -> str:
    """``head`` (what was traded), then the bars, the options and the run id, on one line."""
    meta = report.get("metadata", {})
    cfg = report.get("config", {})
    warmup = int(meta.get("warmup_bars") or 0)
    return (
        f"{head} · {meta.get('candle_count', 0):,} bars "
        f"{str(meta.get('start', ''))[:10]} → {str(meta.get('end', ''))[:10]}"
        f"{f' after {warmup:,} warm-up bars' if warmup else ''} · "
        f"cash {cfg.get('cash'):,} · fees {cfg.get('fees')} · "
        f"slippage {cfg.get('slippage')} · {cfg.get('direction')} · fill {cfg.get('fill')}"
        f"{_stops_text(cfg)} · run {report['id']}"
    )


def _rules_note(meta: dict[str, Any]) -> None:
    """The exchange-info snapshot a run's rules came from (one line), if any."""
    from sparkbt.engine.exchange import rules_summary

    if meta.get("exchange_rules"):
        typer.echo(rules_summary(meta["exchange_rules"]))


def _stats_table(title: str, report: dict[str, Any]) -> Any:
    from rich.table import Table

    from sparkbt.engine.statspec import EXIT_KEYS, format_stat

    params = ", ".join(f"{k}={v}" for k, v in report.get("params", {}).items())
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
    return table


def asset_table(assets: dict[str, dict[str, Any]]) -> Any:
    """The per-symbol table of a portfolio report's ``assets`` (a rich Table)."""
    from rich.table import Table

    table = Table(title="per symbol")
    table.add_column("symbol")
    for header, _ in _ASSET_CELLS.values():
        table.add_column(header, justify="right")
    for sym, row in assets.items():
        table.add_row(sym, *(_cell(cell, row.get(col)) for col, (_, cell) in _ASSET_CELLS.items()))
    return table


def _cell(cell: Any, value: Any) -> str:
    return "—" if value is None else str(cell(value))


def _clipped_note(clipped: int, what: str, cfg: dict[str, Any]) -> None:
    """Say how many bars of targets (or how many weights) the direction ignored."""
    if clipped:
        kept, lost = (cfg.get("direction"), "short" if cfg.get("direction") == "long" else "long")
        plural = "s" if clipped != 1 else ""
        text = f"bar{plural} of {lost} targets" if what == "targets" else f"{lost} weight{plural}"
        typer.echo(f"{clipped:,} {text} ignored: direction is {kept}; use --direction both")


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


def _sources_text(meta: dict[str, Any]) -> str:
    """A portfolio's sources: ``(synthetic samples)``, ``(files)``, ``(store, file)``..."""
    kinds = list(dict.fromkeys((meta.get("sources") or {}).values()))
    if kinds == ["sample"]:
        parts = ["synthetic samples" if meta.get("synthetic") else "samples"]
    else:
        parts = [{"file": "files"}.get(k, k) for k in kinds]
        if meta.get("synthetic"):
            parts.append("synthetic")
    return f" ({', '.join(parts)})" if parts else ""


def _stops_text(cfg: dict[str, Any]) -> str:
    parts = []
    if cfg.get("sl_stop"):
        parts.append(f"{'trailing ' if cfg.get('sl_trail') else ''}stop {cfg['sl_stop']}")
    if cfg.get("tp_stop"):
        parts.append(f"take-profit {cfg['tp_stop']}")
    parts += [f"{k}={v}" for k, v in (cfg.get("gates") or {}).items()]
    return "".join(f" · {p}" for p in parts)
