"""Service settings: one frozen object built by ``sparkbt serve`` and handed to ``create_app``.

Everything the service reads from the environment is read here, once, so the
app, the workers and the tests see the same values:

- ``SPARKBT_ADMIN_TOKEN``: the admin token (required, the service refuses to start without it);
- ``BACKTEST_IMPL``: ``engine`` (default) runs the real engine; ``mock`` runs no engine:
  a job sleeps, then finishes (for tests of the service itself);
- ``SPARKBT_MOCK_SECONDS``: how long a mock job sleeps (default 3.5);
- ``SPARKBT_PRIVATE``: ``1`` (or ``true``/``yes``/``on``) makes every API read need a
  valid key or the admin token, as ``sparkbt serve --private`` does.
- ``SPARKBT_EXECUTOR``: ``local`` (default) runs jobs in local worker processes;
  ``dask`` runs them on the Dask scheduler ``SPARKBT_SCHEDULER`` (``tcp://host:8786``),
  as ``sparkbt serve --executor dask --scheduler ...`` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sparkbt.errors import ConfigError
from sparkbt.evidence import default_evidence_dir

__all__ = ["EXECUTORS", "IMPLS", "MAX_BODY_BYTES", "Settings"]

IMPLS = ("engine", "mock")
EXECUTORS = ("local", "dask")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_MOCK_SECONDS = 3.5
DEFAULT_JOB_TIMEOUT = 600.0
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
    executor: str = "local"  # where jobs run: local worker processes or a Dask cluster
    scheduler: str | None = None  # the Dask scheduler address (executor "dask")

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
        raw_private = (env.get("SPARKBT_PRIVATE") or "").strip().lower()
        if raw_private:
            if raw_private not in _TRUE + _FALSE:
                raise ConfigError(
                    f"SPARKBT_PRIVATE: expected 1 or 0 (got {env['SPARKBT_PRIVATE']!r})"
                )
            values["private"] = raw_private in _TRUE
        if env.get("SPARKBT_EXECUTOR"):
            values["executor"] = env["SPARKBT_EXECUTOR"].strip().lower()
        if env.get("SPARKBT_SCHEDULER"):
            values["scheduler"] = env["SPARKBT_SCHEDULER"].strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
