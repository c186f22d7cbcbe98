"""Sign-in and sign-out: a server-side session held by an HttpOnly, SameSite=Strict cookie.

::

    GET  /ui/signin     the form (one password field for the key)
    POST /ui/signin     check the key against the user table, open a session, go to ``next``
    POST /ui/signout    end the session
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from sparkbt.adapters.web.pages import Pages, redirect

__all__ = ["router"]


def _safe_next(target: str) -> str:
    """Only paths of this UI: never another site (``//host``) or a scheme."""
    if target.startswith("/ui") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/runs"


def router(pages: Pages) -> APIRouter:
    r = APIRouter(prefix="/ui")

    @r.get("/signin", response_class=HTMLResponse, include_in_schema=False)
    async def signin_form(request: Request, next: str = "/ui/runs") -> HTMLResponse:
        return pages.page(request, "signin.html", next=_safe_next(next), error="")

    @r.post("/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        form = await pages.form(request)
        pages.csrf(request, form)
        target = _safe_next(form.get("next", "/ui/runs"))
        response = redirect(target)
        if pages.session.sign_in(request, response, form.get("key", "")) is None:
            return pages.page(
                request,
                "signin.html",
                status=401,
                next=target,
                error="that key is not valid (unknown or revoked): check it and try again",
            )
        return response

    @r.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        form = await pages.form(request)
        pages.csrf(request, form)
        response = redirect("/ui/runs")
        pages.session.sign_out(request, response)
        return response

    return r
