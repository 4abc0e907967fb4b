"""The default generator: an answer made of the guides' own sentences, each cited.

Offline and deterministic. It scores every sentence of the retrieved passages
against the question (embedding similarity plus shared terms, nudged by the
passage's rank), keeps the best few that are not near-duplicates, and marks each
with its passage's [n]. Editions come in order, and within one the passage with
the best sentence comes first, its sentences in reading order. When the
sentences come from both editions it says which edition says what.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rag.bm25 import BM25Settings, tokenize
from rag.editions import spans_editions, without_edition_references
from rag.embedding import Embedder
from rag.types import Answer, Citation, Quote, ScoredChunk

_SETTINGS = BM25Settings()
SentenceVectors = Callable[[str], "np.ndarray | None"]


@dataclass(frozen=True)
class _Sentence:
    passage: int
    quote: Quote
    score: float


class ExtractiveGenerator:
    """Picks the sentences that best answer the question from the top passages."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        max_sentences: int = 8,
        max_chars: int = 900,
        relative_floor: float = 0.5,
        passages_used: int = 3,
        term_weight: float = 0.3,
        rank_penalty: float = 0.06,
        new_passage_gap: float = 0.15,
        stored_vectors: SentenceVectors | None = None,
    ) -> None:
        self.embedder = embedder
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.relative_floor = relative_floor
        self.passages_used = passages_used
        self.term_weight = term_weight
        self.rank_penalty = rank_penalty
        self.new_passage_gap = new_passage_gap
        self.stored_vectors = stored_vectors

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        sentences = self._score(without_edition_references(question), passages[: self.passages_used])
        open_passages = _best_per_edition(sentences, passages) if spans_editions(question) else set()
        return _compose(self._pick(sentences, open_passages), passages)

    def _score(self, question: str, passages: list[ScoredChunk]) -> list[_Sentence]:
        quotes = [(i, j, q) for i, p in enumerate(passages) for j, q in enumerate(p.chunk.quotes()) if _is_content(q.text)]
        if not quotes:
            return []
        similarity = self._similarity(question, passages, quotes)
        question_terms, *sentence_terms = tokenize([question] + [q.text for _, _, q in quotes], _SETTINGS)
        terms = set(question_terms)
        sentences = []
        for (i, _, quote), sim, words in zip(quotes, similarity, sentence_terms):
            shared = len(terms & set(words)) / max(len(terms), 1)
            sentences.append(_Sentence(i, quote, float(sim) + self.term_weight * shared - self.rank_penalty * i))
        return sentences

    def _similarity(self, question: str, passages: list[ScoredChunk], quotes: list[tuple[int, int, Quote]]) -> np.ndarray:
        """Cosine of the question to each sentence, read with its section heading ("Tools like
        MLflow ..." under "Model Registries"). The retriever's sentence cosines are used when
        it gave them (the question is then not encoded a second time), else the index's
        stored sentence vectors, so only the question is encoded, else everything is."""
        if all(len(p.sentence_scores) == len(p.chunk.sentences) > 0 for p in passages):
            return np.array([passages[i].sentence_scores[j] for i, j, _ in quotes])
        stored = [self.stored_vectors(p.chunk.chunk_id) for p in passages] if self.stored_vectors else None
        if stored is not None and all(v is not None and len(v) == len(p.chunk.sentences) for v, p in zip(stored, passages)):
            question_vector = self.embedder.encode_queries([question])[0]
            return np.array([stored[i][j] @ question_vector for i, j, _ in quotes])
        texts = [f"{passages[i].chunk.section}: {q.text}" for i, _, q in quotes]
        vectors = self.embedder.encode_queries([question] + texts)
        return vectors[1:] @ vectors[0]

    def _pick(self, sentences: list[_Sentence], open_passages: set[int]) -> list[_Sentence]:
        """The best sentences within the floor and the length budget, no near-duplicates.

        A sentence from a passage already cited (or in `open_passages`) costs no citation
        precision, so it only needs the relative floor; one that would cite a new passage
        must also score within `new_passage_gap` of the best sentence."""
        ranked = sorted(sentences, key=lambda s: -s.score)
        if not ranked:
            return []
        floor = ranked[0].score * self.relative_floor
        new_floor = ranked[0].score - self.new_passage_gap
        picked: list[_Sentence] = []
        cited = set(open_passages)
        used = 0
        for s in ranked:
            if s.score < floor or len(picked) == self.max_sentences:
                break
            if s.score < new_floor and s.passage not in cited:
                continue
            if any(_similar(s.quote.text, p.quote.text) for p in picked):
                continue
            if picked and used + len(s.quote.text) > self.max_chars:
                continue
            picked.append(s)
            cited.add(s.passage)
            used += len(s.quote.text)
        return picked


def _best_per_edition(sentences: list[_Sentence], passages: list[ScoredChunk]) -> set[int]:
    """The passage of each edition's best sentence: a question about both editions is
    answered from both, even when one edition matches the wording less closely."""
    best: dict[str | None, _Sentence] = {}
    for s in sentences:
        edition = passages[s.passage].chunk.edition
        if edition not in best or s.score > best[edition].score:
            best[edition] = s
    return {s.passage for s in best.values()}


def _compose(picked: list[_Sentence], passages: list[ScoredChunk]) -> Answer:
    """Number the cited passages in order of use and write one paragraph per edition."""
    if not picked:
        return Answer(answer="", abstained=True, citations=[], generator="extractive")
    numbers: dict[int, int] = {}
    by_edition: dict[str | None, list[_Sentence]] = {}
    best: dict[int, float] = {}
    for s in picked:
        best[s.passage] = max(best.get(s.passage, s.score), s.score)
    # Editions in order; within one, the passage with the best sentence first, each read in order.
    ordered = sorted(picked, key=lambda s: (passages[s.passage].chunk.edition or "", -best[s.passage], s.passage, s.quote.start))
    for s in ordered:
        by_edition.setdefault(passages[s.passage].chunk.edition, []).append(s)
        numbers.setdefault(s.passage, len(numbers) + 1)
    several = len(by_edition) > 1
    paragraphs = []
    for position, (edition, group) in enumerate(by_edition.items()):
        body = " ".join(f"{_as_sentence(s.quote.text)} [{numbers[s.passage]}]" for s in group)
        paragraphs.append(f"{_lead(edition, position, several)}{body}")
    citations = [
        Citation.of(n, passages[i], tuple(s.quote for s in ordered if s.passage == i)) for i, n in numbers.items()
    ]
    return Answer(answer="\n\n".join(paragraphs), abstained=False, citations=citations, generator="extractive")


def _lead(edition: str | None, position: int, several: bool) -> str:
    if edition is None:
        return ""
    if not several:
        return f"According to the {edition} guide: "
    return f"The {edition} guide says: " if position == 0 else f"The {edition} guide adds: "


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?\"”)" else text + "."


def _is_content(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]{2,}", text)) >= 4


def _similar(a: str, b: str) -> bool:
    wa, wb = set(re.findall(r"[a-z0-9]+", a.lower())), set(re.findall(r"[a-z0-9]+", b.lower()))
    return len(wa & wb) >= 0.7 * min(len(wa), len(wb))
