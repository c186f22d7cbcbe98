"""The web UI of ``sparkbt serve``, under ``/ui``: :func:`install` adds it to the service's app.

Pages are rendered on the server (Jinja2) and made live with htmx; charts are
drawn in the browser by the vendored uPlot and lightweight-charts
(``static/vendor``), so the UI needs no network beyond the service itself.
Reads follow the API's rule (open unless the service is private); every action
needs a signed-in user whose role the API would accept, and a CSRF token.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from sparkbt.adapters.web.pages import Pages, redirect
from sparkbt.adapters.web.web import STATIC_DIR
from sparkbt.platform.service import Service

__all__ = ["install"]


def install(app: FastAPI, svc: Service) -> Callable[[Request, int, str], Response]:
    """Add the UI routes and its static files to ``app``; return how the UI answers a
    refusal (its error page), which the app's refusal handler uses under ``/ui``."""
    from sparkbt.adapters.web import compare, guard, paper, runs, signin, sweeps

    pages = Pages(svc)
    # compile the report page now, not on the first request for a report
    from sparkbt.adapters.web.web import environment

    environment().get_template("report.html")

    app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")
    for module in (runs, signin, compare, sweeps, guard, paper):
        app.include_router(module.router(pages))

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response((STATIC_DIR / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> Response:
        return redirect("/ui/runs")

    return pages.error_page
