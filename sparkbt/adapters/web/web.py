"""Page rendering shared by every UI page: the Jinja2 environment and the assets.

A page is rendered either *served* (scripts and styles linked from
``/ui/static/``) or *standalone* (every script, style and byte of data inlined,
so one file opens offline). Templates call ``css(name)`` and ``js(name)`` and
never know which.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from markupsafe import Markup

__all__ = ["STATIC_DIR", "TEMPLATE_DIR", "environment", "render", "to_json"]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
STATIC_URL = "/ui/static"


@functools.cache
def _asset(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def to_json(value: Any) -> Markup:
    """JSON safe inside a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _heat(value: float | None, scale: float) -> str:
    """Background of a heatmap cell: green up, red down, stronger with size."""
    if value is None or not scale or value == 0:
        return "background: transparent"
    a = min(abs(value) / scale, 1.0) * 0.75 + 0.08
    rgb = "46,158,91" if value >= 0 else "209,67,75"
    return f"background: rgba({rgb},{a:.2f})"


@functools.cache
def environment() -> Any:
    """The Jinja2 environment (autoescaping on; ``jinja2`` is imported only here)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["json"] = to_json
    env.filters["pct"] = lambda v, d=2: "—" if v is None else f"{v * 100:,.{d}f}%"
    env.filters["heat"] = _heat
    env.filters["num"] = lambda v, d=2: "—" if v is None else f"{v:,.{d}f}"
    return env


def render(name: str, standalone: bool = False, **context: Any) -> str:
    """Render template ``name``; ``standalone`` inlines every asset."""

    def css(asset: str) -> Markup:
        if standalone:
            return Markup("<style>") + Markup(_asset(asset)) + Markup("</style>")
        return Markup(f'<link rel="stylesheet" href="{STATIC_URL}/{asset}">')

    def js(asset: str) -> Markup:
        if standalone:
            body = _asset(asset).replace("</script", "<\\/script")
            return Markup("<script>") + Markup(body) + Markup("</script>")
        return Markup(f'<script src="{STATIC_URL}/{asset}" defer></script>')

    return environment().get_template(name).render(css=css, js=js, standalone=standalone, **context)
