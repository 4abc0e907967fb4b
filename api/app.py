"""The HTTP service (CONTRACTS §3): POST /ask, POST /search, GET /health, POST /index/rebuild.

The model and index load once, in the lifespan. Handlers are plain `def`
(CPU-bound work runs in FastAPI's thread pool). Every error a client can cause
is a 4xx with a JSON body saying what is wrong; the rest is a JSON 500 without
a stack trace.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Service, check_length
from api.openai_compat import router as openai_router
from api.pages import router as pages_router
from api.schemas import (
    AskRequest,
    AskResponse,
    HealthResponse,
    PassageOut,
    RebuildResponse,
    SearchRequest,
    SearchResponse,
)
from api.stream import router as stream_router
from rag.errors import BadQueryError, IndexIncompatibleError, IndexNotFoundError, RagError
from rag.retrieval import Filters
from rag.service import QAService
from rag.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, service: QAService | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.service = service or QAService(settings)
        app.state.service.ensure_index()
        app.state.service.warm_up()
        app.state.rebuild = RebuildState()
        yield

    app = FastAPI(
        title="guides-qa",
        version="0.1.0",
        description="Cited answers from machine-learning career guides.",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    _add_routes(app, settings)
    app.include_router(stream_router)
    app.include_router(pages_router)
    app.include_router(openai_router)
    return app


class RebuildState:
    """At most one background rebuild; its outcome is reported by /health."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self.last: dict | None = None


def _add_routes(app: FastAPI, settings: Settings) -> None:
    @app.post("/ask", response_model=AskResponse, summary="Answer a question with citations")
    def ask(body: AskRequest, service: Service) -> AskResponse:
        check_length(body.question, settings)
        result = service.engine.pipeline.ask(body.question, k=body.k, filters=body.filters(), history=body.turns())
        return AskResponse.of(result)

    @app.post("/search", response_model=SearchResponse, summary="Ranked passages for a query")
    def search(body: SearchRequest, service: Service) -> SearchResponse:
        check_length(body.query, settings)
        filters = Filters.of(body.docs, body.editions)
        started = time.perf_counter()
        results = service.retriever(body.mode).retrieve(body.query, k=body.k, filters=filters)
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResponse(results=[PassageOut.of(r) for r in results], timings={"retrieve_ms": round(elapsed, 2)})

    @app.get("/health", response_model=HealthResponse, summary="Liveness and the index's identity")
    def health(request: Request, service: Service) -> HealthResponse:
        manifest = service.engine.index.manifest
        return HealthResponse(
            status="ok",
            model=manifest.settings.model,
            chunk_count=manifest.chunk_count,
            built_at=manifest.built_at,
            documents=sorted(manifest.files),
            faiss_index=manifest.faiss_index,
            generator=settings.generator,
            rebuild_running=request.app.state.rebuild.running.is_set(),
            last_rebuild=request.app.state.rebuild.last,
        )

    @app.post("/index/rebuild", response_model=RebuildResponse, status_code=202, summary="Rebuild the index in the background")
    def rebuild(request: Request, service: Service, authorization: Annotated[str | None, Header()] = None) -> RebuildResponse:
        _authorize(settings, authorization)
        state: RebuildState = request.app.state.rebuild
        if state.running.is_set():
            return RebuildResponse(status="already running")
        state.running.set()
        threading.Thread(target=_run_rebuild, args=(service, state), daemon=True).start()
        return RebuildResponse(status="started")


def _run_rebuild(service: QAService, state: RebuildState) -> None:
    try:
        report = service.rebuild()
        state.last = {"status": report.status, "chunk_count": report.chunk_count, "embedded": report.embedded,
                      "seconds": round(report.seconds, 2)}
    except RagError as e:
        state.last = {"status": "failed", "error": str(e)}
        log.warning("rebuild failed: %s", e)
    finally:
        state.running.clear()


def _authorize(settings: Settings, authorization: str | None) -> None:
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(403, "index rebuilds over HTTP are disabled: set RAG_ADMIN_TOKEN to enable them")
    expected = f"Bearer {settings.admin_token.get_secret_value()}"
    if authorization is None or not secrets.compare_digest(authorization.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not _is_json(request.headers.get("content-type")) and any(e["loc"] == ("body",) for e in exc.errors()):
            # FastAPI leaves a non-JSON body unparsed; say so instead of "should be a valid dictionary".
            return JSONResponse(
                status_code=415, content={"error": "the body must be JSON: send it with Content-Type: application/json"}
            )
        errors = [_describe(e) for e in exc.errors()]
        return JSONResponse(status_code=422, content={"error": "invalid request", "details": errors})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            detail = "the request body is not valid UTF-8: send JSON encoded as UTF-8"
        return JSONResponse(status_code=exc.status_code, content={"error": detail}, headers=exc.headers)

    @app.exception_handler(BadQueryError)
    async def bad_query(request: Request, exc: BadQueryError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"error": str(exc)})

    @app.exception_handler(IndexNotFoundError)
    @app.exception_handler(IndexIncompatibleError)
    async def index_unavailable(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"error": str(exc)})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(status_code=500, content={"error": "internal error; see the server log"})


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _describe(error: dict) -> dict:
    """One validation error as {field, problem}; a JSON syntax error's "loc" is a character offset, not a field."""
    if error["type"] == "json_invalid":
        reason = error.get("ctx", {}).get("error", "cannot parse")
        return {"field": "body", "problem": f"malformed JSON: {reason} at character {error['loc'][-1]}"}
    return {"field": ".".join(str(p) for p in error["loc"] if p != "body") or "body", "problem": error["msg"]}
