"""Prometheus metrics: request latency by route template, plus platform state read at scrape time.

Each runtime has its own `CollectorRegistry` (no module globals, so tests stay independent).
Request latency is observed by `MetricsMiddleware` per process; everything else (jobs by status,
log size, signatures, privacy-request deadlines) is counted in the shared database when
`/metrics` is scraped, so every app process reports the same platform-wide numbers. Sources that
fail (a domain not deployed, a database hiccup) are reported through `qianshu_metrics_source_up`
instead of breaking the scrape. Labels carry route templates and statuses, never ids or people.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import column, func, select, table
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send

from qianshu.core.asgi import HttpMiddleware
from qianshu.core.logging import get_logger
from qianshu.core.runtime import Runtime

__all__ = [
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "HttpMetrics",
    "MetricsMiddleware",
    "StateCollector",
    "http_metrics",
    "render_metrics",
    "route_template",
]

log = get_logger("qianshu.ops.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_COMPONENT = "ops.metrics"
UNMATCHED = "<unmatched>"
# The audit action written when a signer signs (contracts/signers.py); counted from the audit trail,
# the platform's record of every signature.
SIGNED_ACTION = "contract.signed"
_audit_event = table("audit_event", column("action"))


class HttpMetrics:
    """The runtime's registry with the request-latency histogram and the state collector."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "qianshu_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            labelnames=("method", "route", "status"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StateCollector(runtime))

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        self.latency.labels(method=method, route=route, status=str(status)).observe(seconds)


def http_metrics(runtime: Runtime) -> HttpMetrics:
    """Return the runtime's metrics (built once)."""
    return runtime.component(_COMPONENT, HttpMetrics)


def route_template(scope: Scope) -> str:
    """Return the matched route's path template (`/api/v1/contracts/{contract_id}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    raw = str(scope.get("path", ""))
    if raw.startswith("/static/"):
        return "/static"
    return UNMATCHED


class MetricsMiddleware(HttpMiddleware):
    """Time every HTTP request and record it under its route template and status."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, then record its duration under its route and status."""
        started = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            runtime: Runtime = scope["app"].state.runtime
            http_metrics(runtime).observe(
                method=str(scope.get("method", "GET")),
                route=route_template(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


def _jobs(session: Session, runtime: Runtime) -> Iterator[Metric]:
    from qianshu.jobs import service as jobs_service

    counts = jobs_service.count_by_status(session=session)
    family = GaugeMetricFamily("qianshu_jobs", "Jobs in the queue, by status.", labels=["status"])
    for status in sorted({"queued", "running", "done", "dead", *counts}):
        family.add_metric([status], counts.get(status, 0))
    yield family


def _log_size(session: Session, runtime: Runtime) -> Iterator[Metric]:
    from qianshu.evidence import translog

    yield GaugeMetricFamily(
        "qianshu_transparency_log_size",
        "Entries in the transparency log's latest checkpoint.",
        value=translog.tree_size(session=session),
    )


def _signatures(session: Session, runtime: Runtime) -> Iterator[Metric]:
    count = session.scalar(select(func.count()).select_from(_audit_event).where(_audit_event.c.action == SIGNED_ACTION))
    yield GaugeMetricFamily(
        "qianshu_signatures", "Signatures made on the platform (from the audit trail).", value=int(count or 0)
    )


def _privacy_deadlines(session: Session, runtime: Runtime) -> Iterator[Metric]:
    from qianshu.privacy import requests as privacy_requests

    # The scan marks alert days on the rows it reads; the caller's session is rolled back.
    scan = privacy_requests.scan_deadlines(session=session, clock=runtime.clock, alert=False)
    family = GaugeMetricFamily(
        "qianshu_privacy_requests_due",
        "Open personal-information requests by deadline state.",
        labels=["state"],
    )
    family.add_metric(["overdue"], len(scan.overdue))
    family.add_metric(["near_due"], len(scan.near_due))
    yield family


Source = Callable[[Session, Runtime], Iterator[Metric]]
SOURCES: dict[str, Source] = {
    "jobs": _jobs,
    "transparency_log": _log_size,
    "signatures": _signatures,
    "privacy_deadlines": _privacy_deadlines,
}


class StateCollector(Collector):
    """Read platform state from the database on each scrape, one rolled-back session per source."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def describe(self) -> list[Metric]:
        """Describe nothing up front (the families depend on what is deployed)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield every source's metrics and whether each source could be read."""
        up = GaugeMetricFamily(
            "qianshu_metrics_source_up", "Whether a metrics source could be read.", labels=["source"]
        )
        for name, source in SOURCES.items():
            families: list[Metric] = []
            ok = 1
            session = self.runtime.sessionmaker()
            try:
                families = list(source(session, self.runtime))
            except Exception as exc:  # a broken source must not break the scrape
                ok = 0
                log.warning("metrics_source_failed", source=name, error_type=type(exc).__name__)
            finally:
                session.rollback()
                session.close()
            yield from families
            up.add_metric([name], ok)
        yield up


def render_metrics(runtime: Runtime) -> tuple[bytes, str]:
    """Return the Prometheus text exposition of the runtime's metrics and its content type."""
    data: Any = generate_latest(http_metrics(runtime).registry)
    return bytes(data), CONTENT_TYPE_LATEST
