"""A run report as one self-contained HTML file: scripts, styles and data inlined.

The file is the page ``sparkbt serve`` shows at ``/ui/runs/<id>``, rendered
with every asset inlined and without the site's navigation, so it opens from
disk with no network and can be mailed or archived beside the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparkbt.adapters.web.portfoliodata import portfolio_payload
from sparkbt.adapters.web.reportdata import CandleSource, report_payload
from sparkbt.adapters.web.tradetable import trades_csv
from sparkbt.adapters.web.web import render
from sparkbt.evidence import RunEvidence

__all__ = ["portfolio_sources", "report_html", "write_report_html"]


def report_html(run: RunEvidence, candles: Any, note: str = "") -> str:
    """The self-contained report page of ``run``.

    ``candles`` are the run's, for the price chart: a frame (or None) for one symbol; for
    a portfolio a mapping of each symbol to its :class:`CandleSource`.
    """
    if run.is_portfolio:
        sources: Mapping[str, CandleSource] = candles or {}
        data = portfolio_payload(run, sources, max_trades=None)
        template = "portfolio.html"
    else:
        data = report_payload(run, CandleSource(candles, note), max_trades=None)
        template = "report.html"
    return render(
        template,
        standalone=True,
        data=data,
        csv_url="",
        trades_url="",
        csv_text=trades_csv(run.trades),
        request=None,
        user=None,
        csrf_field="",
        csrf_token="",
        private=False,
        verification=None,  # a file on disk shows no verify mark: verify it with the command
    )


def write_report_html(run: RunEvidence, candles: Any, path: Path, note: str = "") -> Path:
    """Write :func:`report_html` to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    text = report_html(run, candles, note)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def portfolio_sources(report: dict[str, Any], data_dir: str | Path | None) -> dict[str, Any]:
    """Each symbol's candles from the store (else the samples), or why there are none."""
    from sparkbt.data.store import resolve_candles
    from sparkbt.errors import SparkbtError

    meta = report.get("metadata") or {}
    out: dict[str, Any] = {}
    for symbol in meta.get("symbols") or []:
        try:
            out[symbol] = CandleSource(resolve_candles(symbol, meta["timeframe"], data_dir))
        except SparkbtError as exc:
            out[symbol] = CandleSource(None, f"not in the store ({str(exc).splitlines()[0]})")
    return out
