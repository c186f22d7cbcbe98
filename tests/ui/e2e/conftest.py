"""Browser tests of the web UI: a real ``sparkbt serve`` and the system Chromium.

Fixtures:

* ``server`` (module): a ``python -m sparkbt.adapters.cli.app serve`` subprocess on a free port
  with one
  worker, the admin token set, and one user of each role; ``server.keys[role]`` is that
  user's API key, ``server.evidence`` its evidence folder.
* ``browser`` (session): Playwright's Chromium at ``/usr/bin/chromium``. Without it the tests
  skip, except in CI (``CI`` set) where they fail.
* ``page`` (function): a fresh 1280x800 context and page. Console errors and warnings,
  uncaught page errors, failed requests and responses with a status of 400 or more are
  recorded, and the test fails at teardown if there were any (the ``watch`` fixture holds
  them: ``watch.allow(pattern)`` accepts the expected ones).

Helpers: :func:`signin`, :func:`shot` (screenshots at 1280x800 and 390x844 in
``tests/ui/e2e/artifacts/``), :func:`canvas_drawn` and :func:`wait_charts_drawn`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sparkbt.platform.users import ROLES, UserStore
from tests.adapters.http.conftest import TOKEN, Server, make_server

JOB_WAIT_MS = 90_000  # the first job of a fresh worker may compile the simulation kernel
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000
"""Default wait of every Playwright action and expectation (a loaded 2-core machine is slow)."""

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "TOKEN",
    "PageWatch",
    "UIServer",
    "canvas_drawn",
    "shot",
    "signin",
    "wait_charts_drawn",
]


@dataclass
class UIServer(Server):
    """A running ``sparkbt serve`` with one user per role (``keys[role]`` is the API key)."""

    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)

    @property
    def db_file(self) -> Path:
        return self.evidence / "service" / "jobs.sqlite"


def start_ui_server(root: Path, extra: tuple[str, ...] = ()) -> UIServer:
    """Start a one-worker engine server in ``root`` with a proposer, an approver and an admin."""
    base = make_server(root, impl="engine", workers=1, extra=extra)
    srv = UIServer(root=base.root, args=base.args, env=base.env)
    srv.db_file.parent.mkdir(parents=True, exist_ok=True)
    with UserStore(srv.db_file) as store:
        for role in ROLES:
            name = f"e2e-{role}"
            _user, key = store.add(name, role)
            srv.keys[role], srv.users[role] = key, name
    return srv.start(timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UIServer]:
    """One UI server per test module (its own evidence folder and users)."""
    srv = start_ui_server(tmp_path_factory.mktemp("ui-server"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium, headless, driven by Playwright's sync API."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests need {CHROMIUM} in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chrome
        finally:
            chrome.close()


@dataclass
class PageWatch:
    """Problems a page reported: console errors/warnings, page errors, failed requests."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)
    downloads: set[str] = field(default_factory=set)

    def allow(self, pattern: str) -> None:
        """Accept problems matching the regular expression ``pattern``.

        An expected error status shows twice (the response and Chromium's console line
        about it): ``watch.allow("404")`` accepts both.
        """
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("download", lambda d: self.downloads.add(d.url))

    def _console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            loc = msg.location or {}
            where = f" ({loc['url']}:{loc.get('lineNumber', 0)})" if loc.get("url") else ""
            self.problems.append(f"console {msg.type}: {msg.text}{where}")

    def _failed(self, request: Any) -> None:
        error = request.failure or ""
        # A download ends its navigation request, and leaving a page cancels the htmx
        # poll it had in flight: neither is a fault of the page.
        if "ERR_ABORTED" in error and (
            request.url in self.downloads or request.resource_type in ("xhr", "fetch")
        ):
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {error}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(
                f"HTTP {response.status}: {response.request.method} {response.url}"
            )


@pytest.fixture
def watch() -> PageWatch:
    """What the ``page`` fixture's page reported (call ``watch.allow`` for expected errors)."""
    return PageWatch()


@pytest.fixture
def page(browser: Any, watch: PageWatch) -> Iterator[Any]:
    """A fresh 1280x800 page (en-US, UTC) that must finish the test without any reported problem."""
    context = browser.new_context(
        viewport=DESKTOP, accept_downloads=True, locale="en-US", timezone_id="UTC"
    )
    context.set_default_timeout(WAIT_MS)
    pg = context.new_page()
    watch.attach(pg)
    yield pg
    context.close()
    bad = watch.unexpected()
    assert not bad, "the page reported problems:\n" + "\n".join(bad)


def signin(page: Any, server: UIServer, role: str, next_path: str = "/ui/runs") -> None:
    """Sign in as the ``role`` user through the form at /ui/signin; land on ``next_path``."""
    page.goto(f"{server.url}/ui/signin?next={next_path}")
    page.fill("#key", server.keys[role])
    with page.expect_navigation():
        page.click("form.stack button[type=submit]")
    assert page.url.endswith(next_path), f"signed in as {role} but landed on {page.url}"
    assert server.users[role] in page.inner_text("header.top .who")


def _settle(page: Any) -> None:
    """Scrolled to the top (sticky headers in place), then two animation frames: resize
    observers and chart redraws have run."""
    page.evaluate(
        "() => { window.scrollTo(0, 0);"
        " return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); }"
    )


def shot(page: Any, name: str) -> tuple[Path, Path]:
    """Full-page screenshots ``<name>.png`` (1280x800) and ``<name>-phone.png`` (390x844)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    desk, phone = ARTIFACTS / f"{name}.png", ARTIFACTS / f"{name}-phone.png"
    before = page.viewport_size or DESKTOP
    page.set_viewport_size(DESKTOP)
    _settle(page)
    page.screenshot(path=str(desk), full_page=True)
    page.set_viewport_size(PHONE)
    _settle(page)
    page.screenshot(path=str(phone), full_page=True)
    page.set_viewport_size(before)
    _settle(page)
    return desk, phone


CANVAS_DRAWN_JS = """
(sel) => {
  const box = document.querySelector(sel);
  if (!box) return false;
  for (const c of box.querySelectorAll("canvas")) {
    if (!c.width || !c.height) continue;
    const ctx = c.getContext("2d");
    if (!ctx) continue;
    const px = ctx.getImageData(0, 0, c.width, c.height).data;
    // drawn: some pixel differs from the first one (a blank or uniformly filled canvas is not)
    for (let i = 4; i < px.length; i += 4) {
      if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2] || px[i + 3] !== px[3])
        return true;
    }
  }
  return false;
}
"""
"""JS: whether any canvas inside the element ``sel`` holds more than one colour."""


def canvas_drawn(page: Any, selector: str) -> bool:
    """Whether the chart container ``selector`` holds a canvas with something drawn on it."""
    return bool(page.evaluate(CANVAS_DRAWN_JS, selector))


def wait_charts_drawn(page: Any, selectors: list[str], timeout_ms: int = WAIT_MS) -> None:
    """Wait until every chart container in ``selectors`` holds a drawn canvas."""
    js = f"(sels) => sels.every(s => ({CANVAS_DRAWN_JS})(s))"
    page.wait_for_function(js, arg=selectors, timeout=timeout_ms)
