"""POST /ask/stream: the /ask answer as server-sent events (CONTRACTS §3).

`passages` first, then `delta` events whose texts join into the answer, then
`done` with the whole /ask response, or `error` instead of `done`. Retrieval
runs before the response starts, so bad input and a missing index are plain
4xx/503 JSON like /ask's; a failure after that can only be an `error` event.
The pipeline is advanced one step at a time in the thread pool; when the client
goes away sse-starlette cancels the stream and the pipeline's iterator is
closed, which stops the work (an LLM's upstream request with it).
`result_unless_gone` does the same for the routes that reply whole.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.deps import Service, check_length
from api.errors import BODY_ERRORS
from api.schemas import AskRequest, AskResponse, PassageOut
from rag.answer.streaming import Found
from rag.core.errors import RagError
from rag.index.freshness import Staleness
from rag.pipeline import AskResult

log = logging.getLogger(__name__)
router = APIRouter()

CLIENT_GONE = 499  # the status logged for a request whose client hung up before its reply (nginx's)
SEND_TIMEOUT = 30.0  # seconds a client may take to accept one event before the stream is dropped
# How long a whole reply's thread reads text deltas before it looks whether the client is still there.
DELTA_BUDGET_S = 0.05

Step = Found | str | AskResult


@router.post(
    "/ask/stream",
    summary="Answer a question, streamed as server-sent events",
    response_class=EventSourceResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "passages, delta…, then done (or error)"},
        **BODY_ERRORS,
    },
)
async def ask_stream(body: AskRequest, request: Request, service: Service) -> EventSourceResponse:
    check_length(body.question, service.settings)
    filters = service.filters(body.docs, body.editions)
    steps = service.engine.pipeline.steps(body.question, k=body.k, filters=filters, history=body.turns())
    first = await run_in_threadpool(next, steps)
    staleness = await run_in_threadpool(service.staleness)
    return EventSourceResponse(_events(first, steps, request, staleness), send_timeout=SEND_TIMEOUT)


async def _events(first: Step, steps: Iterator[Step], request: Request,
                  staleness: Staleness) -> AsyncIterator[ServerSentEvent]:
    step = first
    try:
        while not isinstance(step, AskResult):
            yield _event(step)
            if await request.is_disconnected():
                return
            step = await run_in_threadpool(next, steps)
        yield ServerSentEvent(event="done", data=AskResponse.of(step, staleness).model_dump_json())
    except Exception as exc:  # the status line is sent: a failure can only be reported as an event
        yield ServerSentEvent(event="error", data=json.dumps({"error": _message(exc)}))
    finally:
        steps.close()


async def result_unless_gone(steps: Iterator[Step], request: Request) -> AskResult | None:
    """Advance `steps` (a live pipeline run) to its AskResult in the thread pool, a step at a time (text
    deltas read together, see `_past_deltas`), for a reply that is sent whole. When the client hangs up
    meanwhile the steps are closed, which stops the work (an LLM's upstream request with it, at its next
    delta), and the result is None."""
    try:
        while not isinstance(step := await run_in_threadpool(_past_deltas, steps), AskResult):
            if await request.is_disconnected():
                return None
        return step
    finally:
        steps.close()


def _past_deltas(steps: Iterator[Step], budget_s: float = DELTA_BUDGET_S) -> Step:
    """The next step that is not a text delta, or the last delta read once `budget_s` has passed. A reply
    sent whole has no use for the deltas, and an answer written at once hands them all out in
    microseconds, so a hop to the thread pool for each (the GIL handed back and forth every time) is work
    for nothing. An LLM's deltas come over seconds, so a hang-up is still seen between them."""
    deadline = time.monotonic() + budget_s
    while isinstance(step := next(steps), str) and time.monotonic() < deadline:
        pass
    return step


def _event(step: Found | str) -> ServerSentEvent:
    if isinstance(step, Found):
        passages = [PassageOut.of(p).model_dump() for p in step.passages]
        return ServerSentEvent(event="passages",
                               data=json.dumps({"passages": passages, "read_in_context": step.carried or None}))
    return ServerSentEvent(event="delta", data=json.dumps({"text": step}))


def _message(exc: Exception) -> str:
    if isinstance(exc, RagError):
        return str(exc)
    log.exception("unexpected error while streaming an answer")
    return "internal error; see the server log"
