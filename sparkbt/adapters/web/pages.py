"""What every UI route shares: the page response, errors as pages, forms, reads and runs.

:class:`Pages` wraps one service: it renders a template inside the site's layout
with the signed-in user and a CSRF token, turns refusals into an error page
with the API's status code and one-line reason, and checks reads and actions
exactly as the API does (through :class:`~sparkbt.adapters.web.session.Session`).
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from sparkbt.adapters.web.session import CSRF_FIELD, Session
from sparkbt.adapters.web.web import render
from sparkbt.errors import Refusal, SparkbtError
from sparkbt.platform.auth import Principal
from sparkbt.platform.refusals import read_limited
from sparkbt.platform.service import Service

__all__ = ["Pages", "newest_json", "redirect"]


class Pages:
    """Rendering and checks for the UI of one service ``svc``."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.session = Session(svc.auth)

    # ---- responses
    def page(
        self,
        request: Request,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``template`` rendered with the layout's context (user, CSRF token, private flag)."""
        html = render(
            template,
            request=request,
            user=self.session.principal(request),
            csrf_field=CSRF_FIELD,
            csrf_token=self.session.csrf_token(request),
            private=bool(self.svc.settings.private),
            **context,
        )
        response = HTMLResponse(html, status_code=status, headers=headers)
        self.session.keep_nonce(request, response)
        return response

    def error_page(self, request: Request, status: int, detail: str) -> Response:
        """A refusal as a page (a signed-out GET that needs a user goes to the sign-in form)."""
        if status == 401 and request.method == "GET":
            return redirect(f"/ui/signin?next={request.url.path}")
        return self.page(request, "error.html", status=status, code=status, detail=detail)

    # ---- checks
    def read(self, request: Request) -> None:
        """A Refusal (unauthorized) unless the caller may read (always, unless private)."""
        if not self.session.may_read(request):
            raise Refusal(
                "this service is private: sign in with your API key to read it", "unauthorized"
            )

    def act(
        self, request: Request, form: dict[str, str], roles: Iterable[str] | None, action: str
    ) -> Principal:
        """The signed-in user allowed to ``action``, after the CSRF check (a Refusal otherwise)."""
        self.csrf(request, form)
        return self.session.require(request, roles, action)

    def csrf(self, request: Request, form: dict[str, str]) -> None:
        """A Refusal (forbidden) unless ``form`` carries this browser's CSRF token."""
        self.session.check_csrf(request, form)

    async def form(self, request: Request) -> dict[str, str]:
        """A url-encoded form body as a dict (last value wins); the service's body limit holds."""
        declared = request.headers.get("content-length")
        body = await read_limited(declared, request.stream(), self.svc.settings.max_body_bytes)
        try:
            pairs = urllib.parse.parse_qsl(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError:
            raise Refusal("form: expected UTF-8 text", "malformed") from None
        return dict(pairs)

    # ---- stored evidence
    @property
    def evidence_dir(self) -> Path:
        return Path(self.svc.settings.evidence_dir)

    def run(self, run_id: str) -> Any:
        """The stored backtest ``run_id`` (an id or unique prefix); a Refusal (not_found)
        otherwise."""
        return _read_run(str(self.evidence_dir), run_id)

    def candles_for(self, report: dict[str, Any]) -> Any:
        """The candles a stored run used, when the service's candle store (or sample) has them.

        The last few series read are kept, keyed by their file's modification time, so
        the reports of several runs on one market read its candles once.
        """
        from sparkbt.adapters.web.reportdata import CandleSource

        meta = report.get("metadata") or {}
        symbol, timeframe = str(meta.get("symbol") or ""), str(meta.get("timeframe") or "")
        if not symbol or not timeframe:
            return CandleSource(None, "the run does not name its symbol and timeframe")
        return self.candles_of(symbol, timeframe)

    def candles_of(self, symbol: str, timeframe: str) -> Any:
        """The candles of ``symbol`` at ``timeframe`` in the service's store (else the sample),
        or why there are none (a CandleSource)."""
        from sparkbt.data.store import CandleStore

        data_dir = str(self.svc.settings.data_dir or "")
        try:
            stat = CandleStore(data_dir or None).path(symbol, timeframe).stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except (OSError, SparkbtError):
            stamp = (0, 0)  # not in the store: the packaged sample, which never changes
        found = _candles(symbol, timeframe, data_dir, stamp)
        if found.note:  # the store's folder is the server's business, not the reader's
            return replace(found, note=self.svc.backtests.paths.text(found.note) or "")
        return found

    def portfolio_candles(self, report: dict[str, Any]) -> dict[str, Any]:
        """Each symbol's candles of a stored portfolio run, as :meth:`candles_of` finds them."""
        meta = report.get("metadata") or {}
        timeframe = str(meta.get("timeframe") or "")
        return {str(s): self.candles_of(str(s), timeframe) for s in meta.get("symbols") or []}


def newest_json(folder: Path, marker: str, limit: int) -> list[tuple[Path, dict[str, Any]]]:
    """The ``limit`` newest evidence folders in ``folder`` with their ``marker`` JSON file
    parsed (folders being written, or unreadable, are left out).

    An evidence folder never changes once it is in place (it is renamed in whole), so each
    file is parsed once: the runs list polls this every second while a job runs.
    """
    if not folder.is_dir():
        return []
    dirs = sorted(
        (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )[:limit]
    found = ((d, _parsed(str(d / marker))) for d in dirs)
    return [(d, data) for d, data in found if data is not None]


@functools.lru_cache(maxsize=4096)
def _parsed(path: str) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def redirect(url: str, request: Request | None = None) -> Response:
    """A 303 to ``url`` (htmx requests get an ``HX-Redirect`` instead)."""
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return Response(status_code=303, headers={"Location": url})


# a stored run of a million bars holds tens of MB of frames: keep only the last few
@functools.lru_cache(maxsize=4)
def _read_run(root: str, run_id: str) -> Any:
    from sparkbt.evidence import RunEvidence, read_evidence

    if not run_id or len(run_id) > 64 or not run_id.isalnum():
        raise Refusal(f"no run with id {run_id[:64]!r}", "not_found")
    try:
        found = read_evidence(run_id, root)
    except SparkbtError as exc:
        text = str(exc).splitlines()[0]
        # the evidence root is the server's business: a visitor is told only what is missing
        detail = text if "ambiguous" in text else f"no stored run with id {run_id!r}"
        raise Refusal(detail, "not_found") from None
    if not isinstance(found, RunEvidence):
        raise Refusal(f"{run_id} is a {found.kind}, not a backtest run", "not_found")
    return found


@functools.lru_cache(maxsize=8)
def _candles(symbol: str, timeframe: str, data_dir: str, stamp: tuple[int, int]) -> Any:
    from sparkbt.adapters.web.reportdata import CandleSource
    from sparkbt.data.store import resolve_candles

    try:
        return CandleSource(resolve_candles(symbol, timeframe, data_dir or None))
    except SparkbtError as exc:
        return CandleSource(None, f"no {symbol} {timeframe} candles in the store ({exc})"[:300])
