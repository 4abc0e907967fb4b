"""Every error the service returns: one status per kind of failure (`STATUS`), in one of two JSON shapes.

The service's own routes answer `{"error": ..., "details"?: [...]}`; the
OpenAI-compatible routes (under /v1/) answer OpenAI's shape, `{"error":
{"message", "type", "param", "code"}}`, so its clients show the message. The
shape follows the path, so a 413 or 503 sent by a middleware before any route
runs has the route's shape too. `error_responses` and `openai_error_responses`
document the same statuses and shapes in the OpenAPI document, so what the
docs promise is what a client gets. No handler lets a 500 or a stack trace out
for anything a client can cause. Overload is 503 with Retry-After everywhere.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.core.errors import (
    BadQueryError,
    IndexIncompatibleError,
    IndexNotFoundError,
    OverloadedError,
    RagError,
)

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


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    """OpenAI's error shape, used under /v1/."""

    error: OpenAIErrorDetail


OPENAI_PREFIX = "/v1/"
_OPENAI_REASONS = {
    400: "Bad request: not JSON, an invalid field, no user question, n > 1, a message over the limit",
    404: "No such model (only `guides-qa`)",
    413: "The body is larger than the limit (RAG_MAX_BODY_BYTES)",
    415: "The body is not JSON",
    503: "Busy (retry after Retry-After seconds) or no usable index",
}


def openai_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for an OpenAI-compatible route, in OpenAI's error shape."""
    entries: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": OpenAIError, "description": _OPENAI_REASONS[status]}
        if "headers" in _ALL_ERRORS.get(status, {}):
            entry["headers"] = _ALL_ERRORS[status]["headers"]
        entries[status] = entry
    return entries


#: The one error -> status table of every surface; the most specific class listed wins.
STATUS: dict[type[RagError], int] = {
    BadQueryError: 422,
    OverloadedError: 503,
    IndexNotFoundError: 503,
    IndexIncompatibleError: 503,
    RagError: 500,
}


def status_of(exc: RagError) -> int:
    return next(STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS)


def headers_of(exc: RagError) -> dict[str, str] | None:
    """Retry-After on an overload."""
    return {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, OverloadedError) else None


class ErrorResponse(JSONResponse):
    """JSON with non-ASCII escaped: an error may quote client input (a field name) that is not valid UTF-8."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def error(status: int, message: str, details: list[dict] | None = None, headers: dict[str, str] | None = None,
          path: str = "") -> ErrorResponse:
    """The error response, in the shape of the route at `path` (OpenAI's under /v1/)."""
    if path.startswith(OPENAI_PREFIX):
        problem = f"{details[0]['field']}: {details[0]['problem']}" if details else message
        return openai_error(400 if status == 422 else status, problem, headers=headers)
    body = {"error": message} if details is None else {"error": message, "details": details}
    return ErrorResponse(status_code=status, content=body, headers=headers)


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> ErrorResponse:
    """OpenAI's error shape; OpenAI answers an invalid request 400 where the service's own routes answer 422."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return ErrorResponse(status_code=status, content=body, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not is_json(request.headers.get("content-type")) and any(e["loc"] == ("body",) for e in exc.errors()):
            # FastAPI leaves a non-JSON body unparsed; say so instead of "should be a valid dictionary".
            return error(415, UNSUPPORTED_MEDIA, path=request.url.path)
        return error(422, "invalid request", [_describe(e) for e in exc.errors()], path=request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        path = request.url.path
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            return error(400, NOT_UTF8, path=path)
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            return error(422, "invalid request", [TOO_DEEP], path=path)
        return error(exc.status_code, str(exc.detail), headers=exc.headers, path=path)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500 and status != 503:
            log.warning("%s on %s: %s", type(exc).__name__, request.url.path, exc)
        return error(status, str(exc), headers=headers_of(exc), path=request.url.path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal error; see the server log", path=request.url.path)


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/])/(?:[^\s/'\"]+/)*([^\s/'\"]+)")


def without_paths(message: str) -> str:
    """`message` with each absolute path cut to its last part ("/srv/app/corpus/a.md" -> "a.md"): errors shown to
    unauthenticated clients (/health) must not map the server's file system."""
    return _ABSOLUTE_PATH.sub(r"\1", message)


NOT_UTF8 = "the request body is not valid UTF-8: send JSON encoded as UTF-8"
UNSUPPORTED_MEDIA = "the body must be JSON: send it with Content-Type: application/json"
TOO_DEEP = {"field": "body", "problem": "malformed JSON: nested too deeply"}


def is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _describe(e: dict) -> dict:
    """One validation error as {field, problem}; a JSON syntax error's "loc" is a character offset, not a field."""
    if e["type"] == "json_invalid":
        reason = e.get("ctx", {}).get("error", "cannot parse")
        return {"field": "body", "problem": f"malformed JSON: {reason} at character {e['loc'][-1]}"}
    problem = e["msg"] + (" (the limit)" if e["type"] == "string_too_long" else "")
    return {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "problem": problem}
