"""Packaging: every package folder is installed, built-ins under sparkbt's namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_and_strategies_install_inside_sparkbt():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "sparkbt").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert set(config["packages"]) == found | {"sparkbt.strategies"}
    assert config["package-dir"] == {"sparkbt.strategies": "strategies"}
    assert not any(p == "strategies" or p.startswith("strategies.") for p in config["packages"])


def test_every_ui_template_and_static_file_is_package_data():
    """The web UI's templates, scripts, styles and vendored libraries ship in the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = config["package-data"]["sparkbt.adapters.web"]
    ui = ROOT / "sparkbt" / "adapters" / "web"
    shipped = {p for g in globs for p in ui.glob(g) if p.is_file()}
    files = {
        p
        for folder in ("templates", "static")
        for p in (ui / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files and files <= shipped, sorted(str(p.relative_to(ui)) for p in files - shipped)
