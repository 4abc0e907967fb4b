"""Request and response bodies of the HTTP API (CONTRACTS §3, plus extra fields)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from rag.core.types import ScoredChunk, Turn
from rag.index.freshness import Staleness
from rag.pipeline import AskResult
from rag.query import request
from rag.query.request import DEFAULT_K, MAX_HISTORY, MAX_K, MAX_MESSAGE_CHARS, MAX_TEXT_CHARS


class _Sourced(Protocol):
    doc: str
    edition: str | None
    section: str


def source_label(item: _Sourced) -> str:
    """Where a passage or citation comes from, for text replies: "notes.txt (2024 edition), Skills > MLOps"."""
    edition = f" ({item.edition} edition)" if item.edition else ""
    return f"{item.doc}{edition}, {item.section}"


MAX_FILTERS = 50
FilterName = Annotated[StrictStr, Field(min_length=1, max_length=200)]


def _whole_number(value: object) -> object:
    """JSON numbers only: 3 and 3.0 (the same integer to JSON Schema), not "3" or true."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    return value


def _question(value: str) -> str:
    """The request rule's checks and cleaning; the length ceiling is MAX_TEXT_CHARS here, the service's own
    (RAG_MAX_QUESTION_CHARS, which may be lower) is checked by the route."""
    return request.clean_question(value, what="the text")


def _message(value: str) -> str:
    return request.check_message(value)


# The schema's `pattern` is the request rule's content pattern: what the documentation accepts, the server accepts.
_TEXT_SCHEMA = {"pattern": request.CONTENT_PATTERN}


def with_valid_names(openapi: dict[str, Any], editions: Iterable[str], docs: Iterable[str]) -> dict[str, Any]:
    """The OpenAPI document with the editions and documents the index holds as the filters' `enum`: the
    request rule refuses any other name (rag.query.request.check_names), so the schema says so too."""
    names = {"editions": sorted(editions), "docs": sorted(docs)}
    for model in ("AskRequest", "SearchRequest"):
        properties = openapi["components"]["schemas"][model]["properties"]
        for field, valid in names.items():
            array = next(a for a in properties[field]["anyOf"] if a.get("type") == "array")
            array["items"]["enum"] = valid
    return openapi


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="How many passages to retrieve")
    editions: list[FilterName] | None = Field(default=None, max_length=MAX_FILTERS,
                                              description="Only these guide editions, e.g. ['2026']")
    docs: list[FilterName] | None = Field(default=None, max_length=MAX_FILTERS, description="Only these corpus files")

    _check_k = field_validator("k", mode="before")(_whole_number)


class TurnIn(BaseModel):
    """An earlier message of the conversation, oldest first."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: StrictStr = Field(max_length=MAX_MESSAGE_CHARS)

    _check = field_validator("content")(_message)


class AskRequest(_Query):
    question: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra=_TEXT_SCHEMA,
                                description="A question about the guides")
    history: list[TurnIn] = Field(
        default=[], max_length=MAX_HISTORY, description="Earlier turns, oldest first: a follow-up question is read in their context"
    )

    _check = field_validator("question")(_question)

    def turns(self) -> list[Turn]:
        return [Turn(t.role, t.content) for t in self.history]


class SearchRequest(_Query):
    query: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra=_TEXT_SCHEMA,
                             description="What to look for")
    mode: Literal["dense", "bm25", "hybrid"] | None = Field(default=None, description="Retriever; default hybrid")

    _check = field_validator("query")(_question)


class PassageOut(BaseModel):
    doc: str
    section: str
    text: str
    chunk_id: str
    score: float
    edition: str | None = None
    start: int
    end: int

    @classmethod
    def of(cls, p: ScoredChunk) -> PassageOut:
        c = p.chunk
        return cls(doc=c.doc, section=c.section, text=c.text, chunk_id=c.chunk_id, score=p.score,
                   edition=c.edition, start=c.start, end=c.end)


class QuoteOut(BaseModel):
    text: str
    start: int
    end: int


class CitationOut(PassageOut):
    """A cited passage: `[n]` in the answer; `quotes` are the sentences the answer used."""

    n: int
    quotes: list[QuoteOut] = []


class StaleIndexOut(BaseModel):
    """The corpus files that differ from what the index was built from: the index is older than the corpus."""

    message: str
    added: list[str]
    changed: list[str]
    removed: list[str]

    @classmethod
    def of(cls, staleness: Staleness) -> StaleIndexOut | None:
        return cls.model_validate(staleness.to_json()) if staleness.stale else None


_STALE = "Set when the index is older than the corpus (files changed, added or removed since it was built); null when current"


class AskResponse(BaseModel):
    answer: str
    abstained: bool
    citations: list[CitationOut]
    nearest: list[PassageOut] = Field(default=[], description="When abstaining: the closest passages found")
    generator: str
    notice: str | None = None
    read_in_context: str | None = Field(
        default=None, description="For a follow-up: what it was read with from the earlier questions, its topic "
                                  "and edition (\"vector databases (the 2024 guide)\"); null when it stands alone")
    timings: dict[str, float]
    stale_index: StaleIndexOut | None = Field(default=None, description=_STALE)

    @classmethod
    def of(cls, result: AskResult, staleness: Staleness | None = None) -> AskResponse:
        answer = result.answer
        return cls(
            answer=answer.answer,
            abstained=answer.abstained,
            citations=[CitationOut.model_validate(c.to_json()) for c in answer.citations],
            nearest=[PassageOut.of(p) for p in result.passages[:3]] if answer.abstained else [],
            generator=answer.generator,
            notice=answer.notice,
            read_in_context=result.carried or None,
            timings=result.timings,
            stale_index=StaleIndexOut.of(staleness) if staleness else None,
        )


class SearchResponse(BaseModel):
    results: list[PassageOut]
    timings: dict[str, float]


class GuideOut(BaseModel):
    doc: str
    title: str
    edition: str | None = None
    series: str = ""


class HealthResponse(BaseModel):
    status: str
    model: str
    chunk_count: int
    built_at: str
    documents: list[str]
    faiss_index: str
    generator: str
    query_encoder: str = Field(description="What encodes questions: torch, or onnx-int8 (RAG_QUERY_ENCODER)")
    queue_depth: int = Field(description="Questions waiting for the query encoder now")
    rebuild_running: bool
    last_rebuild: dict | None = None
    stale_index: StaleIndexOut | None = Field(default=None, description=_STALE)
    guides: list[GuideOut] = Field(default=[], description="The guides the index holds: file, title, edition")
    pid: int | None = Field(default=None, description="The serving process (one of several under rag serve --workers)")


class RebuildResponse(BaseModel):
    status: str
