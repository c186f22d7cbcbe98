"""Command-line arguments shared by commands: strategy parameters and where candles come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sparkbt.errors import StrategyError, did_you_mean

__all__ = ["EVIDENCE_DIR", "candles_from_options", "parse_strategy_args"]

EVIDENCE_DIR: Any = typer.Option(
    None, "--evidence-dir", help="Evidence root (env SPARKBT_EVIDENCE_DIR, default ./evidence)."
)
"""The ``--evidence-dir`` option of the commands that read stored evidence."""


def parse_strategy_args(
    args: list[str], strategy: Any, options: tuple[str, ...] = ()
) -> dict[str, str]:
    """``["--fast", "10", "--slow=30"]`` -> {"fast": "10", "slow": "30"}, checked by name.

    ``options`` are the command's own option names: a near miss of one of them
    (``--fee``) gets a hint too.
    """
    from sparkbt.engine.options import ENGINE_OPTIONS

    names = {p.name: p for p in strategy.params}
    options = options or ENGINE_OPTIONS
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise StrategyError(
                f"unexpected argument {tok!r}: strategy parameters look like --NAME VALUE"
            )
        key, sep, val = tok[2:].partition("=")
        key = key.replace("-", "_")
        if key not in names:
            hint = did_you_mean(
                key, [*names, *options], show=lambda n: f"'--{n.replace('_', '-')}'"
            )
            known = ", ".join(f"--{n}" for n in names) or "none"
            raise StrategyError(
                f"{strategy.name}: unknown option '--{key}' (strategy parameters: {known}){hint}"
            )
        if not sep:
            nxt = args[i + 1] if i + 1 < len(args) else None
            if names[key].type is bool and (nxt is None or nxt.startswith("--")):
                val = "true"
            elif nxt is None:
                raise StrategyError(f"{strategy.name}: option '--{key}' needs a value")
            else:
                val = nxt
                i += 1
        out[key] = val
        i += 1
    return out


def candles_from_options(
    data: Path | None, symbol: str, timeframe: str | None, data_dir: Path | None
) -> Any:
    """Candles for ``--data`` (a file) or ``--symbol/--timeframe`` (store, then sample)."""
    from sparkbt.data.candles import load_candles
    from sparkbt.data.store import DEFAULT_SYMBOL, DEFAULT_TIMEFRAME, resolve_candles

    if data is not None:
        sym = symbol if symbol != DEFAULT_SYMBOL else None
        return load_candles(data, timeframe=timeframe, symbol=sym)
    return resolve_candles(symbol, timeframe or DEFAULT_TIMEFRAME, data_dir)
