"""The ``sparkbt`` command line: thin typer commands that parse and hand off.

User mistakes (any :class:`~sparkbt.errors.InputError`) print one line on
stderr and exit 2; nothing here computes anything itself.
"""

from __future__ import annotations

import importlib
import sys

import typer

from .errors import DependencyError, InputError

app = typer.Typer(
    name="sparkbt",
    help="Vectorized backtesting research toolkit: run, sweep, serve, fetch data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect, validate and fetch candle data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Command groups that live beside the module they drive. Each exposes
# ``register(app, data_app)`` and imports its heavy dependencies lazily.
_EXTENSIONS = ("sparkbt.cli_core", "sparkbt.feeds.cli", "sparkbt.service.cli", "sparkbt.sweep.cli")


def _register_extensions() -> None:
    for name in _EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # that part of sparkbt is not built in this checkout
            raise
        module.register(app, data_app)


_register_extensions()


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def main() -> None:
    """Console-script entry point: user errors exit 2 with one line, no traceback."""
    try:
        app(standalone_mode=False)
    except (InputError, DependencyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
