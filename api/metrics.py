"""`GET /metrics` in the Prometheus text format (prometheus-client).

Requests and their latency by route template and status (a pure ASGI
middleware, so 413s and 503s answered before a handler count too), the query
encoder's queue depth and batch sizes, and index rebuilds by outcome. Each app
has its own registry, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Label values are bounded: any other method, and any path no route matched, count as "other".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("rag_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("rag_http_request_duration_seconds", "Time from request to the end of the response",
                                 ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.queue_depth = Gauge("rag_encoder_queue_depth", "Questions waiting for the query encoder",
                                 registry=self.registry)
        self.batch_size = Histogram("rag_encoder_batch_size", "Questions encoded together in one batch",
                                    buckets=(1, 2, 4, 8, 12, 16, 24, 32, 64), registry=self.registry)
        self.batch_seconds = Histogram("rag_encoder_batch_seconds", "Time one batch takes to encode",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rebuilds = Counter("rag_index_rebuilds", "Background index rebuilds by outcome", ["status"],
                                registry=self.registry)

    def observe_batch(self, requests: int, texts: int, seconds: float) -> None:
        self.batch_size.observe(texts)
        self.batch_seconds.observe(seconds)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        self.queue_depth.set_function(lambda: float(depth()))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class RequestMetrics:
    """Counts every HTTP request and times it, labelled by the route's path template (not the raw path); made-up
    methods and paths share the label "other", so clients cannot grow the metrics without bound."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or OTHER
            method = scope["method"] if scope["method"] in METHODS else OTHER
            labels = (method, route, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)


def add_metrics_route(app: FastAPI, metrics: ServiceMetrics) -> None:
    @app.get("/metrics", summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
                              "description": "Prometheus text format"}})
    async def prometheus_metrics() -> Response:
        return metrics.render()
