"""OpenAI-compatible `GET /v1/models` and `POST /v1/chat/completions` (CONTRACTS §3).

Chat front ends and the `openai` SDK work unchanged against model `guides-qa`: the
last user message is the question, the earlier user and assistant messages are
its conversation (a follow-up is read in their context, see rag.query.conversation).
The reply's content is the answer with its `[n]` markers and a short "Sources"
list; the `/ask` citations ride along as an extra top-level field `citations`.

Errors use OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, so a
client shows the message: the body is parsed here rather than by FastAPI, whose
validation errors have the service's own shape. Parameters that only tune an LLM
(temperature, max_tokens, user, stream_options' extras…) are accepted and ignored.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from api.deps import Service
from api.errors import UNSUPPORTED_MEDIA, headers_of, is_json, openai_error, openai_error_responses, status_of
from api.schemas import CitationOut, source_label
from api.stream import CLIENT_GONE, result_unless_gone
from rag.answer.streaming import Found
from rag.core.errors import RagError
from rag.core.text import count_tokens
from rag.core.types import Citation, Turn
from rag.pipeline import AskResult
from rag.query import request as rules

MODEL_ID = "guides-qa"
CREATED = 1767225600  # 2026-01-01: when the model id was first served; fixed, as OpenAI's are

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls… are accepted and ignored

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, top_p, max_tokens, user, seed…: ignored

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    n: int | None = None
    stream_options: StreamOptions | None = None


class ChatError(Exception):
    """A client error, reported in OpenAI's error shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers

    @classmethod
    def of(cls, exc: RagError) -> ChatError:
        """A library error at its status in the one table (api.errors.STATUS), OpenAI's 400 for an invalid request."""
        status = status_of(exc)
        return cls(400 if status == 422 else status, str(exc), headers=headers_of(exc))

    def response(self) -> JSONResponse:
        return openai_error(self.status, self.message, self.param, self.code, self.headers)


@router.get("/models", summary="The one model served (OpenAI list format)")
def list_models() -> dict[str, Any]:
    return {"object": "list", "data": [_model_card()]}


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with its `$defs` written in place, to sit inside the OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        return [resolve(item) for item in node] if isinstance(node, list) else node

    return resolve(schema)


@router.get("/models/{model}", summary="One model (OpenAI format)", responses=openai_error_responses(404))
def retrieve_model(model: str) -> Any:
    if model != MODEL_ID:
        return _unknown_model(model).response()
    return _model_card()


@router.post(
    "/chat/completions",
    summary="Answer the last user message, in context (OpenAI Chat Completions)",
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}, **openai_error_responses(400, 404, 413, 415, 503)},
    # The body is parsed in the route (errors in OpenAI's shape), so its schema is declared here.
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _inline(ChatRequest)}}}},
)
async def chat_completions(request: Request, service: Service) -> Any:
    try:
        if not is_json(request.headers.get("content-type")):
            raise ChatError(415, UNSUPPORTED_MEDIA, code="unsupported_media_type")
        chat = _parse(await request.body())
        question, history = _conversation(chat, service.settings.max_question_chars)
        steps = service.engine.pipeline.steps(question, history=history)  # live: a hang-up stops an LLM at once
        await run_in_threadpool(next, steps)  # retrieval (Found) runs before any reply is sent
    except ChatError as e:
        return e.response()
    except RagError as e:
        return ChatError.of(e).response()
    completion = Completion(question)
    if chat.stream:
        include_usage = chat.stream_options is not None and chat.stream_options.include_usage
        return EventSourceResponse(_chunks(completion, steps, request, include_usage), sep="\n")
    result = await result_unless_gone(steps, request)
    return completion.whole(result) if result is not None else Response(status_code=CLIENT_GONE)


class Completion:
    """One reply's identity and the OpenAI objects that carry it."""

    def __init__(self, question: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.question = question

    def whole(self, result: AskResult) -> dict[str, Any]:
        """The non-streaming `chat.completion`."""
        content = result.answer.answer + sources(result.answer.citations)
        message = {"role": "assistant", "content": content, "refusal": None}
        return {
            **self._head("chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": self.usage(content),
            **_extras(result),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> ServerSentEvent:
        """One `chat.completion.chunk` event carrying `delta`."""
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return self._event([choice], **extra)

    def usage_chunk(self, content: str) -> ServerSentEvent:
        """The last chunk when the client asked for usage (`stream_options.include_usage`): no choices."""
        return self._event([], usage=self.usage(content))

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> ServerSentEvent:
        body = {**self._head("chat.completion.chunk"), "choices": choices, **extra}
        return ServerSentEvent(data=json.dumps(body, ensure_ascii=False))

    def usage(self, content: str) -> dict[str, int]:
        prompt, completion = count_tokens(self.question), count_tokens(content)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": MODEL_ID, "system_fingerprint": None}


async def _chunks(
    completion: Completion, steps: Iterator[Found | str | AskResult], request: Request, include_usage: bool
) -> AsyncIterator[ServerSentEvent]:
    """The role, the answer's deltas as the pipeline writes them, the Sources, the stop, [DONE].
    The passages found are not part of OpenAI's stream; the citations come with the stop."""
    yield completion.chunk({"role": "assistant", "content": ""})
    text: list[str] = []
    try:
        step = await run_in_threadpool(next, steps)
        while isinstance(step, str):
            text.append(step)
            yield completion.chunk({"content": step})
            if await request.is_disconnected():
                return
            step = await run_in_threadpool(next, steps)
        tail = sources(step.answer.citations)
        if tail:
            yield completion.chunk({"content": tail})
        yield completion.chunk({}, "stop", **_extras(step))
        if include_usage:
            yield completion.usage_chunk("".join(text) + tail)
        yield ServerSentEvent(data="[DONE]")
    except Exception as e:  # the status line is sent: OpenAI reports a late failure as an error event
        message = str(e) if isinstance(e, RagError) else "internal error; see the server log"
        yield ServerSentEvent(data=json.dumps({"error": {"message": message, "type": "server_error", "param": None,
                                                         "code": None}}))
    finally:
        steps.close()


def sources(citations: list[Citation]) -> str:
    """The short list that follows the answer: guide, edition and section of each [n]."""
    if not citations:
        return ""
    lines = [f"- [{c.n}] {source_label(c)}" for c in citations]
    return "\n\nSources:\n" + "\n".join(lines)


def _extras(result: AskResult) -> dict[str, Any]:
    """The fields beyond OpenAI's: the /ask citations, and whether the answer abstained."""
    answer = result.answer
    return {"citations": [CitationOut.model_validate(c.to_json()).model_dump() for c in answer.citations],
            "abstained": answer.abstained}


def _parse(raw: bytes) -> ChatRequest:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChatError(400, f"the body is not valid JSON: {e}", code="invalid_json") from e
    except RecursionError as e:
        raise ChatError(400, "the body is not valid JSON: nested too deeply", code="invalid_json") from e
    try:
        chat = ChatRequest.model_validate(body)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ChatError(400, f"{where or 'body'}: {error['msg']}", param=where or None) from e
    if chat.model != MODEL_ID:
        raise _unknown_model(chat.model)
    if chat.n not in (None, 1):
        raise ChatError(400, f"n must be 1: guides-qa writes one answer, not {chat.n}", param="n")
    return chat


def _conversation(chat: ChatRequest, max_chars: int) -> tuple[str, list[Turn]]:
    """The question (the last message, a user's) and the earlier user/assistant turns, by the request rule
    (rag.query.request): every message is checked, the question is cleaned, the latest turns are kept."""
    *earlier, last = chat.messages
    try:
        for i, message in enumerate(chat.messages):
            rules.check_message(message.text(), f"messages[{i}]")
        if last.role != "user":
            raise ChatError(400, "the last message must be a user message: it is the question", param="messages")
        question = rules.clean_question(last.text(), max_chars)
    except rules.InvalidRequestError as e:
        raise ChatError(400, str(e), param="messages") from e
    turns = [Turn(m.role, m.text()) for m in earlier if m.role in ("user", "assistant") and m.text().strip()]
    return question, rules.recent_turns(turns)


def _unknown_model(model: str) -> ChatError:
    return ChatError(404, f"The model `{model}` does not exist: this server has only `{MODEL_ID}`.",
                     param="model", code="model_not_found")


def _model_card() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": CREATED, "owned_by": "guides-qa"}
