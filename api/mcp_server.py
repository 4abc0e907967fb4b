"""An MCP server (`rag mcp`, stdio) so agent hosts can search the guides and ask them.

Two tools, built with the official `mcp` SDK: `search_guides` (ranked passages)
and `ask_guides` (a cited answer, or an abstention with the nearest passages).
Each returns readable text for the model and the same data as structured
content, validated against the tool's advertised output schema. Bad arguments
come back as tool errors (`isError`) that say what is wrong.
"""

# No `from __future__ import annotations`: the SDK reads the tools' signatures, whose
# annotations use the question-length limit of the service (a local of create_server).
from collections.abc import Callable
from typing import Annotated, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from api.schemas import MAX_HISTORY, MAX_K, CitationOut, PassageOut, source_label
from rag.core.errors import RagError
from rag.core.types import Turn
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


def create_server(service: QAService) -> MCPServer:
    """The MCP server over `service`'s index (loaded on the first call)."""
    server = MCPServer(
        "guides-qa",
        instructions="Cited answers and passages from the Essential Machine Learning Skills guides (2024 and 2026 editions).",
    )
    limit = service.settings.max_question_chars

    @server.tool(annotations=READ_ONLY)
    def search_guides(
        query: Annotated[str, Field(min_length=1, max_length=limit, description="What to look for")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages")] = 5,
    ) -> Annotated[CallToolResult, SearchOutput]:
        """Passages of the ML skills guides that best match QUERY, best first, with guide, edition and section."""
        passages = _run(lambda: service.engine.retriever.retrieve(_text(query), k=k))
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
        """Answer QUESTION from the ML skills guides: every claim marked [n] for citation n, or an honest
        "The guides don't cover this." with the nearest passages."""
        history = [Turn("user", q) for q in earlier_questions]
        result = _run(lambda: service.engine.pipeline.ask(_text(question), history=history))
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


def serve_stdio(service: QAService) -> None:
    """Serve over stdin/stdout until the host closes them (stdout carries only protocol messages)."""
    create_server(service).run("stdio")


def _text(value: str) -> str:
    if not value.strip():
        raise ToolError("the text is empty or only whitespace")
    return value


def _run(work: Callable[[], T]) -> T:
    """Run a query; an index or query problem becomes a tool error the host can show."""
    try:
        return work()
    except RagError as e:
        raise ToolError(str(e)) from e


def _result(text: str, data: BaseModel) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data.model_dump(mode="json"))
