"""Prometheus metrics of the service, always on an injected ``CollectorRegistry``.

Never the process-global registry: each app (and each test) gets its own, so
two apps in one process do not collide and a test sees only its own numbers.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ServiceMetrics"]

# Run durations: a mock run is ~3.5 s, engine runs go from ~10 ms to minutes.
_RUN_BUCKETS_MS = (
    10,
    25,
    50,
    100,
    250,
    500,
    1000,
    2500,
    3500,
    5000,
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
)
# Start-request handling: the SLO is p95 < 100 ms, so resolve well below it.
_ENQUEUE_BUCKETS_MS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 75, 100, 150, 250, 500, 1000)
# Guard evaluations: ~0.1 s on the packaged sample, minutes on long histories with a sweep.
_EVALUATION_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)


class ServiceMetrics:
    """The service's metrics, registered on ``registry``."""

    def __init__(
        self,
        registry: CollectorRegistry,
        impls: tuple[str, ...],
        queue_depth: Callable[[], float],
    ) -> None:
        self.registry = registry
        self.runs = Counter(
            "bt_runs",
            "Finished backtest jobs by outcome and implementation.",
            ("status", "impl"),
            registry=registry,
        )
        self.latency = Histogram(
            "bt_latency_ms",
            "Run duration of a backtest job in a worker, in milliseconds.",
            ("impl",),
            buckets=_RUN_BUCKETS_MS,
            registry=registry,
        )
        self.enqueue_latency = Histogram(
            "bt_enqueue_latency_ms",
            "Handling time of POST /api/backtest/start inside the server, in milliseconds.",
            buckets=_ENQUEUE_BUCKETS_MS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "bt_queue_depth", "Jobs queued and not yet handed to a worker.", registry=registry
        )
        self.queue_depth.set_function(queue_depth)
        self.starts = Counter(
            "bt_start",
            "Backtest jobs accepted (201) by POST /api/backtest/start.",
            registry=registry,
        )
        self.rejected = Counter(
            "bt_start_rejected",
            "Start requests refused, by HTTP status code.",
            ("code",),
            registry=registry,
        )
        self.refused = Counter(
            "sparkbt_refused",
            "Jobs refused (429) because the queue was full (queue_full) or their user had "
            "as many queued as one may (user_cap): starts, evaluations and sweep cells.",
            ("reason",),
            registry=registry,
        )
        for reason in ("queue_full", "user_cap"):
            self.refused.labels(reason=reason)
        self.guard_proposals = Counter(
            "guard_proposals",
            "Guard proposals reaching a state (evaluating when submitted, then pending, "
            "blocked, approved, rejected or stale).",
            ("status",),
            registry=registry,
        )
        self.guard_gate_results = Counter(
            "guard_gate_results",
            "Gate outcomes of guard evaluations, by gate and result (pass, warn, block, skip).",
            ("gate", "result"),
            registry=registry,
        )
        self.guard_evaluation = Histogram(
            "guard_evaluation_seconds",
            "Time a worker took to evaluate a guard proposal, in seconds.",
            buckets=_EVALUATION_BUCKETS_S,
            registry=registry,
        )
        for impl in impls:  # export zeros up front so dashboards and rate() see every series
            self.latency.labels(impl=impl)
            for status in ("done", "failed"):
                self.runs.labels(status=status, impl=impl)

    def run_finished(self, status: str, impl: str, duration_ms: float) -> None:
        self.runs.labels(status=status, impl=impl).inc()
        self.latency.labels(impl=impl).observe(duration_ms)

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)
