"""A stored portfolio run as one self-contained HTML file (``sparkbt report --html``).

Plain HTML and an inline SVG: the statistics, the per-symbol table, the
equity and drawdown curves and the trades of each symbol. Nothing is loaded
from the network, so the file opens offline.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from sparkbt.evidence import RunEvidence

__all__ = ["portfolio_html", "write_portfolio_html"]

_WIDTH, _HEIGHT, _POINTS = 900.0, 220.0, 1200  # chart size (px) and most points drawn

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.2rem .7rem;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{text-align:left}
small{color:#666}svg{border:1px solid #eee;margin:.5rem 0}
"""

_ASSET_FORMATS = {
    "pnl": "{:,.2f}",
    "contribution": "{:+.2%}",
    "fees": "{:,.2f}",
    "trades": "{:,.0f}",
    "exposure": "{:.1%}",
    "mean_abs_weight": "{:.1%}",
}
_TRADE_COLUMNS = ("side", "entry_time", "exit_time", "units", "pnl", "return", "exit_reason")


def portfolio_html(run: RunEvidence) -> str:
    """The report page of a stored portfolio run."""
    report = run.report
    meta = report.get("metadata") or {}
    params = ", ".join(f"{k}={v}" for k, v in (report.get("params") or {}).items())
    title = f"{report['strategy']}({params}) · {', '.join(meta.get('symbols') or [])}"
    esc = html.escape
    head = (
        f"<h1>{esc(title)}</h1><p><small>{esc(str(meta.get('timeframe') or ''))} · "
        f"{meta.get('candle_count', 0):,} bars {esc(str(meta.get('start', ''))[:10])} → "
        f"{esc(str(meta.get('end', ''))[:10])} · run {esc(run.id)} · engine "
        f"{esc(str(report.get('engine_version')))} · config "
        f"{esc(', '.join(f'{k}={v}' for k, v in (report.get('config') or {}).items()))}"
        "</small></p>"
    )
    equity = run.equity["equity"].to_numpy(dtype=np.float64)
    drawdown = run.equity["drawdown"].to_numpy(dtype=np.float64)
    body = (
        head
        + "<h2>Equity</h2>"
        + _svg(equity, "#1f6feb")
        + "<h2>Drawdown</h2>"
        + _svg(-drawdown, "#cf222e")
        + "<h2>Statistics</h2>"
        + _stats(report.get("stats") or {})
        + "<h2>Per symbol</h2>"
        + _assets(report.get("assets") or {})
        + _trades(run, meta.get("symbols") or [])
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)} · sparkbt"
        f"</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def write_portfolio_html(run: RunEvidence, path: Path) -> Path:
    """Write :func:`portfolio_html` to ``path`` atomically (a temporary file renamed)."""
    path = Path(path)
    text = portfolio_html(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _svg(values: np.ndarray, colour: str) -> str:
    """A line of ``values`` (at most _POINTS of them, evenly picked) scaled to the chart."""
    if len(values) == 0:
        return "<p>no bars</p>"
    picked = values[np.linspace(0, len(values) - 1, min(len(values), _POINTS)).astype(int)]
    low, high = float(np.nanmin(picked)), float(np.nanmax(picked))
    span = high - low or 1.0
    xs = np.linspace(0.0, _WIDTH, len(picked))
    ys = _HEIGHT - (picked - low) / span * (_HEIGHT - 10.0) - 5.0
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    return (
        f"<svg viewBox='0 0 {_WIDTH:.0f} {_HEIGHT:.0f}' width='100%' role='img'>"
        f"<polyline fill='none' stroke='{colour}' stroke-width='1.2' points='{points}'/>"
        f"</svg><small>from {low:,.4g} to {high:,.4g}</small>"
    )


def _stats(stats: dict[str, Any]) -> str:
    from sparkbt.engine.statspec import format_stat

    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td class='n'>{html.escape(format_stat(k, v))}</td></tr>"
        for k, v in stats.items()
    )
    return f"<table>{rows}</table>"


def _assets(assets: dict[str, dict[str, Any]]) -> str:
    header = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in _ASSET_FORMATS)
    rows = "".join(
        f"<tr><th>{html.escape(sym)}</th>"
        + "".join(
            f"<td class='n'>{'—' if row.get(c) is None else fmt.format(row[c])}</td>"
            for c, fmt in _ASSET_FORMATS.items()
        )
        + "</tr>"
        for sym, row in assets.items()
    )
    return f"<table><tr><th>symbol</th>{header}</tr>{rows}</table>"


def _trades(run: RunEvidence, symbols: list[str]) -> str:
    trades = run.trades
    out = []
    for sym in symbols:
        mine = trades[trades["symbol"] == sym] if "symbol" in trades.columns else trades
        header = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in _TRADE_COLUMNS)
        rows = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(_cell(c, t[c]))}</td>" for c in _TRADE_COLUMNS)
            + "</tr>"
            for t in mine.to_dict("records")
        )
        out.append(
            f"<h2>Trades · {html.escape(sym)} ({len(mine):,})</h2>"
            f"<table><tr>{header}</tr>{rows}</table>"
        )
    return "".join(out)


def _cell(column: str, value: Any) -> str:
    if column in ("entry_time", "exit_time"):
        return str(value)[:16]
    if column == "return":
        return f"{value:+.2%}"
    if column in ("pnl", "units"):
        return f"{value:,.6g}" if column == "units" else f"{value:,.2f}"
    return str(value)
