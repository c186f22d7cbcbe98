"""Users with API keys and roles: the SQLite store, authentication and ``sparkbt users``."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sparkbt.adapters.cli.app import _Group
from sparkbt.adapters.cli.users import db_file, register
from sparkbt.errors import ConfigError, InputError
from sparkbt.platform.users import KEY_PREFIX, ROLES, User, UserStore, hash_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ev" / "service" / "jobs.sqlite"


@pytest.fixture
def store(db: Path):
    with UserStore(db) as s:
        yield s


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer(cls=_Group)  # the root group's handling of InputError (exit 2)
    register(root, typer.Typer())
    return root


def invoke(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["users", *args])


# --- the store ---------------------------------------------------------------------------


def test_add_returns_a_prefixed_random_key_once(store: UserStore) -> None:
    user, key = store.add("alice", "approver")
    assert isinstance(user, User)
    assert (user.name, user.role, user.revoked_at, user.active) == ("alice", "approver", None, True)
    assert key.startswith(KEY_PREFIX)
    assert len(key) == len(KEY_PREFIX) + 43  # token_urlsafe(32): 256 bits
    _, other = store.add("bob", "proposer")
    assert other != key


def test_authenticate(store: UserStore) -> None:
    keys = {role: store.add(f"u-{role}", role)[1] for role in ROLES}
    for role, key in keys.items():
        user = store.authenticate(key)
        assert user is not None and (user.name, user.role) == (f"u-{role}", role)
    key = keys["admin"]
    for bad in ("", key[:-1], key + "x", key.upper(), KEY_PREFIX, "\udc80", None, 42):
        assert store.authenticate(bad) is None  # type: ignore[arg-type]


def test_list_has_no_key_or_hash(store: UserStore) -> None:
    store.add("alice", "admin")
    store.add("bob", "proposer")
    users = store.list()
    assert [(u.name, u.role) for u in users] == [("alice", "admin"), ("bob", "proposer")]
    public = users[0].public()
    assert set(public) == {"name", "role", "created_at", "revoked_at"}
    assert public["created_at"].endswith("Z") and public["revoked_at"] is None
    assert not hasattr(users[0], "key_hash")


def test_revoked_keys_fail(store: UserStore) -> None:
    _, key = store.add("alice", "admin")
    _, kept = store.add("bob", "approver")
    revoked = store.revoke("alice")
    assert revoked.revoked_at is not None and not revoked.active
    assert store.authenticate(key) is None
    assert store.authenticate(kept).name == "bob"  # type: ignore[union-attr]
    assert store.get("alice") is None
    assert [u.name for u in store.list(include_revoked=False)] == ["bob"]
    assert store.list()[0].public()["revoked_at"].endswith("Z")
    with pytest.raises(ConfigError, match="active user.*'alice'"):
        store.revoke("alice")  # already revoked
    # the name is free again, with a new key; the old key stays dead
    user, new_key = store.add("alice", "proposer")
    assert store.authenticate(new_key) == user
    assert store.authenticate(key) is None


def test_revoke_unknown_user(store: UserStore) -> None:
    with pytest.raises(
        ConfigError, match=r"^name: expected the name of an active user \(got 'zed'\)"
    ):
        store.revoke("zed")


def test_duplicate_active_name(store: UserStore) -> None:
    _, key = store.add("alice", "admin")
    with pytest.raises(ConfigError, match="^name: .*'alice' is taken") as err:
        store.add("alice", "proposer")
    assert "\n" not in str(err.value)
    assert store.authenticate(key).role == "admin"  # type: ignore[union-attr]
    assert len(store.list()) == 1


@pytest.mark.parametrize(
    ("role", "hint"),
    [("aprover", "did you mean 'approver'"), ("Admin", "did you mean 'admin'"), ("root", "")],
)
def test_bad_role(store: UserStore, role: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        store.add("alice", role)
    msg = str(err.value)
    assert msg.startswith("role: expected one of proposer, approver, admin")
    assert hint in msg and ("did you mean" in msg) == bool(hint)
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)
    assert store.list() == []


@pytest.mark.parametrize(
    "name", ["", "Alice", "a b", "a/b", "x" * 65, "alice\n", "ünï", "a;drop table users"]
)
def test_bad_name(store: UserStore, name: str) -> None:
    with pytest.raises(ConfigError, match="^name: expected 1-64 characters"):
        store.add(name, "admin")
    assert store.list() == []


@pytest.mark.parametrize("name", ["a", "x" * 64, "alice.b-c_9", "0", "..."])
def test_good_names(store: UserStore, name: str) -> None:
    assert store.add(name, "proposer")[0].name == name


def test_the_key_is_never_stored(tmp_path: Path, db: Path) -> None:
    with UserStore(db) as store:
        user_keys = [store.add(f"user{i}", ROLES[i % 3])[1] for i in range(5)]
        files = lambda: [p.read_bytes() for p in db.parent.iterdir()]  # noqa: E731
        on_disk = files()  # with the WAL still open
    on_disk += files()  # after the checkpoint at close
    raw = b"".join(on_disk)
    for key in user_keys:
        assert key.encode() not in raw
        assert key[len(KEY_PREFIX) :].encode() not in raw
        assert hash_key(key).encode() in raw  # what is stored instead
    with sqlite3.connect(db) as conn:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(users)")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert "key" not in cols and "key_hash" in cols


def test_shares_the_job_database(db: Path) -> None:
    from sparkbt.platform.jobs import JobStore

    jobs = JobStore(db)
    job = jobs.create({"strategy": "sma_cross"}, "mock")
    with UserStore(db) as store:
        _, key = store.add("alice", "admin")
    assert jobs.get(job.id) == job
    jobs.close()
    with UserStore(db) as again:  # reopening an existing table
        assert again.authenticate(key).name == "alice"  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "users"} <= tables


_WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from sparkbt.errors import ConfigError
    from sparkbt.platform.users import UserStore

    db, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = UserStore(db)
    Path(db + "." + tag + ".ready").touch()
    while len(list(Path(db).parent.glob("*.ready"))) < 2:  # start together
        time.sleep(0.005)
    keys, shared = {}, []
    for i in range(n):
        _, keys[f"{tag}-{i}"] = store.add(f"{tag}-{i}", "proposer")
        try:
            shared.append(store.add(f"shared-{i}", "approver")[1])
        except ConfigError:
            pass
    store.close()
    print(json.dumps({"keys": keys, "shared": shared}))
    """
)


def test_concurrent_adds_from_two_processes(db: Path) -> None:
    n = 150
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db), tag, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("p", "q")
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(json.loads(out))
    with UserStore(db) as store:
        users = store.list()
        names = [u.name for u in users]
        assert len(names) == len(set(names)) == 3 * n  # p-*, q-* and one of each shared-*
        assert sum(len(o["shared"]) for o in outs) == n  # each shared name won exactly once
        for o in outs:
            for name, key in o["keys"].items():
                assert store.authenticate(key).name == name  # type: ignore[union-attr]
            for key in o["shared"]:
                assert store.authenticate(key).name.startswith("shared-")  # type: ignore[union-attr]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- the CLI -----------------------------------------------------------------------------


def test_cli_add_json_prints_exactly_name_role_key(app, db: Path) -> None:
    res = invoke(app, "add", "alice", "--role", "approver", "--json", "--db", str(db))
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"name", "role", "key"}
    assert (out["name"], out["role"]) == ("alice", "approver")
    with UserStore(db) as store:
        assert store.authenticate(out["key"]).name == "alice"  # type: ignore[union-attr]


def test_cli_add_text_prints_the_key_alone_on_stdout(app, db: Path) -> None:
    res = CliRunner().invoke(app, ["users", "add", "bob", "-r", "admin", "--db", str(db)])
    assert res.exit_code == 0, res.output
    key = res.stdout.strip()
    assert key.startswith(KEY_PREFIX) and "\n" not in key
    assert "shown once" in res.stderr
    with UserStore(db) as store:
        assert store.authenticate(key).role == "admin"  # type: ignore[union-attr]


def test_cli_list_and_revoke(app, db: Path) -> None:
    keys = {}
    for name, role in (("alice", "admin"), ("bob", "proposer")):
        res = invoke(app, "add", name, "--role", role, "--json", "--db", str(db))
        keys[name] = json.loads(res.stdout)["key"]
    res = invoke(app, "list", "--db", str(db))
    assert res.exit_code == 0, res.output
    assert "alice" in res.stdout and "proposer" in res.stdout
    assert keys["alice"] not in res.stdout and hash_key(keys["alice"]) not in res.stdout

    res = invoke(app, "revoke", "alice", "--db", str(db))
    assert res.exit_code == 0, res.output
    assert "revoked" in res.stdout and "alice" in res.stdout
    res = invoke(app, "list", "--json", "--db", str(db))
    assert res.exit_code == 0, res.output
    listed = json.loads(res.stdout)
    assert [u["name"] for u in listed] == ["alice", "bob"]
    assert all(set(u) == {"name", "role", "created_at", "revoked_at"} for u in listed)
    assert listed[0]["revoked_at"] and listed[1]["revoked_at"] is None
    with UserStore(db) as store:
        assert store.authenticate(keys["alice"]) is None
        assert store.authenticate(keys["bob"]).name == "bob"  # type: ignore[union-attr]


def test_cli_list_of_no_database_creates_none(app, tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "jobs.sqlite"
    res = invoke(app, "list", "--json", "--db", str(db))
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == []
    assert invoke(app, "list", "--db", str(db)).exit_code == 0
    assert not db.parent.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "bob", "--role", "aprover"), "role: expected one of .*did you mean 'approver'"),
        (("add", "Bob!", "--role", "admin"), "name: expected 1-64 characters"),
        (("add", "alice", "--role", "admin"), "name: .*'alice' is taken"),
        (("revoke", "zed"), "name: expected the name of an active user .*'zed'"),
        (("revoke", "BAD NAME"), "name: expected 1-64 characters"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(app, db: Path, args, message) -> None:
    with UserStore(db) as store:
        store.add("alice", "admin")
    res = invoke(app, *args, "--db", str(db))
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert re.search(message, lines[0]), lines[0]
    assert res.stdout == ""


def test_cli_revoke_without_a_database_is_exit_2_and_creates_none(app, tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "jobs.sqlite"
    res = invoke(app, "revoke", "alice", "--db", str(db))
    assert res.exit_code == 2
    assert "active user" in res.stderr
    assert not db.parent.exists()


def test_cli_add_with_a_bad_role_creates_no_database(app, tmp_path: Path) -> None:
    db = tmp_path / "nowhere" / "jobs.sqlite"
    assert invoke(app, "add", "alice", "--role", "boss", "--db", str(db)).exit_code == 2
    assert not db.parent.exists()


# --- where the database is: the same file as `sparkbt serve` -------------------------------


def _serve_db_file(db: Path | None, evidence_dir: Path | None) -> Path:
    """The db path ``sparkbt serve`` hands the service, as its command builds Settings."""
    from sparkbt.evidence import default_evidence_dir
    from sparkbt.platform.settings import Settings

    return Settings.from_env(
        admin_token="t",
        db_path=db.resolve() if db else None,
        evidence_dir=(evidence_dir or default_evidence_dir()).resolve(),
    ).db_file


@pytest.mark.parametrize("where", ["flag", "env", "both", "default", "db"])
def test_db_path_follows_evidence_dir_like_serve(
    app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SPARKBT_EVIDENCE_DIR", raising=False)
    flag_dir, env_dir, db = Path("flag-ev"), tmp_path / "env-ev", Path("own.sqlite")
    args: list[str] = []
    if where in ("env", "both"):
        monkeypatch.setenv("SPARKBT_EVIDENCE_DIR", str(env_dir))
    if where in ("flag", "both", "db"):
        args += ["--evidence-dir", str(flag_dir)]
    if where == "db":
        args += ["--db", str(db)]
    own_db = db if where == "db" else None
    own_dir = flag_dir if "--evidence-dir" in args else None
    expected = _serve_db_file(own_db, own_dir)
    assert db_file(own_db, own_dir) == expected
    res = invoke(app, "add", "alice", "--role", "admin", "--json", *args)
    assert res.exit_code == 0, res.output
    assert expected.is_file()
    created = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.sqlite"))
    assert created == [expected.relative_to(tmp_path)]
    want = {
        "flag": "flag-ev/service/jobs.sqlite",
        "env": "env-ev/service/jobs.sqlite",
        "both": "flag-ev/service/jobs.sqlite",  # the option wins over the environment
        "default": "evidence/service/jobs.sqlite",
        "db": "own.sqlite",  # --db wins over both
    }[where]
    assert expected == (tmp_path / want).resolve()
    with UserStore(expected) as store:
        assert store.authenticate(json.loads(res.stdout)["key"]).name == "alice"  # type: ignore[union-attr]


def test_cli_needs_no_fastapi(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import json, sys
        for blocked in ("fastapi", "uvicorn", "httpx", "starlette"):
            sys.modules[blocked] = None  # importing any of them now fails
        import typer
        from typer.testing import CliRunner
        from sparkbt.adapters.cli.app import _Group
        from sparkbt.adapters.cli.users import register

        app = typer.Typer(cls=_Group)
        register(app, typer.Typer())
        res = CliRunner().invoke(app, ["users", "add", "alice", "--role", "admin", "--json"])
        assert res.exit_code == 0, res.output
        assert CliRunner().invoke(app, ["users", "list"]).exit_code == 0
        assert "sparkbt.adapters.http.app" not in sys.modules
        print(res.stdout)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARKBT_EVIDENCE_DIR": str(tmp_path / "ev")}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["name"] == "alice"
    assert (tmp_path / "ev" / "service" / "jobs.sqlite").is_file()
