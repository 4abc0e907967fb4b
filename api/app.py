"""The HTTP service (CONTRACTS §3): POST /ask, POST /search, GET /health, GET /metrics, POST /index/rebuild.

The model and index load once, in the lifespan, which also starts the one
query-encoder worker (rag.encoders.batching) every route shares. Handlers are plain
`def` (CPU-bound work runs in FastAPI's thread pool); /health and /metrics are
`async` so they answer at once however busy the pool is. The edge is in
`api/admission.py` (503 beyond RAG_QUEUE_MAX requests), `api/limits.py` (body
size), `api/metrics.py`, `api/errors.py` (every error one JSON shape,
documented in the OpenAPI) and `api/server.py` (uvicorn timeouts).
Routers of other modules are added in `create_app` with `app.include_router`;
the limits, the 503 on overload and the metrics apply to them too.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated

import anyio.to_thread
from fastapi import FastAPI, Header, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from api.admission import AdmissionLimit
from api.deps import Service, check_length
from api.diff import router as diff_router
from api.docs import add_docs
from api.errors import BODY_ERRORS, add_error_handlers, error_responses, without_paths
from api.limits import BodySizeLimit
from api.metrics import RequestMetrics, ServiceMetrics, add_metrics_route
from api.openai_compat import router as openai_router
from api.pages import router as pages_router
from api.replicas import IndexWatch, probes
from api.schemas import (
    AskRequest,
    AskResponse,
    GuideOut,
    HealthResponse,
    PassageOut,
    RebuildResponse,
    SearchRequest,
    SearchResponse,
    StaleIndexOut,
    with_valid_names,
)
from api.stream import CLIENT_GONE, result_unless_gone
from api.stream import router as stream_router
from rag.core.errors import RagError
from rag.index.build import Progress
from rag.service import QAService
from rag.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: QAService | None = None,
               build_progress: Progress | None = None) -> FastAPI:
    """The app; at start it builds a missing index, and rebuilds a stale one in the background while the
    old one serves (`build_progress` shows that build, e.g. the CLI's progress line)."""
    settings = settings or Settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        qa = app.state.service = service or QAService(settings)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        qa.ensure_index()
        qa.warm_up()  # on this thread (the main one under `rag serve`) first: see QAService.warm_up
        batcher = qa.start_inference_worker(on_batch=metrics.observe_batch)
        metrics.watch_queue(lambda: batcher.queue_depth)
        qa.warm_up()
        # What is loaded by now (the model, the index: ~235k objects) lives as long as the process, and a
        # full garbage collection walked all of it holding the GIL (~100 ms, a pause every request waited
        # out); frozen, collections see only what requests allocate.
        gc.collect()
        gc.freeze()
        app.state.rebuild = RebuildState(metrics)
        staleness = qa.staleness()
        if staleness.stale:
            log.warning("the index is older than the corpus (%s): rebuilding it in the background, serving the old "
                        "one meanwhile", staleness.files)
            app.state.rebuild.start(qa, build_progress)
        watch = IndexWatch(qa)  # a rebuild by another worker or `rag index build` reaches this process too
        yield
        watch.stop()
        qa.stop_inference_worker()

    app = FastAPI(
        title="guides-qa",
        version="0.1.0",
        description="Cited answers from the guides in its index.",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves /docs with local assets
        redoc_url=None,
        redirect_slashes=False,  # a redirect to "/ask" would echo the client's Host header
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(AdmissionLimit, max_in_flight=settings.queue_max)
    app.add_middleware(RequestMetrics, metrics=metrics)  # outermost: counts the 413s and 503s too
    add_error_handlers(app)
    _add_routes(app, settings)
    app.include_router(stream_router)
    app.include_router(pages_router)
    app.include_router(openai_router)
    app.include_router(diff_router)
    app.include_router(probes)
    add_metrics_route(app, metrics)
    add_docs(app)
    _document_valid_names(app)
    return app


def _document_valid_names(app: FastAPI) -> None:
    """/openapi.json names the guides and lists the editions and documents of the index being served
    (see with_valid_names): the description says what this service answers about, not a fixed topic."""
    plain = app.openapi

    def openapi() -> dict:
        service: QAService | None = getattr(app.state, "service", None)
        if service is None:
            return plain()
        index = service.engine.index
        schema = with_valid_names(plain(), index.editions, index.manifest.documents)
        schema["info"]["description"] = f"Cited answers from these guides: {index.outline.topic()}."
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class RebuildState:
    """At most one background rebuild; its outcome is reported by /health and counted in /metrics."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.running = threading.Event()
        self.last: dict | None = None
        self.metrics = metrics

    def start(self, service: QAService, progress: Progress | None = None) -> bool:
        """Rebuild in a background thread; False if one is running already."""
        if self.running.is_set():
            return False
        self.running.set()
        threading.Thread(target=_run_rebuild, args=(service, self, progress), daemon=True).start()
        return True

    def finish(self, outcome: dict) -> None:
        self.last = outcome
        self.metrics.rebuilds.labels(outcome["status"]).inc()


def _add_routes(app: FastAPI, settings: Settings) -> None:
    @app.post("/ask", response_model=AskResponse, summary="Answer a question with citations", responses=BODY_ERRORS)
    async def ask(body: AskRequest, request: Request, service: Service) -> AskResponse | Response:
        check_length(body.question, settings)
        filters = await run_in_threadpool(service.filters, body.docs, body.editions)
        steps = service.engine.pipeline.steps(body.question, k=body.k, filters=filters, history=body.turns())
        result = await result_unless_gone(steps, request)  # a hang-up stops the work
        if result is None:
            return Response(status_code=CLIENT_GONE)
        return AskResponse.of(result, await run_in_threadpool(service.staleness))

    @app.post("/search", response_model=SearchResponse, summary="Ranked passages for a query", responses=BODY_ERRORS)
    def search(body: SearchRequest, service: Service) -> SearchResponse:
        check_length(body.query, settings)
        filters = service.filters(body.docs, body.editions)
        started = time.perf_counter()
        results = service.retriever(body.mode).retrieve(body.query, k=body.k, filters=filters)
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResponse(results=[PassageOut.of(r) for r in results], timings={"retrieve_ms": round(elapsed, 2)})

    @app.get("/health", response_model=HealthResponse, summary="Liveness and the index's identity",
             responses=error_responses(503))
    async def health(request: Request, service: Service) -> HealthResponse:
        index = service.engine.index
        manifest = index.manifest
        return HealthResponse(
            status="ok",
            model=manifest.settings.model,
            chunk_count=manifest.chunk_count,
            built_at=manifest.built_at,
            documents=manifest.documents,
            faiss_index=manifest.faiss_index,
            generator=settings.generator,
            query_encoder=settings.query_encoder,
            queue_depth=service.batcher.queue_depth if service.batcher else 0,
            rebuild_running=request.app.state.rebuild.running.is_set(),
            last_rebuild=request.app.state.rebuild.last,
            stale_index=StaleIndexOut.of(service.staleness()),
            guides=[GuideOut(doc=g.doc, title=g.title, edition=g.edition, series=g.series) for g in index.guides],
            pid=os.getpid(),
        )

    @app.post("/index/rebuild", response_model=RebuildResponse, status_code=202,
              summary="Rebuild the index in the background", responses=error_responses(401, 403, 503))
    def rebuild(request: Request, service: Service, authorization: Annotated[str | None, Header()] = None) -> RebuildResponse:
        _authorize(settings, authorization)
        state: RebuildState = request.app.state.rebuild
        return RebuildResponse(status="started" if state.start(service) else "already running")


def _run_rebuild(service: QAService, state: RebuildState, progress: Progress | None = None) -> None:
    """Any failure, not only the ones we foresaw (an unreadable corpus file is a PermissionError), is
    reported as failed with its reason: /health must never show the previous success instead."""
    try:
        report = service.rebuild(progress=progress)
        state.finish({"status": report.status, "chunk_count": report.chunk_count, "embedded": report.embedded,
                      "seconds": round(report.seconds, 2)})
    except Exception as e:
        state.finish({"status": "failed", "error": without_paths(str(e)) or type(e).__name__})
        log.warning("rebuild failed: %s", e, exc_info=not isinstance(e, RagError))
    finally:
        state.running.clear()


def _authorize(settings: Settings, authorization: str | None) -> None:
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "index rebuilds over HTTP are disabled: set RAG_ADMIN_TOKEN to enable them")
    expected = f"Bearer {settings.admin_token.get_secret_value()}"
    if authorization is None or not secrets.compare_digest(authorization.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


