"""Every error the service returns, as one JSON shape: `{"error": ..., "details"?: [...]}`.

One handler per kind of failure maps it to its status; `ERROR_RESPONSES`
documents the same statuses and shape in the OpenAPI document, so what the
docs promise is what a client gets. No handler lets a 500 or a stack trace
out for anything a client can cause.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.core.errors import BadQueryError, IndexIncompatibleError, IndexNotFoundError, OverloadedError, RagError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    field: str = Field(description="Where the problem is: a field path, or 'body'")
    problem: str


class ErrorBody(BaseModel):
    """The body of every 4xx and 503 response."""

    error: str = Field(description="What is wrong, in a sentence")
    details: list[ErrorDetail] | None = Field(default=None, description="One entry per invalid field")


def _doc(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"model": ErrorBody, "description": description}
    if headers:
        entry["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}
    return entry


_ALL_ERRORS: dict[int, dict[str, Any]] = {
    400: _doc("The body is not valid UTF-8"),
    401: _doc("Missing or wrong bearer token", {"WWW-Authenticate": "Bearer"}),
    403: _doc("Rebuilds over HTTP are disabled (RAG_ADMIN_TOKEN unset)"),
    413: _doc("The body is larger than the limit (RAG_MAX_BODY_BYTES)"),
    415: _doc("The body is not JSON"),
    422: _doc("The request is malformed or a field is invalid; `details` says which"),
    503: _doc("Busy (retry after Retry-After seconds) or no usable index", {"Retry-After": "Seconds to wait"}),
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route that can fail with `statuses`."""
    return {status: _ALL_ERRORS[status] for status in statuses}


#: A route that takes a JSON body.
BODY_ERRORS = error_responses(400, 413, 415, 422, 503)


class ErrorResponse(JSONResponse):
    """JSON with non-ASCII escaped: an error may quote client input (a field name) that is not valid UTF-8."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error(status: int, message: str, details: list[dict] | None = None, headers: dict[str, str] | None = None) -> ErrorResponse:
    body = {"error": message} if details is None else {"error": message, "details": details}
    return ErrorResponse(status_code=status, content=body, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not _is_json(request.headers.get("content-type")) and any(e["loc"] == ("body",) for e in exc.errors()):
            # FastAPI leaves a non-JSON body unparsed; say so instead of "should be a valid dictionary".
            return error(415, "the body must be JSON: send it with Content-Type: application/json")
        return invalid([_describe(e) for e in exc.errors()])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return error(400, "the request body is not valid UTF-8: send JSON encoded as UTF-8")
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            return invalid([{"field": "body", "problem": "malformed JSON: nested too deeply"}])
        return error(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(BadQueryError)
    async def bad_query(request: Request, exc: BadQueryError) -> JSONResponse:
        return error(422, str(exc))

    @app.exception_handler(OverloadedError)
    async def overloaded(request: Request, exc: OverloadedError) -> JSONResponse:
        return error(503, str(exc), headers={"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(IndexNotFoundError)
    @app.exception_handler(IndexIncompatibleError)
    async def index_unavailable(request: Request, exc: RagError) -> JSONResponse:
        return error(503, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal error; see the server log")


def invalid(details: list[dict]) -> JSONResponse:
    return error(422, "invalid request", details)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _describe(e: dict) -> dict:
    """One validation error as {field, problem}; a JSON syntax error's "loc" is a character offset, not a field."""
    if e["type"] == "json_invalid":
        reason = e.get("ctx", {}).get("error", "cannot parse")
        return {"field": "body", "problem": f"malformed JSON: {reason} at character {e['loc'][-1]}"}
    problem = e["msg"] + (" (the limit)" if e["type"] == "string_too_long" else "")
    return {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "problem": problem}
