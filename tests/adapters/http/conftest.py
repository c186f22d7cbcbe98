"""Start the real service (``python -m sparkbt.adapters.cli.app serve``) on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sparkbt.adapters.http.app import create_app
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore

TOKEN = "test-admin-token-7f3a9c-5e1d08"
FINAL = ("done", "failed")
SERVE = [sys.executable, "-m", "sparkbt.adapters.cli.app", "serve"]
"""The command that starts the service, as the tests run it (options follow)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_exited(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until each process has exited (a zombie counts: it ran its last line)."""
    deadline = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        time.sleep(0.02)
    return alive


@dataclass
class Server:
    """One running ``sparkbt serve`` subprocess and the folders it owns."""

    root: Path
    args: list[str]
    env: dict[str, str]
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    workers: list[int] = field(default_factory=list)
    _log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def evidence(self) -> Path:
        return self.root / "evidence"

    @property
    def log_text(self) -> str:
        path = self.root / "server.log"
        return path.read_text() if path.exists() else ""

    def start(self, timeout: float = 30.0) -> Server:
        self.port = free_port()
        self._log = open(self.root / "server.log", "ab")  # noqa: SIM115 - closed in _reap()
        self.proc = subprocess.Popen(
            [*SERVE, "--port", str(self.port), *self.args],
            cwd=self.root,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap()
                raise RuntimeError(f"server exited early:\n{self.log_text}")
            with contextlib.suppress(httpx.HTTPError):
                health = httpx.get(f"{self.url}/healthz", timeout=1.0).json()
                if health["ready"] == health["workers"] > 0:
                    self.workers = list(health["worker_pids"])
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout} s:\n{self.log_text}")

    def _children(self) -> list[psutil.Process]:
        assert self.proc is not None
        with contextlib.suppress(psutil.NoSuchProcess):
            return psutil.Process(self.proc.pid).children(recursive=True)
        return []

    def kill9(self) -> list[psutil.Process]:
        """SIGKILL the server only (not its workers); return the workers it leaves behind."""
        assert self.proc is not None
        children = self._children()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reap()
        return children

    def stop(self) -> None:
        if self.proc is None:
            return
        children = self._children()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for p in wait_exited(children, timeout=5):
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        self._reap()

    def _reap(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    # ---- HTTP helpers
    def post(self, body: Any = None, *, token: str | None = TOKEN, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["x-admin-token"] = token
        if body is not None:
            kw["json"] = body
        return httpx.post(f"{self.url}/api/backtest/start", headers=headers, timeout=10, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kw)

    def start_job(self, **body: Any) -> str:
        resp = self.post(body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "queued"
        return str(resp.json()["id"])

    def wait(self, job_id: str, timeout: float = 30.0, until: tuple[str, ...] = FINAL) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(f"/api/backtest/{job_id}").json()
            if job["status"] in until:
                return dict(job)
            assert time.monotonic() < deadline, f"job {job_id} stuck in {job['status']}"
            time.sleep(0.05)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample as {(name, sorted labels): value}."""
        text = self.get("/metrics").text
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text)
            for s in fam.samples
        }

    def jobs(self, **params: Any) -> list[dict]:
        return list(self.get("/api/backtest", params=params).json()["jobs"])


def make_server(
    root: Path,
    *,
    impl: str = "engine",
    workers: int = 1,
    mock_seconds: float = 0.2,
    extra: tuple[str, ...] = (),
) -> Server:
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARKBT_", "BACKTEST_"))}
    env |= {
        "SPARKBT_ADMIN_TOKEN": TOKEN,
        "BACKTEST_IMPL": impl,
        "SPARKBT_MOCK_SECONDS": str(mock_seconds),
    }
    args = [
        "--workers",
        str(workers),
        "--evidence-dir",
        str(root / "evidence"),
        "--data-dir",
        str(root / "data"),
        *extra,
    ]
    return Server(root=root, args=args, env=env)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``launch(name, **make_server kwargs)`` starts a server stopped at teardown."""
    started: list[Server] = []

    def _launch(name: str = "srv", **kw: Any) -> Server:
        srv = make_server(tmp_path / name, **kw)
        started.append(srv)
        return srv.start()

    yield _launch
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module")
def engine_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One engine-backed server with two workers, shared by a test module."""
    srv = make_server(tmp_path_factory.mktemp("engine"), impl="engine", workers=2)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def proposer_client(tmp_path: Path) -> Iterator[TestClient]:
    """An in-process mock service whose client speaks as user ``proposer-1`` (a proposer)."""
    settings = Settings(admin_token=TOKEN, workers=1, evidence_dir=tmp_path, impl="mock")
    with UserStore(settings.db_file) as users:
        key = users.add("proposer-1", "proposer")[1]
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        c.headers["authorization"] = f"Bearer {key}"
        yield c
