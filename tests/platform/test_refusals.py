"""One refusal type, one status table, one SQLite set-up, and imports that point one way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sparkbt.adapters.http.app import create_app
from sparkbt.errors import REFUSAL_KINDS, Conflict, Forbidden, InputError, NotFound, Refusal
from sparkbt.platform.db import BUSY_TIMEOUT_S
from sparkbt.platform.jobs import JobStore
from sparkbt.platform.proposals import GuardStore
from sparkbt.platform.refusals import HTTP_STATUS, json_object, status_of
from sparkbt.platform.settings import Settings
from sparkbt.platform.users import UserStore

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_has_one_status() -> None:
    assert HTTP_STATUS == {
        "invalid": 422,
        "malformed": 400,
        "unauthorized": 401,
        "forbidden": 403,
        "not_found": 404,
        "conflict": 409,
        "too_large": 413,
        "too_many": 429,
    }
    assert set(HTTP_STATUS) == set(REFUSAL_KINDS)
    assert [status_of(e("x")) for e in (Forbidden, Conflict, NotFound)] == [403, 409, 404]
    assert status_of(InputError("bad")) == 422 and status_of(RuntimeError()) == 500
    with pytest.raises(ValueError, match="kind: expected one of"):
        Refusal("x", "teapot")


def test_the_app_answers_each_kind_with_its_status_and_line(tmp_path: Path) -> None:
    app = create_app(Settings(admin_token="t" * 32, workers=1, evidence_dir=tmp_path, impl="mock"))
    lines = {kind: f"refused as {kind}" for kind in REFUSAL_KINDS}

    for kind, line in lines.items():

        def route(kind: str = kind, line: str = line) -> None:
            raise Refusal(line, kind)

        app.add_api_route(f"/test/{kind}", route)
    with TestClient(app) as client:
        for kind, line in lines.items():
            r = client.get(f"/test/{kind}")
            assert (r.status_code, r.json()) == (HTTP_STATUS[kind], {"detail": line})
            # a 429 says when to come back; no other answer carries Retry-After
            assert r.headers.get("retry-after") == ("10" if kind == "too_many" else None)
        # the same refusals under /ui are the UI's error page, with the same status
        r = client.get("/ui/runs/nothing0000")
        assert r.status_code == 404 and "text/html" in r.headers["content-type"]
        assert client.get("/api/backtest/nothing").json() == {"detail": "no job with id 'nothing'"}


@pytest.mark.parametrize("body", [b"[1]", b"{", b'{"a": NaN}'])
def test_one_json_parser_refuses_what_is_not_an_object(body: bytes) -> None:
    with pytest.raises(Refusal) as err:
        json_object(body)
    assert err.value.kind == "invalid" and "\n" not in err.value.detail
    assert json_object(b"  ") == {} and json_object(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("store", [JobStore, GuardStore, UserStore])
def test_every_store_opens_sqlite_alike(tmp_path: Path, store: type) -> None:
    with_db = store(tmp_path / "service" / "jobs.sqlite")
    try:
        db = with_db._db
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= BUSY_TIMEOUT_S * 1000
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    finally:
        with_db.close()


def test_imports_point_one_way() -> None:
    """adapters -> platform -> research -> engine -> data | evidence, and the adapters
    do not import each other (pyproject.toml's import-linter contracts)."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    if exe is None:
        pytest.skip("import-linter is not installed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's sparkbt, not another
    done = subprocess.run([exe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]
