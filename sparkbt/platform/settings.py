"""Service settings: one frozen object built by ``sparkbt serve`` and handed to ``create_app``.

Everything the service reads from the environment is read here, once, so the
app, the workers and the tests see the same values:

- ``SPARKBT_ADMIN_TOKEN``: the admin token (required, the service refuses to start without it);
- ``BACKTEST_IMPL``: ``engine`` (default) runs the real engine; ``mock`` runs no engine:
  a job sleeps, then finishes (for tests of the service itself);
- ``SPARKBT_MOCK_SECONDS``: how long a mock job sleeps (default 3.5);
- ``SPARKBT_PRIVATE``: ``1`` (or ``true``/``yes``/``on``) makes every API read need a
  valid key or the admin token, as ``sparkbt serve --private`` does;
- ``SPARKBT_MAX_QUEUE``, ``SPARKBT_MAX_QUEUED_PER_USER``: how many jobs may wait in the
  queue, in all and per user (``--max-queue``, ``--max-queued-per-user``).
- ``SPARKBT_ALLOWED_HOSTS``: the Host header values the service answers (comma-separated;
  default: the bind host, ``localhost``, ``127.0.0.1`` and ``::1``).
- ``SPARKBT_EXECUTOR``: ``local`` (default) runs jobs in local worker processes;
  ``dask`` runs them on the Dask scheduler ``SPARKBT_SCHEDULER`` (``tcp://host:8786``),
  as ``sparkbt serve --executor dask --scheduler ...`` does.
- ``SPARKBT_PAPER_FEED``: how paper sessions get their candles: ``live`` (default) checks
  their symbols against BTCTurk, fetches the warm-up and connects a live feed per session;
  ``store`` follows the candle store, which another process feeds (``sparkbt feed btcturk``);
- ``SPARKBT_PAPER_SETTLE``: seconds after a candle's close before a session following the
  store takes it as final (default 10; a negative value takes every stored candle at once);
- ``SPARKBT_PAPER_WARMUP``: warm-up bars a paper session sees before its first (default 1000).

The connection limits (``header_timeout``, ``keep_alive_timeout``, ``limit_concurrency``,
``max_header_bytes``) and ``forwarded_allow_ips`` are read by ``sparkbt serve`` (flags or
their ``SPARKBT_*`` environment variables) and applied by the HTTP server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sparkbt.errors import ConfigError
from sparkbt.evidence import default_evidence_dir

__all__ = [
    "EXECUTORS",
    "IMPLS",
    "MAX_BODY_BYTES",
    "MIN_ADMIN_TOKEN",
    "PAPER_FEEDS",
    "Settings",
    "parse_hosts",
]

IMPLS = ("engine", "mock")
EXECUTORS = ("local", "dask")
PAPER_FEEDS = ("live", "store")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_MOCK_SECONDS = 3.5
DEFAULT_JOB_TIMEOUT = 600.0
DEFAULT_MAX_QUEUE = 1000
DEFAULT_MAX_QUEUED_PER_USER = 50
MIN_ADMIN_TOKEN = 24
"""Shortest admin token ``sparkbt serve`` accepts (it is a password: keep it long and random)."""
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """How one service instance runs. Paths default to files under ``evidence_dir``."""

    admin_token: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 4010
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    job_timeout: float = DEFAULT_JOB_TIMEOUT
    evidence_dir: Path = field(default_factory=default_evidence_dir)
    data_dir: Path | None = None
    db_path: Path | None = None
    audit_log: Path | None = None
    impl: str = "engine"
    mock_seconds: float = DEFAULT_MOCK_SECONDS
    max_body_bytes: int = MAX_BODY_BYTES
    max_attempts: int = 3
    private: bool = False
    policy_file: Path | None = None
    approvals: int = 1  # approvals a guard proposal needs
    max_queue: int = DEFAULT_MAX_QUEUE  # queued jobs in all; more starts are refused (429)
    max_queued_per_user: int = DEFAULT_MAX_QUEUED_PER_USER  # queued jobs of one user
    # Host header values answered; None answers any (the default of a bare create_app)
    allowed_hosts: tuple[str, ...] | None = None
    forwarded_allow_ips: str | None = None  # proxies whose X-Forwarded-* headers are trusted
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers
    keep_alive_timeout: int = 5  # seconds an idle keep-alive connection is kept
    limit_concurrency: int = 1000  # open connections (and tasks) before new requests get 503
    max_header_bytes: int = 16 * 1024  # largest request head (request line and headers)
    executor: str = "local"  # where jobs run: local worker processes or a Dask cluster
    scheduler: str | None = None  # the Dask scheduler address (executor "dask")
    paper_feed: str = "live"  # where paper sessions get candles: a live feed, or the store
    paper_settle: float = 10.0  # seconds after a close before a stored candle is final
    paper_warmup: int = 1000  # warm-up bars of a paper session

    def __post_init__(self) -> None:
        if not self.admin_token or not self.admin_token.strip():
            raise ConfigError(
                "SPARKBT_ADMIN_TOKEN is not set: "
                "the service refuses to start without an admin token"
            )
        if self.impl not in IMPLS:
            raise ConfigError(
                f"BACKTEST_IMPL: expected one of {', '.join(IMPLS)} (got {self.impl!r})"
            )
        if self.executor not in EXECUTORS:
            raise ConfigError(
                f"executor: expected one of {', '.join(EXECUTORS)} (got {self.executor!r})"
            )
        if self.executor == "dask" and not (self.scheduler or "").strip():
            raise ConfigError(
                "executor 'dask' needs a scheduler address (--scheduler tcp://host:8786)"
            )
        if self.paper_feed not in PAPER_FEEDS:
            raise ConfigError(
                f"SPARKBT_PAPER_FEED: expected one of {', '.join(PAPER_FEEDS)} "
                f"(got {self.paper_feed!r})"
            )
        if self.paper_warmup < 0:
            raise ConfigError(f"SPARKBT_PAPER_WARMUP: must be >= 0 (got {self.paper_warmup})")
        if self.workers < 1:
            raise ConfigError(f"workers: must be >= 1 (got {self.workers})")
        if not self.job_timeout > 0:
            raise ConfigError(f"job timeout: must be > 0 seconds (got {self.job_timeout})")
        if not self.mock_seconds >= 0:
            raise ConfigError(f"SPARKBT_MOCK_SECONDS: must be >= 0 (got {self.mock_seconds})")
        if self.max_attempts < 1:
            raise ConfigError(f"max attempts: must be >= 1 (got {self.max_attempts})")
        if self.approvals < 1:
            raise ConfigError(f"approvals: must be >= 1 (got {self.approvals})")
        if self.max_queue < 1:
            raise ConfigError(f"max queue: must be >= 1 (got {self.max_queue})")
        if self.max_queued_per_user < 1:
            raise ConfigError(f"max queued per user: must be >= 1 (got {self.max_queued_per_user})")
        if not self.header_timeout > 0:
            raise ConfigError(f"header timeout: must be > 0 seconds (got {self.header_timeout})")
        if self.keep_alive_timeout < 1 or self.limit_concurrency < 1:
            raise ConfigError("keep-alive timeout and concurrency limit: must be >= 1")
        if self.max_header_bytes < 1024:
            raise ConfigError(f"max header bytes: must be >= 1024 (got {self.max_header_bytes})")

    def check_admin_token(self) -> None:
        """A ConfigError unless the admin token is long enough to serve with."""
        if len(self.admin_token) < MIN_ADMIN_TOKEN:
            raise ConfigError(
                f"SPARKBT_ADMIN_TOKEN: expected at least {MIN_ADMIN_TOKEN} characters "
                f"(got {len(self.admin_token)}); make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )

    @property
    def db_file(self) -> Path:
        """The SQLite job database (default ``<evidence_dir>/service/jobs.sqlite``)."""
        return self.db_path or self.evidence_dir / "service" / "jobs.sqlite"

    @property
    def audit_file(self) -> Path:
        """The JSON-lines audit log (default ``<evidence_dir>/audit.jsonl``)."""
        return self.audit_log or self.evidence_dir / "audit.jsonl"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the environment, with explicit values (CLI options) winning."""
        env = os.environ
        values: dict[str, object] = {
            "admin_token": env.get("SPARKBT_ADMIN_TOKEN", ""),
            "impl": (env.get("BACKTEST_IMPL") or "engine").strip().lower(),
        }
        raw_mock = env.get("SPARKBT_MOCK_SECONDS")
        if raw_mock:
            try:
                values["mock_seconds"] = float(raw_mock)
            except ValueError:
                raise ConfigError(
                    f"SPARKBT_MOCK_SECONDS: expected a number of seconds (got {raw_mock!r})"
                ) from None
        for name, key in (
            ("SPARKBT_MAX_QUEUE", "max_queue"),
            ("SPARKBT_MAX_QUEUED_PER_USER", "max_queued_per_user"),
        ):
            raw = (env.get(name) or "").strip()
            if raw:
                if not raw.isdigit():
                    raise ConfigError(f"{name}: expected a whole number of jobs (got {raw!r})")
                values[key] = int(raw)
        raw_private = (env.get("SPARKBT_PRIVATE") or "").strip().lower()
        if raw_private:
            if raw_private not in _TRUE + _FALSE:
                raise ConfigError(
                    f"SPARKBT_PRIVATE: expected 1 or 0 (got {env['SPARKBT_PRIVATE']!r})"
                )
            values["private"] = raw_private in _TRUE
        raw_hosts = env.get("SPARKBT_ALLOWED_HOSTS")
        if raw_hosts:
            values["allowed_hosts"] = parse_hosts(raw_hosts)
        if env.get("SPARKBT_PAPER_FEED"):
            values["paper_feed"] = env["SPARKBT_PAPER_FEED"].strip().lower()
        for name, key, kind in (
            ("SPARKBT_PAPER_SETTLE", "paper_settle", float),
            ("SPARKBT_PAPER_WARMUP", "paper_warmup", int),
        ):
            raw = (env.get(name) or "").strip()
            if raw:
                try:
                    values[key] = kind(raw)
                except ValueError:
                    raise ConfigError(f"{name}: expected a number (got {raw!r})") from None
        if env.get("SPARKBT_EXECUTOR"):
            values["executor"] = env["SPARKBT_EXECUTOR"].strip().lower()
        if env.get("SPARKBT_SCHEDULER"):
            values["scheduler"] = env["SPARKBT_SCHEDULER"].strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("allowed_hosts") is None:
            bind = str(values.get("host") or cls.host)
            values["allowed_hosts"] = tuple(dict.fromkeys((bind, *LOOPBACK_HOSTS)))
        return cls(**values)  # type: ignore[arg-type]


def parse_hosts(raw: str) -> tuple[str, ...]:
    """``"a, B:80"`` as ``("a", "b")``: host names without ports, lower case (``*``: any)."""
    hosts = tuple(
        h.strip().lower().removeprefix("[").removesuffix("]") for h in raw.split(",") if h.strip()
    )
    if not hosts:
        raise ConfigError(f"allowed hosts: expected host names separated by commas (got {raw!r})")
    return hosts
