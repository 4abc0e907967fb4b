"""The nouns of guides-qa: documents, chunks, scored passages and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Span:
    """A character range `[start, end)` of a text."""

    start: int
    end: int


@dataclass(frozen=True)
class Unit:
    """A sentence or bullet item of a guide, with its place in the raw file.

    `text` is cleaned for display and embedding; `raw[start:end]` is its source.
    """

    section: str
    start: int
    end: int
    text: str
    filler: str | None = None  # the filler rule of the guide's profile that marks it, if any
    # Where it sits in its guide: the paragraph or list it belongs to (numbered in reading order)
    # and, in a list, the item (numbered within the list; -1 outside lists).
    block: int = -1
    item: int = -1


@dataclass(frozen=True)
class Document:
    """One corpus file, parsed into units under their section headings."""

    doc: str
    title: str
    edition: str | None
    sha256: str
    raw: str
    units: tuple[Unit, ...]
    # The guides that are editions of one another share a series (rag.ingest.metadata).
    series: str = ""


@dataclass(frozen=True)
class Quote:
    """A sentence an answer took from a cited passage; `raw[start:end]` is its source."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: consecutive units of one section of one guide."""

    chunk_id: str
    doc: str
    section: str
    text: str
    start: int
    end: int
    title: str = ""
    edition: str | None = None
    series: str = ""
    # Per sentence: (start, end) in `text`, then (start, end) in the raw file.
    sentences: tuple[tuple[int, int, int, int], ...] = ()
    # Per sentence: the filler rule (of the guide's profile) that keeps it out of answers, or None.
    filler: tuple[str | None, ...] = ()

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its deep copy was half the time of a build's writing (all fields are immutable).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Chunk:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        fields["sentences"] = tuple(tuple(s) for s in fields.get("sentences", ()))
        fields["filler"] = tuple(fields.get("filler", ()))
        return cls(**fields)

    def quotes(self) -> list[Quote]:
        """The chunk's sentences, each with its raw offsets."""
        return [Quote(self.text[a:b], start, end) for a, b, start, end in self.sentences]


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk returned by a retriever, with its fused score (higher is better) and,
    where computed, the dense cosine and BM25 score behind it, and the query's cosine
    with each of its sentences (in `chunk.quotes()` order).

    `dense` and the sentence cosines are those of the vector searched with, which a fitted
    query map (rag.retrieve.query_map) moves to rank evidence first when `mapped`;
    `plain_dense` is the cosine of the question as encoded, an absolute closeness the
    decline thresholds keep."""

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None
    sentence_scores: tuple[float, ...] = ()
    plain_dense: float | None = None
    mapped: bool = False


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the cited passage, where it sits in the corpus,
    and the sentences of it the answer used (empty when the generator does not say)."""

    n: int
    doc: str
    section: str
    text: str
    chunk_id: str
    score: float
    start: int
    end: int
    edition: str | None = None
    quotes: tuple[Quote, ...] = ()

    @classmethod
    def of(cls, n: int, passage: ScoredChunk, quotes: tuple[Quote, ...] = ()) -> Citation:
        c = passage.chunk
        return cls(n, c.doc, c.section, c.text, c.chunk_id, passage.score, c.start, c.end, c.edition, quotes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Turn:
    """One earlier message of a conversation: `role` is "user" or "assistant"."""

    role: str
    content: str


@dataclass
class Answer:
    """What a generator returns: text with [n] markers and the citations they point at."""

    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    generator: str = "extractive"
    notice: str | None = None
    # Generated sentences (not quotes) put to the edition check (rag.answer.attribution), and those it dropped.
    checked_sentences: int = 0
    failed_sentences: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "generator": self.generator,
            "notice": self.notice,
        }


class QueryEncoder(Protocol):
    """What retrieval needs of an encoder: the model itself, its int8 twin, or the batching worker."""

    def encode_queries(self, queries: list[str]) -> np.ndarray: ...
