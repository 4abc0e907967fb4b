"""Find passages: dense (FAISS), lexical (BM25), or both fused, without near-duplicates."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import chain
from typing import Literal, Protocol

import numpy as np

from rag.core.types import Chunk, QueryEncoder, ScoredChunk
from rag.index.store import Index
from rag.query.editions import edition_references, preferred_edition, spans_editions, without_edition_references
from rag.retrieve.query_map import QueryMap

FusionMethod = Literal["rrf", "weighted"]
RetrievalMode = Literal["dense", "bm25", "hybrid"]

# Candidates taken from each side before fusion. Fused ranks depend on the pool, so a
# pool that does not shrink with k keeps the top passages the same for any k up to 40:
# what /ask answers from is what `rag eval` (40 passages a question) scores.
MIN_CANDIDATES = 400


@dataclass(frozen=True)
class Filters:
    """Restrict results to some guides (file names), editions (years) or sections ((file, heading path))."""

    docs: frozenset[str] | None = None
    editions: frozenset[str] | None = None
    sections: frozenset[tuple[str, str]] | None = None

    @classmethod
    def of(cls, docs: Iterable[str] | None = None, editions: Iterable[str] | None = None) -> Filters | None:
        """Filters from optional lists; None when neither restricts anything."""
        docs, editions = frozenset(docs or ()), frozenset(editions or ())
        if not docs and not editions:
            return None
        return cls(docs=docs or None, editions=editions or None)

    def accepts(self, chunk: Chunk) -> bool:
        return (
            (self.docs is None or chunk.doc in self.docs)
            and (self.editions is None or chunk.edition in self.editions)
            and (self.sections is None or (chunk.doc, chunk.section) in self.sections)
        )


class Retriever(Protocol):
    def retrieve(self, query: str, k: int = 10, filters: Filters | None = None) -> list[ScoredChunk]: ...


@dataclass(frozen=True)
class _Candidates:
    rows: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    sentences: list[np.ndarray]  # per row, the cosine of each sentence; empty without a dense side
    plain: np.ndarray  # `dense` of the question's own vector, before the query map
    mapped: bool = False  # the query map moved the vector searched with


class HybridRetriever:
    """Dense + BM25 retrieval over one index, fused by weighted scores or reciprocal rank.

    Dense candidates come from FAISS over chunk vectors; each candidate's dense
    score then mixes its chunk cosine with its best sentence's (`sentence_weight`).

    Weighted fusion min-max normalises both score lists over the union of the
    candidates, then mixes them: `w * dense + (1 - w) * bm25`. RRF sums
    `1 / (rrf_k + rank)` over the two rankings. `mode` "dense" or "bm25" uses one side.
    A fitted `query_map` (rag.retrieve.query_map) moves the question's vector before the dense side,
    when the question's nearest passage is in a guide the map knows.
    """

    def __init__(
        self,
        index: Index,
        embedder: QueryEncoder,
        mode: RetrievalMode = "hybrid",
        fusion: FusionMethod = "weighted",
        dense_weight: float = 0.5,
        rrf_k: int = 60,
        dedup_overlap: float = 0.5,
        sentence_weight: float = 0.5,
        query_map: QueryMap | None = None,
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.mode = mode
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.rrf_k = rrf_k
        self.dedup_overlap = dedup_overlap
        self.sentence_weight = sentence_weight
        self.query_map = query_map

    def retrieve(self, query: str, k: int = 10, filters: Filters | None = None) -> list[ScoredChunk]:
        """The k best passages for `query`, best first, without near-duplicates. When the query
        names one guide edition ("the 2024 guide"), that edition's passages come first. A query
        about several editions keeps each edition's copy of a passage, however alike: what
        differs between them ("every 150 km" / "every 200 km") is what it asks."""
        topic = without_edition_references(query)
        ranked: Iterator[ScoredChunk] = (r for r in self.rank(topic, max(MIN_CANDIDATES, 10 * k)) if filters is None or filters.accepts(r.chunk))
        if edition_references(query):
            top = next(ranked, None)
            ranked = chain([top] if top else [], ranked)
            edition = self._preferred_edition(query, top)
            if edition is not None:
                return _distinct(_edition_first(ranked, edition), k, self.dedup_overlap)
        return _distinct(ranked, k, self.dedup_overlap, across_guides=not spans_editions(query))

    def _preferred_edition(self, query: str, top: ScoredChunk | None) -> str | None:
        """The edition `query` names. "The newer guide" is read among the editions of the series the
        best passage for its topic is in (an index may hold several guides, each with its editions),
        a year among those and then among every edition."""
        own = self.index.outline.editions(top.chunk.series) if top is not None else frozenset()
        return preferred_edition(query, own) or preferred_edition(query, self.index.editions)

    def rank(self, query: str, candidates: int) -> Iterator[ScoredChunk]:
        """Every candidate (up to `candidates` from each side) in fused order, duplicates included."""
        found = self._candidates(query, candidates)
        fused = self._fuse(found)
        for i in np.argsort(-fused, kind="stable"):
            yield ScoredChunk(
                chunk=self.index.chunks[found.rows[i]],
                score=float(fused[i]),
                dense=float(found.dense[i]),
                plain_dense=float(found.plain[i]),
                mapped=found.mapped,
                lexical=float(found.lexical[i]),
                sentence_scores=tuple(found.sentences[i].tolist()) if found.sentences else (),
            )

    def _candidates(self, query: str, n: int) -> _Candidates:
        rows: set[int] = set()
        query_vectors, mapped = None, False
        if self.mode != "bm25":
            query_vectors, mapped, dense_rows = self._dense_search(query, n)
            rows.update(int(r) for r in dense_rows if r >= 0)
        lexical_all = self.index.bm25.scores(query) if self.mode != "dense" else None
        if lexical_all is not None:
            top = np.argpartition(-lexical_all, min(n, len(lexical_all) - 1))[:n]
            rows.update(int(r) for r in top if lexical_all[r] > 0)
        row_array = np.fromiter(sorted(rows), dtype=np.int64)
        lexical = lexical_all[row_array] if lexical_all is not None else np.zeros(len(row_array))
        if query_vectors is None:
            none = np.zeros(len(row_array))
            return _Candidates(row_array, none, lexical.astype(np.float64), [], none)
        dense, sentences = self._dense_scores(query_vectors, row_array)
        # Column 0: the vector searched with; the last: the question's own (the same one when not mapped).
        return _Candidates(row_array, dense[:, 0].astype(np.float64), lexical.astype(np.float64),
                           [s[:, 0] for s in sentences], dense[:, -1].astype(np.float64), mapped)

    def _dense_search(self, query: str, n: int) -> tuple[np.ndarray, bool, np.ndarray]:
        """The vectors to score with (the moved one then the question's own, or the question's alone),
        whether the query map moved the question, and the n rows found. The map moves a question whose
        nearest passage (by its own vector) is in a guide the map knows; both are searched in one call."""
        vector = self.embedder.encode_queries([query])[0]
        if self.query_map is None:
            return vector[None, :], False, self.index.dense_search(vector[None, :], n)[1][0]
        moved = self.query_map(vector)
        found = self.index.dense_search(np.stack([vector, moved]).astype(np.float32), n)[1]
        nearest = int(found[0, 0])
        if nearest >= 0 and self.query_map.knows(self.index.chunks[nearest].series):
            return np.stack([moved, vector]), True, found[1]
        return vector[None, :], False, found[0]

    def _dense_scores(self, query_vectors: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Cosine of the whole chunk mixed with that of its best sentence: a fact stated in
        one sentence is found even when the rest of its chunk is about something else.
        The sentences' cosines are kept: the generator scores sentences with them.
        One column per query vector."""
        whole = self.index.vectors[rows] @ query_vectors.T
        best, sentences = self.index.sentence_scores(query_vectors.T, rows)
        return (1 - self.sentence_weight) * whole + self.sentence_weight * best, sentences

    def _fuse(self, c: _Candidates) -> np.ndarray:
        if self.mode == "dense":
            return c.dense
        if self.mode == "bm25":
            return c.lexical
        if self.fusion == "rrf":
            return _reciprocal_rank(c.dense, self.rrf_k) + _reciprocal_rank(c.lexical, self.rrf_k)
        return self.dense_weight * _min_max(c.dense) + (1 - self.dense_weight) * _min_max(c.lexical)


def _edition_first(ranked: Iterable[ScoredChunk], edition: str) -> list[ScoredChunk]:
    """The edition's passages ahead of the rest, each group in its own order. Their scores
    are raised by the spread of all scores, so scores still fall down the list."""
    passages = list(ranked)
    lift = max((r.score for r in passages), default=0.0) - min((r.score for r in passages), default=0.0)
    preferred = [replace(r, score=r.score + lift) for r in passages if r.chunk.edition == edition]
    return preferred + [r for r in passages if r.chunk.edition != edition]


def _min_max(scores: np.ndarray) -> np.ndarray:
    if len(scores) == 0:
        return scores
    low, high = scores.min(), scores.max()
    return (scores - low) / (high - low) if high > low else np.zeros_like(scores)


def _reciprocal_rank(scores: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return 1.0 / (k + ranks)


def _distinct(ranked: Iterable[ScoredChunk], k: int, max_overlap: float, across_guides: bool = True) -> list[ScoredChunk]:
    """Take the first k passages, skipping any that mostly repeat what is already taken:
    overlapping windows of the same guide, or (`across_guides`) the same text in another edition."""
    kept: list[ScoredChunk] = []
    for result in ranked:
        if len(kept) == k:
            break
        if not _repeats(result.chunk, [r.chunk for r in kept], max_overlap, across_guides):
            kept.append(result)
    return kept


def _repeats(chunk: Chunk, kept: list[Chunk], max_overlap: float, across_guides: bool = True) -> bool:
    """True when more than `max_overlap` of the chunk's characters are in kept chunks of its
    guide, or (`across_guides`) when nearly all its words are in one kept chunk of another guide."""
    covered = _covered_chars(chunk, [c for c in kept if c.doc == chunk.doc])
    if covered > max_overlap * (chunk.end - chunk.start):
        return True
    words = _words(chunk.text)
    return across_guides and len(words) >= 8 and any(
        len(words & _words(c.text)) >= 0.9 * min(len(words), len(_words(c.text))) for c in kept if c.doc != chunk.doc
    )


def _covered_chars(chunk: Chunk, others: list[Chunk]) -> int:
    """Characters of `chunk`'s raw range that lie inside any of `others`' ranges."""
    ranges = sorted((max(o.start, chunk.start), min(o.end, chunk.end)) for o in others)
    covered, reach = 0, chunk.start
    for start, end in ranges:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered


@lru_cache(maxsize=4096)
def _words(text: str) -> frozenset[str]:
    # Cached: the duplicate check compares each candidate with every passage kept so far.
    return frozenset(re.findall(r"[a-z0-9]+", text.lower()))
