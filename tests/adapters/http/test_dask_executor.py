"""`sparkbt serve --executor dask`: jobs run on a real Dask cluster, SQLite stays the record.

The cluster is real ``dask scheduler`` / ``dask worker`` processes on loopback;
the service is the real ``sparkbt serve`` subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from sparkbt.errors import ConfigError
from sparkbt.platform.settings import Settings
from tests.dask_cluster import ClusterError, dask_cluster

from .conftest import Server, make_server

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

BODY = {
    "pair": "ETHUSDT",
    "timeframe": "4h",
    "strategy": "sma_cross",
    "params": {"fast": 8, "slow": 34},
}


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with dask_cluster(tmp_path_factory.mktemp("cluster"), nworkers=2) as address:
            yield address
    except ClusterError as exc:
        pytest.fail(str(exc))


def _serve(root: Path, scheduler: str, **kw: object) -> Server:
    extra = ("--executor", "dask", "--scheduler", scheduler)
    return make_server(root, extra=extra, **kw).start()  # type: ignore[arg-type]


def _files(folder: Path) -> dict[str, object]:
    """Every file's bytes; report.json as JSON without its timing (when and how fast it ran)."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        if p.name == "report.json":
            out[p.name] = {k: v for k, v in json.loads(p.read_text()).items() if k != "timing"}
        elif p.is_file():
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


def test_a_job_on_dask_writes_the_evidence_of_a_local_run(scheduler: str, tmp_path: Path) -> None:
    remote = _serve(tmp_path / "dask", scheduler)
    local = make_server(tmp_path / "local", workers=1).start()
    try:
        health = remote.get("/healthz").json()
        assert health["workers"] == health["ready"] == 2
        done = [srv.wait(srv.start_job(**BODY), timeout=90) for srv in (remote, local)]
    finally:
        remote.stop()
        local.stop()
    assert [j["status"] for j in done] == ["done", "done"], done
    assert done[0]["run_id"] == done[1]["run_id"]
    run = done[0]["run_id"]
    on_dask = _files(remote.evidence / "backtest" / run)
    assert on_dask and on_dask == _files(local.evidence / "backtest" / run)


def _worker_running(scheduler: str, timeout: float = 30.0) -> int:
    """The pid of the Dask worker process that is running a task."""
    with distributed.Client(scheduler, timeout="10s", set_as_default=False) as client:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                return int(client.run(os.getpid, workers=busy[:1])[busy[0]])
            time.sleep(0.05)
    raise AssertionError("no Dask worker started the job")


def test_a_dask_worker_killed_mid_job_leads_to_a_retry(scheduler: str, tmp_path: Path) -> None:
    srv = _serve(tmp_path / "srv", scheduler, impl="mock", mock_seconds=3.0)
    try:
        job_id = srv.start_job(**BODY)
        pid = _worker_running(scheduler)
        assert psutil.Process(pid).is_running()
        os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; the task runs again
        job = srv.wait(job_id, timeout=90)
    finally:
        srv.stop()
    assert job["status"] == "done", job
    assert job["attempts"] == 1  # one claim from the record; Dask did the retry


def test_dask_needs_a_reachable_scheduler(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a scheduler address"):
        Settings(admin_token="t", evidence_dir=tmp_path, executor="dask")
    with pytest.raises(ConfigError, match="executor: expected one of local, dask"):
        Settings(admin_token="t", evidence_dir=tmp_path, executor="ray")
    from sparkbt.adapters.http.app import create_app

    settings = Settings(
        admin_token="t", evidence_dir=tmp_path, executor="dask", scheduler="tcp://127.0.0.1:9"
    )
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        create_app(settings)


def test_a_job_survives_a_kill_9_of_the_service(scheduler: str, tmp_path: Path) -> None:
    srv = _serve(tmp_path / "srv", scheduler, impl="mock", mock_seconds=2.0)
    try:
        job_id = srv.start_job(**BODY)
        srv.wait(job_id, until=("running",))
        srv.kill9()
        srv.start()  # the same database: the interrupted job is queued again and rerun
        job = srv.wait(job_id, timeout=90)
    finally:
        srv.stop()
    assert job["status"] == "done", job
    assert job["attempts"] == 2
