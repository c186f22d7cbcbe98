"""The ``sparkbt`` command line: thin typer commands that parse and hand off.

User mistakes (any :class:`~sparkbt.errors.InputError`) print one line on
stderr and exit 2; nothing here computes anything itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:  # the click typer vendors: the context type TyperGroup.invoke declares
    from typer._click.core import Context as ClickContext

from sparkbt.errors import DependencyError, InputError


class _Group(TyperGroup):
    """Root group: a user mistake anywhere below becomes one stderr line and exit 2."""

    def invoke(self, ctx: ClickContext) -> Any:
        try:
            return super().invoke(ctx)
        except (InputError, DependencyError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    cls=_Group,
    name="sparkbt",
    help="Vectorized backtesting research toolkit: run, sweep, serve, fetch data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)


def _print_version(value: bool) -> None:
    if value:
        from sparkbt.version import ENGINE_VERSION, __version__

        typer.echo(f"sparkbt {__version__} (engine {ENGINE_VERSION})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the sparkbt and engine versions and exit.",
    ),
) -> None:
    pass


data_app = typer.Typer(help="Inspect, validate and fetch candle data.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# Command groups that live beside the module they drive. Each exposes
# ``register(app, data_app)`` and imports its heavy dependencies lazily.
_EXTENSIONS = (
    "sparkbt.adapters.cli.core",
    "sparkbt.adapters.cli.show",
    "sparkbt.adapters.cli.feeds",
    "sparkbt.adapters.cli.guard",
    "sparkbt.adapters.cli.users",
    "sparkbt.adapters.cli.serve",
    "sparkbt.adapters.cli.sweeps",
    "sparkbt.adapters.cli.report",
    "sparkbt.adapters.cli.verify",
    "sparkbt.adapters.cli.paper",
)


def _register_extensions() -> None:
    for name in _EXTENSIONS:  # every group imports its optional dependencies lazily
        importlib.import_module(name).register(app, data_app)


_register_extensions()


def fail(message: str) -> typer.Exit:
    """Print one line on stderr and return the exit-2 exception to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
