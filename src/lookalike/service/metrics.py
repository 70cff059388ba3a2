"""Prometheus metrics in a registry of the app's own (two apps in one process never collide).

Under ``lookalike serve --workers N`` the command sets ``PROMETHEUS_MULTIPROC_DIR`` (a fresh folder) before the
workers start: prometheus_client then keeps every worker's values in files there, and ``/metrics`` — whichever
worker answers — sums them over the workers (prometheus_client's ``MultiProcessCollector``), so counters never
seem to go back when another worker answers the scrape. The gallery-size gauges report the most recent value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

#: set by ``lookalike serve --workers N`` for its workers (prometheus_client's own variable)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """Request counts and latencies per route, batch sizes, identify decisions and gallery size."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "lookalike_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "lookalike_http_request_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_queries = Histogram(
            "lookalike_batch_queries", "queries per model batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r
        )
        self.batch_requests = Histogram(
            "lookalike_batch_requests",
            "requests merged into one model batch",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "lookalike_batch_seconds", "time to embed and search one batch", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.decisions = Counter(
            "lookalike_identify_decisions", "identify answers by decision", ["decision"], registry=r
        )
        self.enrolled = Counter("lookalike_enrolled_items", "items enrolled through the service", registry=r)
        # every worker sees the same gallery: under several workers, the latest count any of them set
        self.gallery_items = Gauge(
            "lookalike_gallery_items", "items in the gallery", registry=r, multiprocess_mode="mostrecent"
        )
        self.gallery_identities = Gauge(
            "lookalike_gallery_identities", "identities in the gallery", registry=r, multiprocess_mode="mostrecent"
        )

    def observe_batch(self, n_queries: int, n_requests: int, seconds: float) -> None:
        """Callback for :class:`~lookalike.service.batching.Batcher`."""
        self.batch_queries.observe(n_queries)
        self.batch_requests.observe(n_requests)
        self.batch_seconds.observe(seconds)

    def render(self) -> Response:
        """The text exposition format for ``/metrics``."""
        if os.environ.get(MULTIPROC_ENV):  # several workers: the sum over all of them
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def middleware(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Count and time every request under its route template (not the raw path: bounded label values)."""
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.requests.labels(template, request.method, str(status)).inc()
            self.latency.labels(template, request.method).observe(time.perf_counter() - started)


__all__ = ["ServiceMetrics"]
