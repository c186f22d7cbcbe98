"""Command-line arguments shared by commands: strategy parameters and where candles come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from sparkbt.errors import ConfigError, InputError, StrategyError, did_you_mean

__all__ = [
    "EVIDENCE_DIR",
    "candles_from_options",
    "parse_data_files",
    "parse_strategy_args",
    "parse_symbols",
    "portfolio_source",
    "run_candles",
]

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


def parse_symbols(text: str, option: str = "--symbols") -> list[str]:
    """``"btctry, ETHTRY"`` -> ``["BTCTRY", "ETHTRY"]``: store symbols, normalised, each once.

    An empty item (``A,,B``, a trailing comma) or a symbol given twice is refused,
    naming it.
    """
    from sparkbt.data.store import normalise_symbol

    out: list[str] = []
    for pos, item in enumerate(text.split(","), start=1):
        if not item.strip():
            raise ConfigError(
                f"{option}: empty symbol at position {pos} in {text!r}; "
                "expected pairs such as BTCTRY,ETHTRY"
            )
        try:
            sym = normalise_symbol(item)
        except InputError as exc:
            raise ConfigError(f"{option}: {exc}") from None
        if sym in out:
            raise ConfigError(f"{option}: symbol {sym} given twice in {text!r}")
        out.append(sym)
    return out


def parse_data_files(values: list[str], option: str = "--data") -> dict[str, Path]:
    """Repeated ``SYMBOL=FILE`` -> ``{symbol: path}`` in the order given.

    Symbols are kept as written (a file's ``GOOG`` is not an exchange pair); one
    given twice, ignoring case, is refused. The files are read later, by
    :func:`sparkbt.load_panel`, which names any that is missing or invalid.
    """
    out: dict[str, Path] = {}
    seen: dict[str, str] = {}
    for value in values:
        sym, sep, path = value.partition("=")
        sym, path = sym.strip(), path.strip()
        if not sep:
            raise ConfigError(
                f"{option} {value!r}: expected SYMBOL=FILE (e.g. {option} BTCTRY=btctry.csv)"
            )
        if not sym:
            raise ConfigError(f"{option} {value!r}: empty symbol before '='")
        if not path:
            raise ConfigError(f"{option} {value!r}: no file after '='")
        if sym.upper() in seen:
            raise ConfigError(
                f"{option}: symbol {sym} given twice ({seen[sym.upper()]!r} and {value!r})"
            )
        seen[sym.upper()] = value
        out[sym] = Path(path).expanduser()
    return out


def portfolio_source(
    data: list[str] | None, symbols: str | None, *, symbol_given: bool = False
) -> list[str] | dict[str, Path] | None:
    """What ``run`` reads for a portfolio: store symbols (``--symbols``), files
    (``--data SYMBOL=FILE``, repeatable), or None for one symbol (``--symbol``,
    a single ``--data FILE``).

    Refuses ``--symbols`` with ``--symbol`` or ``--data``, and ``--symbol`` or a
    plain FILE beside ``--data SYMBOL=FILE`` values (ConfigError, one line).
    """
    data = list(data or [])
    if symbols is not None:
        if symbol_given:
            raise ConfigError(
                "--symbols and --symbol: give one (--symbols A,B,C runs a portfolio of store "
                "symbols, --symbol one symbol)"
            )
        if data:
            raise ConfigError(
                "--symbols and --data: give the symbols one way, not both (--symbols reads the "
                "candle store, --data SYMBOL=FILE reads files)"
            )
        return parse_symbols(symbols)
    if not data or (len(data) == 1 and not _is_pair(data[0])):
        return None
    if symbol_given:
        raise ConfigError(
            "--symbol names the file of a single --data FILE; with --data SYMBOL=FILE "
            "each file is named by its SYMBOL"
        )
    return parse_data_files(data)


def _is_pair(value: str) -> bool:
    """``SYMBOL=FILE`` rather than a file whose name has an ``=`` in it."""
    sym, sep, _ = value.partition("=")
    if not sep or "/" in sym or "\\" in sym:
        return False
    return not Path(value).expanduser().exists()


def run_candles(
    data: list[str] | None,
    symbols: str | None,
    symbol: str,
    timeframe: str | None,
    data_dir: Path | None,
) -> Any:
    """One symbol's candles, or a panel for ``--symbols A,B`` / ``--data SYMBOL=FILE`` (repeated).

    One ``--data FILE`` without ``SYMBOL=`` is one symbol's file, as before.
    """
    request = portfolio_source(data, symbols)
    if request is not None:
        from sparkbt.data.panel_load import load_panel

        return load_panel(request, timeframe=timeframe, data_dir=data_dir)
    return candles_from_options(Path(data[0]) if data else None, symbol, timeframe, data_dir)
