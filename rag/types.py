"""The nouns of guides-qa: documents, chunks, scored passages and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unit:
    """A sentence or bullet item of a guide, with its place in the raw file.

    `text` is cleaned for display and embedding; `raw[start:end]` is its source.
    """

    section: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Document:
    """One corpus file, parsed into units under their section headings."""

    doc: str
    title: str
    edition: str | None
    sha256: str
    raw: str
    units: tuple[Unit, ...]


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Chunk:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})


@dataclass(frozen=True)
class ScoredChunk:
    """A chunk returned by a retriever, with its fused score (higher is better) and,
    where computed, the dense cosine and BM25 score behind it."""

    chunk: Chunk
    score: float
    dense: float | None = None
    lexical: float | None = None


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: the cited text and where it sits in the corpus."""

    n: int
    doc: str
    section: str
    text: str
    chunk_id: str
    score: float
    start: int
    end: int
    edition: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What a generator returns: text with [n] markers and the citations they point at."""

    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    generator: str = "extractive"
    notice: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_json() for c in self.citations],
            "generator": self.generator,
            "notice": self.notice,
        }
