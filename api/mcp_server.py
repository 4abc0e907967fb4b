"""An MCP server (`rag mcp`, stdio) so agent hosts can search the guides and ask them.

Two tools, built with the official `mcp` SDK: `search_guides` (ranked passages)
and `ask_guides` (a cited answer, or an abstention with the nearest passages).
Each returns readable text for the model and the same data as structured
content, validated against the tool's advertised output schema. Bad arguments
come back as tool errors (`isError`) that say what is wrong, by the request
rule every surface uses (rag.query.request), without pydantic's documentation
links. A line on stdin that is not a JSON-RPC message (malformed JSON, a lone
surrogate) gets a JSON-RPC error reply instead of silence.
"""

# No `from __future__ import annotations`: the SDK reads the tools' signatures, whose
# annotations use the question-length limit of the service (a local of create_server).
import json
import os
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, TypeVar

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp.types import (
    INVALID_REQUEST,
    PARSE_ERROR,
    CallToolResult,
    ErrorData,
    JSONRPCError,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field, ValidationError

from api.schemas import CitationOut, PassageOut, source_label
from rag.core.errors import RagError
from rag.core.types import Turn
from rag.query import request as rules
from rag.query.request import MAX_HISTORY, MAX_K
from rag.service import QAService

T = TypeVar("T")
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


class SearchOutput(BaseModel):
    results: list[PassageOut]


class AskOutput(BaseModel):
    answer: str
    abstained: bool
    citations: list[CitationOut]
    nearest: list[PassageOut] = Field(default=[], description="When abstaining: the closest passages found")


def _topic(service: QAService) -> str:
    """The indexed guides' titles (the index is loaded here when it can be; else a neutral phrase)."""
    try:
        return service.engine.index.outline.topic()
    except RagError:
        return "the guides in this index"


def create_server(service: QAService) -> MCPServer:
    """The MCP server over `service`'s index (loaded on the first call)."""
    server = MCPServer(
        "guides-qa",
        version=project_version(),
        instructions=f"Cited answers and passages from these guides: {_topic(service)}.",
    )
    limit = service.settings.max_question_chars

    @server.tool(annotations=READ_ONLY)
    def search_guides(
        query: Annotated[str, Field(min_length=1, max_length=limit, description="What to look for")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages")] = 5,
    ) -> Annotated[CallToolResult, SearchOutput]:
        """Passages of the guides that best match QUERY, best first, with guide, edition and section."""
        passages = _run(lambda: service.engine.retriever.retrieve(rules.clean_question(query, limit, "the query"), k=k))
        found = SearchOutput(results=[PassageOut.of(p) for p in passages])
        text = "\n\n".join(f"{i}. {source_label(p)}\n{p.text}" for i, p in enumerate(found.results, start=1))
        return _result(text or "No passages found.", found)

    @server.tool(annotations=READ_ONLY)
    def ask_guides(
        question: Annotated[str, Field(min_length=1, max_length=limit, description="A question about ML skills")],
        earlier_questions: Annotated[list[Annotated[str, Field(max_length=limit)]], Field(
            max_length=MAX_HISTORY,
            description="The user's earlier questions in this conversation, oldest first: a follow-up such as "
                        "'Which ones does it name?' is read in their context",
        )] = [],  # noqa: B006 - never mutated
    ) -> Annotated[CallToolResult, AskOutput]:
        """Answer QUESTION from the guides: every claim marked [n] for citation n, or an honest
        "The guides don't cover this." with the nearest passages."""
        result = _run(lambda: service.engine.pipeline.ask(
            rules.clean_question(question, limit), history=rules.recent_turns([Turn("user", q) for q in earlier_questions])))
        answer = result.answer
        asked = AskOutput(
            answer=answer.answer,
            abstained=answer.abstained,
            citations=[CitationOut.model_validate(c.to_json()) for c in answer.citations],
            nearest=[PassageOut.of(p) for p in result.passages[:3]] if answer.abstained else [],
        )
        sources = [f"[{c.n}] {source_label(c)}\n{c.text}" for c in asked.citations] or [
            f"nearest: {source_label(p)}\n{p.text}" for p in asked.nearest
        ]
        return _result("\n\n".join([answer.answer, *sources]), asked)

    return server


def project_version() -> str:
    try:
        return version("guides-qa")
    except PackageNotFoundError:
        return "0+unknown"


def serve_stdio(service: QAService) -> None:
    """Serve over stdin/stdout until the host closes them (stdout carries only protocol messages)."""
    # The SDK reports invalid arguments with pydantic's message, which links pydantic's documentation by default.
    os.environ["PYDANTIC_ERRORS_INCLUDE_URL"] = "0"
    anyio.run(_serve_stdio, create_server(service))


async def _serve_stdio(server: MCPServer) -> None:
    """The SDK's own stdio serving (MCPServer.run_stdio_async), with a line it cannot read answered by a
    JSON-RPC error: the SDK's transport hands such a line on as an exception, which its session drops."""
    lowlevel = server._lowlevel_server  # the SDK has no public way to run with a filtered read stream
    async with stdio_server() as (read_stream, write_stream):
        checked_writer, checked = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def relay() -> None:
            async with checked_writer:
                async for item in read_stream:
                    if isinstance(item, ValidationError):
                        await write_stream.send(SessionMessage(unreadable_reply(item)))
                    else:
                        await checked_writer.send(item)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(relay)
            await lowlevel.run(checked, write_stream, lowlevel.create_initialization_options())
            tasks.cancel_scope.cancel()


def unreadable_reply(exc: ValidationError) -> JSONRPCError:
    """The JSON-RPC error for a line that is not a JSON-RPC message, to the request's id when it has one."""
    problem = exc.errors(include_url=False)[0]
    kind, code = ("parse error", PARSE_ERROR) if problem["type"] == "json_invalid" else ("invalid request", INVALID_REQUEST)
    where = ".".join(str(p) for p in problem["loc"])
    message = f"{kind}: {where + ': ' if where else ''}{problem['msg']}"
    return JSONRPCError(jsonrpc="2.0", id=_request_id(problem.get("input")), error=ErrorData(code=code, message=message))


def _request_id(line_or_message: Any) -> int | str | None:
    message = line_or_message
    if isinstance(message, str):
        try:
            message = json.loads(message)  # Python's parser takes the lone surrogates pydantic's refuses
        except ValueError:
            return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return request_id if isinstance(request_id, (str, int)) and not isinstance(request_id, bool) else None


def _run(work: Callable[[], T]) -> T:
    """Run a query; an index or query problem becomes a tool error the host can show."""
    try:
        return work()
    except RagError as e:
        raise ToolError(str(e)) from e


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data.model_dump(mode="json"))
