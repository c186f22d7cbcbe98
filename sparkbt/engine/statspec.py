"""What each statistic is: its key, unit, better direction, description, benchmark column.

One table (:data:`STATS`) from which the key order (:data:`STAT_KEYS`), the
formatting of tables and pages (:func:`format_stat`), the best/worst marks of
comparisons and the docs table (docs/statistics.md, :func:`statistics_markdown`)
all follow. The values themselves are computed in :mod:`sparkbt.engine.stats`.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from sparkbt.engine.codes import EXIT_REASONS

__all__ = [
    "BENCHMARK_KEYS",
    "COUNT_KEYS",
    "EXIT_KEYS",
    "HIGHER_BETTER",
    "LOWER_BETTER",
    "ORDER_STATS",
    "ORDER_STAT_KEYS",
    "PERCENT_KEYS",
    "PORTFOLIO_STATS",
    "PORTFOLIO_STAT_KEYS",
    "STATS",
    "STAT_KEYS",
    "STAT_SPECS",
    "StatSpec",
    "format_stat",
    "statistics_markdown",
]

Unit = Literal["percent", "money", "seconds", "ratio", "count", "flag"]
Direction = Literal["higher", "lower", ""]


class StatSpec(NamedTuple):
    """One statistic: ``unit`` decides its formatting, ``direction`` which run is better."""

    name: str
    unit: Unit  # percent: a fraction shown as %; money: quote currency; seconds: a duration
    direction: Direction  # the better value is the higher / lower one; "" when neither
    description: str  # its definition (Markdown, docs/semantics.md notation)
    benchmark: bool = False  # buy and hold has it too (the report's benchmark column)


STATS: tuple[StatSpec, ...] = (
    StatSpec("total_return", "percent", "higher", "`eq[n-1] / cash - 1`", True),
    StatSpec("pnl", "money", "higher", "`eq[n-1] - cash`"),
    StatSpec("final_equity", "money", "higher", "`eq[n-1]`"),
    StatSpec(
        "benchmark_return",
        "percent",
        "",
        "`close[n-1] / close[0] - 1` (buy and hold, without fees)",
    ),
    StatSpec(
        "cagr",
        "percent",
        "higher",
        "`(eq[n-1] / cash) ^ (365.25 days / (last timestamp − first timestamp)) - 1`, "
        "by the calendar, not by bar count",
        True,
    ),
    StatSpec(
        "max_drawdown",
        "percent",
        "lower",
        "`max over t of 1 - eq[t] / max(eq[0..t])`, a positive fraction (0.28 means 28%). "
        "The peak runs over the equity curve only; the starting cash is not a peak",
        True,
    ),
    StatSpec(
        "max_drawdown_duration",
        "seconds",
        "lower",
        "in seconds: the longest time from a bar at its running peak to the next bar back "
        "at or above that peak, or to the last bar if the curve ends below it",
        True,
    ),
    StatSpec("sharpe", "ratio", "higher", "`mean(r) / std(r, ddof=1) * sqrt(ann)`", True),
    StatSpec(
        "sortino",
        "ratio",
        "higher",
        "`mean(r) * ann / (sqrt(mean(min(r, 0)^2)) * sqrt(ann))` "
        "(the mean of squares runs over all bars)",
        True,
    ),
    StatSpec("calmar", "ratio", "higher", "`cagr / max_drawdown`", True),
    StatSpec(
        "exposure", "percent", "", "the share of bars that end with a non-zero position", True
    ),
    StatSpec("total_trades", "count", "", "`closed_trades + open_trades`"),
    StatSpec("closed_trades", "count", "", "the number of closed trades"),
    StatSpec("open_trades", "count", "", "the number of open trades (0 or 1)"),
    StatSpec("win_rate", "percent", "higher", "closed trades with `pnl > 0` / closed trades"),
    StatSpec("avg_pnl", "money", "higher", "the mean `pnl` of closed trades (quote currency)"),
    StatSpec("avg_return", "percent", "higher", "the mean `return` of closed trades"),
    StatSpec("best_trade", "percent", "higher", "the highest `return` of a closed trade"),
    StatSpec("worst_trade", "percent", "higher", "the lowest `return` of a closed trade"),
    StatSpec(
        "profit_factor",
        "ratio",
        "higher",
        "the sum of positive closed `pnl` / the absolute sum of negative closed `pnl`",
    ),
    StatSpec(
        "expectancy",
        "money",
        "higher",
        "the mean closed-trade `pnl` (quote currency), equal to `avg_pnl`",
    ),
    StatSpec(
        "total_fees",
        "money",
        "lower",
        "the sum of all fees paid: `entry_fee + exit_fee` over all trades, the open one included",
    ),
    StatSpec(
        "ruined",
        "flag",
        "",
        "`true` when `eq[t] <= 0` at some close (see [Ruin](semantics.md#ruin))",
    ),
    *(
        StatSpec(f"exits_{r}", "count", "", f"closed trades with exit reason `{r}`")
        for r in EXIT_REASONS
    ),
)
"""Every statistic of a run, in the order reports show them."""

PORTFOLIO_STATS: tuple[StatSpec, ...] = (
    StatSpec(
        "turnover",
        "ratio",
        "",
        "the traded value (units × fill price, both sides) summed over all fills / "
        "the mean of `eq[t]`",
    ),
    StatSpec(
        "rejected_orders",
        "count",
        "",
        "orders refused: no cash, or under the exchange's lot or minimum value",
    ),
)
"""The statistics a portfolio adds after every key of :data:`STATS`."""

ORDER_STATS: tuple[StatSpec, ...] = (
    StatSpec("orders_filled", "count", "", "orders filled in whole or in part"),
    StatSpec("orders_expired", "count", "", "orders whose time in force ended before they filled"),
    StatSpec(
        "orders_rejected",
        "count",
        "",
        "orders refused: no cash, a reduce-only sell while flat, under the minimum value, "
        "a gate lock, or no whole lot",
    ),
)
"""The statistics a run of orders adds after every key of :data:`STATS` (portfolio ones
included for a portfolio)."""

_ALL = STATS + PORTFOLIO_STATS + ORDER_STATS
STAT_SPECS: dict[str, StatSpec] = {s.name: s for s in _ALL}
STAT_KEYS: tuple[str, ...] = tuple(s.name for s in STATS)
"""Keys of ``stats`` in the order reports show them."""
PORTFOLIO_STAT_KEYS: tuple[str, ...] = STAT_KEYS + tuple(s.name for s in PORTFOLIO_STATS)
"""Keys of a portfolio's ``stats``: every key of a run, then turnover and rejected orders."""
ORDER_STAT_KEYS: tuple[str, ...] = STAT_KEYS + tuple(s.name for s in ORDER_STATS)
"""Keys of the ``stats`` of a run of orders: every key of a run, then the order counts."""
COUNT_KEYS: tuple[str, ...] = tuple(s.name for s in _ALL if s.unit == "count")
"""Statistics that are whole counts (ints in JSON)."""
PERCENT_KEYS = frozenset(s.name for s in _ALL if s.unit == "percent")
"""Statistics that are fractions, shown as percentages."""
HIGHER_BETTER = frozenset(s.name for s in _ALL if s.direction == "higher")
"""Stats where the larger value is the better run."""
LOWER_BETTER = frozenset(s.name for s in _ALL if s.direction == "lower")
"""Stats where the smaller value is the better run."""
BENCHMARK_KEYS: tuple[str, ...] = tuple(s.name for s in STATS if s.benchmark)
"""Stats that have a buy-and-hold counterpart."""
EXIT_KEYS: dict[str, str] = {f"exits_{r}": r for r in EXIT_REASONS}
"""The ``exits_<reason>`` counts and their exit reason."""


def format_stat(key: str, value: Any) -> str:
    """One statistic as tables and reprs show it: percentages, counts, money, durations."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    unit = STAT_SPECS[key].unit if key in STAT_SPECS else "ratio"
    if unit == "seconds":
        import pandas as pd

        return str(pd.Timedelta(seconds=float(value)))
    if unit == "count":
        return f"{int(value):,}"
    if unit == "percent":
        return f"{value * 100:,.2f}%"
    if unit == "money":
        return f"{value:,.2f}"
    return f"{value:,.3f}"


_UNIT_TEXT = {
    "percent": "fraction (shown as %)",
    "money": "quote currency",
    "seconds": "seconds",
    "ratio": "ratio",
    "count": "count",
    "flag": "true / false",
}


_TABLE_HEAD = ("| key | unit | better | benchmark | definition |", "|---|---|---|---|---|")


def statistics_markdown() -> str:
    """The text of docs/statistics.md: one row per statistic, from :data:`STATS`."""
    lines = [
        "# Statistics",
        "",
        "<!-- Generated by sparkbt.engine.statspec.statistics_markdown(); do not edit. -->",
        "",
        "`res.stats` (the `stats` block of `report.json`) has these keys, in this order",
        "(`sb.STAT_KEYS`). Notation ([semantics](semantics.md#statistics)): `eq[t]` is the",
        "recorded equity, `cash` the starting cash, `r[t] = eq[t] / eq[t-1] - 1` the bar",
        'returns with `eq[-1] = cash`, `ann = year_days days / bar period`; "closed trades"',
        "excludes the open trade. *Better* says which value marks the better run when runs",
        "are compared; *benchmark* marks the statistics the report also shows for buy and hold.",
        "",
        *_TABLE_HEAD,
    ]
    lines += [_markdown_row(s) for s in STATS]
    lines += _section(
        "Portfolios",
        "A portfolio's `stats` have every key above, on the portfolio's equity and the trades",
        "of all its symbols (`benchmark_return` is an equal-weight basket bought at each",
        "symbol's first close and held), then:",
        specs=PORTFOLIO_STATS,
    )
    lines += _section(
        "Orders",
        "A run whose strategy returns orders has every key of its kind of run, then:",
        specs=ORDER_STATS,
    )
    return "\n".join(lines) + "\n"


def _section(title: str, *intro: str, specs: tuple[StatSpec, ...]) -> list[str]:
    """A titled table of more statistics, after its introduction."""
    head = ["", f"## {title}", "", *intro, "", *_TABLE_HEAD]
    return head + [_markdown_row(s) for s in specs]


def _markdown_row(s: StatSpec) -> str:
    bench = "yes" if s.benchmark else ""
    return f"| `{s.name}` | {_UNIT_TEXT[s.unit]} | {s.direction} | {bench} | {s.description} |"
