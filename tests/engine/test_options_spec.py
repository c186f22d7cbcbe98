"""Each engine option is specified once; Config, the five commands, the service's OpenAPI
schema, the web form and docs/options.md are derived from the spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from sparkbt.adapters.cli import core as cli_core
from sparkbt.adapters.cli import guard_proposals, serve, sweeps
from sparkbt.adapters.cli.app import app as root_app
from sparkbt.adapters.cli.options import rederive
from sparkbt.adapters.web.forms import body_of_form, option_fields
from sparkbt.engine import options
from sparkbt.engine.option_spec import OptionSpec, number
from sparkbt.engine.options import Config, options_markdown

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = {
    "run": ("run",),
    "sweep": ("sweep",),
    "walk-forward": ("walk-forward",),
    "jobs start": ("jobs", "start"),
    "guard propose": ("guard", "propose"),
}


def _flags(command: Any) -> dict[str, str]:
    """Each option flag of a click command -> its help text."""
    return {o: p.help for p in command.params for o in getattr(p, "opts", ()) if o.startswith("--")}


def _root_command(path: tuple[str, ...]) -> Any:
    cmd = typer.main.get_command(root_app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def _openapi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from sparkbt.adapters.http.app import create_app
    from sparkbt.platform.settings import Settings

    monkeypatch.setenv("SPARKBT_ADMIN_TOKEN", "t" * 32)
    settings = Settings.from_env(
        evidence_dir=tmp_path, data_dir=tmp_path, db_path=tmp_path / "jobs.sqlite"
    )
    app = create_app(settings)
    try:
        return app.openapi()
    finally:
        app.state.service.close()


@pytest.mark.parametrize("command", COMMANDS)
def test_every_engine_option_is_a_flag_with_the_one_help_text(command: str) -> None:
    flags = _flags(_root_command(COMMANDS[command]))
    for spec in options.OPTIONS:
        assert flags.get(spec.flag) == spec.help, (command, spec.flag)


@pytest.mark.parametrize("command", ["sweep", "walk-forward"])
def test_sweep_commands_offer_the_sweep_options_that_are_flags(command: str) -> None:
    flags = _flags(_root_command(COMMANDS[command]))
    for spec in options.SWEEP_OPTION_SPECS:
        assert (flags.get(spec.flag) == spec.help) is spec.cli, spec.name


def test_every_engine_option_is_a_documented_field_of_the_start_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _openapi(tmp_path, monkeypatch)
    body = doc["paths"]["/api/backtest/start"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/StartRequest")
    schemas = doc["components"]["schemas"]
    assert schemas["StartRequest"]["properties"]["options"]["$ref"].endswith("/EngineOptions")
    fields = schemas["EngineOptions"]["properties"]
    assert list(fields) == [s.name for s in options.OPTIONS]
    for spec in options.OPTIONS:
        assert fields[spec.name]["description"] == spec.help
        assert fields[spec.name]["type"] == spec.json_type
    assert fields["direction"]["enum"] == ["long", "short", "both"]


def test_the_docs_table_is_generated_from_the_specs() -> None:
    assert (ROOT / "docs" / "options.md").read_text() == options_markdown(), (
        "regenerate: python -c 'from sparkbt.engine.options import options_markdown; "
        'open("docs/options.md", "w").write(options_markdown())\''
    )


def test_config_checks_every_option_with_its_spec() -> None:
    assert list(Config().to_dict()) == [s.name for s in options.OPTIONS if not s.omit_default]
    every = {
        s.name: 0.01 for s in options.OPTIONS if s.omit_default and s.kind in ("number", "rule")
    }
    assert list(Config(**every).to_dict()) == [
        s.name for s in options.OPTIONS if s.kind != "choice" or not s.omit_default
    ]
    assert Config(10_000, 0.001).fees == 0.001  # positional in spec order
    assert Config(fees=0.001) == Config(fees="0.001")
    assert Config(gates=["cooldown=3"]).replace(fees=0.002).gates == {"cooldown": 3}
    with pytest.raises(TypeError, match="unexpected option 'fee'"):
        Config(fee=0.1)
    with pytest.raises(AttributeError):
        Config().fees = 0.1  # type: ignore[misc]


def _leverage(value: Any) -> float | None:
    return None if value is None else number("max_leverage", value)


FAKE = OptionSpec(
    "max_leverage",
    "number",
    None,
    "Largest position, a multiple of equity (2 = twice the equity).",
    sweeps=True,
    check=_leverage,
)


@pytest.fixture
def fake_option(monkeypatch: pytest.MonkeyPatch) -> OptionSpec:
    monkeypatch.setattr(options, "OPTIONS", (*options.OPTIONS, FAKE))
    return FAKE


def _command(fn: Any) -> Any:
    """The typer command of a function rebuilt from the specs as they are now."""
    app = typer.Typer()
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        rederive(fn)
    )
    return typer.main.get_command(app)


def test_a_new_option_in_the_spec_reaches_every_entry_point(
    fake_option: OptionSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Config: a field, checked by the spec, in to_dict
    assert Config(max_leverage="2").max_leverage == 2.0
    assert Config().to_dict()["max_leverage"] is None
    # every command: a flag with the spec's help
    for fn in (
        cli_core.run,
        sweeps.sweep_cmd,
        sweeps.walk_forward_cmd,
        serve.jobs_start,
        guard_proposals.propose,
    ):
        assert _flags(_command(fn))["--max-leverage"] == fake_option.help, fn.__name__
    # the service's OpenAPI schema
    fields = _openapi(tmp_path, monkeypatch)["components"]["schemas"]["EngineOptions"]
    assert fields["properties"]["max_leverage"]["description"] == fake_option.help
    # the web form, and the body it posts
    field = next(f for f in option_fields() if f.name == "opt.max_leverage")
    assert (field.kind, field.help) == ("number", fake_option.help)
    assert body_of_form({"opt.max_leverage": "2"})["options"] == {"max_leverage": 2.0}


def test_a_client_command_sends_only_the_options_given(fake_option: OptionSpec) -> None:
    seen: dict[str, Any] = {}

    def start(ctx: typer.Context, options: Any = None) -> None:
        seen.update(options)

    from sparkbt.adapters.cli.options import engine_specs, with_options

    command = _command(with_options(engine_specs, client=True)(start))
    command.main(
        ["--max-leverage", "3", "--gate", "cooldown=2", "--sl-trail"], standalone_mode=False
    )
    assert seen == {"max_leverage": 3.0, "gates": {"cooldown": 2}, "sl_trail": True}


def test_the_readme_table_of_engine_options_is_the_generated_one() -> None:
    from sparkbt.engine.option_spec import markdown_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    begin = "<!-- engine-options: generated from sparkbt/engine/options.py -->\n"
    block = readme.split(begin, 1)[1].split("<!-- /engine-options -->", 1)[0]
    assert block == markdown_table(options.OPTIONS)
