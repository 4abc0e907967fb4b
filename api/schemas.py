"""Request and response bodies of the HTTP API (CONTRACTS §3, plus extra fields)."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from rag.core.types import ScoredChunk, Turn
from rag.pipeline import AskResult
from rag.query.cleaning import lone_surrogate, strip_control
from rag.retrieve.hybrid import Filters


class _Sourced(Protocol):
    doc: str
    edition: str | None
    section: str


def source_label(item: _Sourced) -> str:
    """Where a passage or citation comes from, for text replies: "notes.txt (2024 edition), Skills > MLOps"."""
    edition = f" ({item.edition} edition)" if item.edition else ""
    return f"{item.doc}{edition}, {item.section}"

MAX_K = 50
MAX_HISTORY = 20  # earlier turns a question may carry
#: The schema's ceiling on question and query length; RAG_MAX_QUESTION_CHARS may set a lower one.
MAX_TEXT_CHARS = 2000
MAX_FILTERS = 50
FilterName = Annotated[StrictStr, Field(min_length=1, max_length=200)]


def _whole_number(value: object) -> object:
    """JSON numbers only: 3 and 3.0 (the same integer to JSON Schema), not "3" or true."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    return value


def _valid_text(value: str) -> str:
    """Text the model's tokenizer and a JSON response can take: no lone surrogates."""
    surrogate = lone_surrogate(value)
    if surrogate is not None:
        raise ValueError(f"contains a lone surrogate ({surrogate}), which is not a character: send valid Unicode text")
    return value


def _searchable_text(value: str) -> str:
    """Valid text with something in it besides whitespace (the schema's `pattern`), cleaned of control codes.
    Text of nothing but control codes stays as it is: the pipeline abstains on it."""
    if not _SOMETHING.search(_valid_text(value)):
        raise ValueError("must not be empty or only whitespace")
    return strip_control(value) or value


# Python's \S, as the schema's `pattern` is read by Python validators and generators.
_SOMETHING = re.compile(r"\S")
_TEXT_SCHEMA = {"pattern": _SOMETHING.pattern}


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, ge=1, le=MAX_K, description="How many passages to retrieve")
    editions: list[FilterName] | None = Field(default=None, max_length=MAX_FILTERS,
                                              description="Only these guide editions, e.g. ['2026']")
    docs: list[FilterName] | None = Field(default=None, max_length=MAX_FILTERS, description="Only these corpus files")

    _check_k = field_validator("k", mode="before")(_whole_number)

    def filters(self) -> Filters | None:
        return Filters.of(self.docs, self.editions)


class TurnIn(BaseModel):
    """An earlier message of the conversation, oldest first."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: StrictStr = Field(max_length=20_000)

    _check = field_validator("content")(_valid_text)


class AskRequest(_Query):
    question: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra=_TEXT_SCHEMA,
                                description="A question about machine-learning skills")
    history: list[TurnIn] = Field(
        default=[], max_length=MAX_HISTORY, description="Earlier turns, oldest first: a follow-up question is read in their context"
    )

    _check = field_validator("question")(_searchable_text)

    def turns(self) -> list[Turn]:
        return [Turn(t.role, t.content) for t in self.history]


class SearchRequest(_Query):
    query: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra=_TEXT_SCHEMA,
                             description="What to look for")
    mode: Literal["dense", "bm25", "hybrid"] | None = Field(default=None, description="Retriever; default hybrid")

    _check = field_validator("query")(_searchable_text)


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

    @classmethod
    def of(cls, result: AskResult) -> AskResponse:
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
        )


class SearchResponse(BaseModel):
    results: list[PassageOut]
    timings: dict[str, float]


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
    pid: int | None = Field(default=None, description="The serving process (one of several under rag serve --workers)")


class RebuildResponse(BaseModel):
    status: str
