"""Back-pressure at the edge: at most `max_in_flight` requests inside the application at once.

The request over the limit gets 503 with `Retry-After` at once, instead of
waiting behind everyone else (a pure ASGI middleware, so it covers every
route, those other modules add included). /health, /metrics and the API docs
are exempt: an orchestrator must always get its answer.

Admitted requests wait for one of a few worker threads without holding one:
many runnable threads fight for the GIL and starve the event loop, which
then answers even /health late.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error, headers_of, status_of
from rag.core.errors import OverloadedError

EXEMPT = frozenset({"/health", "/livez", "/readyz", "/metrics", "/openapi.json", "/docs"})


class AdmissionLimit:
    def __init__(self, app: ASGIApp, max_in_flight: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            exc = OverloadedError(f"the server is busy ({self.in_flight} requests in progress); retry in "
                                  f"{self.retry_after_s} s", self.retry_after_s)
            await error(status_of(exc), str(exc), headers=headers_of(exc), path=scope["path"])(scope, receive, send)
            return
        self.in_flight += 1  # one event loop: no lock needed
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
