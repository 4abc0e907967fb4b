"""Request and response bodies of the HTTP API (CONTRACTS §3, plus extra fields)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from rag.pipeline import AskResult
from rag.retrieval import Filters
from rag.types import ScoredChunk, Turn

MAX_K = 50


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=10, ge=1, le=MAX_K, strict=True, description="How many passages to retrieve")
    editions: list[StrictStr] | None = Field(default=None, description="Only these guide editions, e.g. ['2026']")
    docs: list[StrictStr] | None = Field(default=None, description="Only these corpus files")

    def filters(self) -> Filters | None:
        return Filters.of(self.docs, self.editions)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


class TurnIn(BaseModel):
    """An earlier message of the conversation, oldest first."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: StrictStr = Field(max_length=20_000)


class AskRequest(_Query):
    question: StrictStr = Field(description="A question about machine-learning skills")
    history: list[TurnIn] = Field(
        default=[], max_length=20, description="Earlier turns, oldest first: a follow-up question is read in their context"
    )

    _check = field_validator("question")(_not_blank)

    def turns(self) -> list[Turn]:
        return [Turn(t.role, t.content) for t in self.history]


class SearchRequest(_Query):
    query: StrictStr = Field(description="What to look for")
    mode: Literal["dense", "bm25", "hybrid"] | None = Field(default=None, description="Retriever; default hybrid")

    _check = field_validator("query")(_not_blank)


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
    rebuild_running: bool
    last_rebuild: dict | None = None


class RebuildResponse(BaseModel):
    status: str
