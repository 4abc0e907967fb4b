"""The default generator: a short answer made of the guides' own sentences, each cited.

Offline and deterministic. Every quotable sentence of the top passages is scored
by the fitted model (the probability that it answers the question); the best
one comes first, and what follows depends on what the question asks for
(rag.answer.extractive.selection): one fact gets one or two sentences, a list
the whole list, a question about several editions each edition's part and a
sentence comparing them (rag.answer.extractive.comparison). A question that
names one edition is answered from that edition alone. Filler is never quoted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rag.answer.extractive.comparison import compare_editions
from rag.answer.extractive.features import Candidate, feature_rows
from rag.answer.extractive.model import SelectionModel, load_model
from rag.answer.extractive.selection import pick_fact, pick_list, quotable, with_scores
from rag.core.text import terms
from rag.core.types import Answer, Citation, Quote, ScoredChunk
from rag.encoders.embedding import Embedder
from rag.index.outline import Outline
from rag.query.editions import without_edition_references
from rag.query.intent import Intent, read_intent

SentenceVectors = Callable[[str], "np.ndarray | None"]
PASSAGES_USED = 10
MAX_LIST_ITEMS = 8
MAX_ITEMS_PER_EDITION = 5


class ExtractiveGenerator:
    """Picks the sentences that best answer the question from the top passages."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        model: SelectionModel | None = None,
        stored_vectors: SentenceVectors | None = None,
        outline: Outline | None = None,
    ) -> None:
        self.embedder = embedder
        self.model = model or load_model()
        self.stored_vectors = stored_vectors
        self.outline = outline

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        passages = list(passages[:PASSAGES_USED])
        intent, ranked = self.rank(question, passages)
        if not ranked:
            return Answer(answer="", abstained=True, citations=[], generator=self.name)
        groups = self._by_edition(ranked, passages, intent) if intent.both_editions else [self._pick(ranked, passages, intent)]
        return _compose(groups, passages)

    def rank(self, question: str, passages: list[ScoredChunk]) -> tuple[Intent, list[Candidate]]:
        """The question's intent, and the candidate sentences best first (scored by the model)."""
        quotes = quotable(passages)
        editions = frozenset(p.chunk.edition for p in passages if p.chunk.edition)
        intent = read_intent(question, editions)
        if not quotes:
            return intent, []
        found, rows = self.features(question, intent, passages, quotes)
        found = with_scores(found, self.model.probability(rows))
        if intent.edition is not None:
            found = [c for c in found if c.edition == intent.edition] or found
        return intent, sorted(found, key=lambda c: -c.score)

    def features(self, question: str, intent: Intent, passages: list[ScoredChunk],
                 quotes: list[tuple[int, int, Quote]]) -> tuple[list[Candidate], np.ndarray]:
        """The candidates and their rows of features (what `rag tune selection` fits on)."""
        topic = without_edition_references(question)
        cosines = self._similarity(topic, passages, quotes)
        found = [Candidate(i, j, q, passages[i].chunk.doc, passages[i].chunk.section, passages[i].chunk.edition,
                           self.outline.unit_at(passages[i].chunk.doc, q.start) if self.outline else None)
                 for i, j, q in quotes]
        firsts = self._first_of_section(found)
        return found, feature_rows(set(terms([topic])[0]), intent, passages, found, cosines, firsts)

    def _pick(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent,
              max_items: int = MAX_LIST_ITEMS) -> list[Candidate]:
        if intent.wants_list:
            return pick_list(ranked, passages, self.model, self.outline, max_items, intent.kind)
        return pick_fact(ranked, passages, self.model)

    def _by_edition(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent) -> list[list[Candidate]]:
        """Each edition's own answer, oldest first; an edition whose best sentence is rated far
        below the overall best has nothing on the question and is left out."""
        groups = []
        for edition in sorted({c.edition or "" for c in ranked}):
            own = [c for c in ranked if (c.edition or "") == edition]
            if own[0].score >= ranked[0].score * self.model.threshold("edition_ratio", 0.5):
                groups.append(self._pick(own, passages, intent, MAX_ITEMS_PER_EDITION))
        return groups

    def _first_of_section(self, found: list[Candidate]) -> set[tuple[str, int]]:
        """(doc, start) of the first sentence of each candidate's section, from the outline."""
        if self.outline is None:
            return set()
        firsts = set()
        for doc in {c.doc for c in found}:
            guide = self.outline.guides.get(doc)
            seen: set[str] = set()
            for u in guide.units if guide else ():
                if u.section not in seen:
                    seen.add(u.section)
                    firsts.add((doc, u.start))
        return firsts

    def _similarity(self, question: str, passages: list[ScoredChunk], quotes: list[tuple[int, int, Quote]]) -> np.ndarray:
        """Cosine of the question to each sentence, read with its section heading. The retriever's
        sentence cosines are used when it gave them (the question is then not encoded again), else
        the index's stored sentence vectors (only the question is encoded), else everything is."""
        if all(len(p.sentence_scores) == len(p.chunk.sentences) > 0 for p in passages):
            return np.array([passages[i].sentence_scores[j] for i, j, _ in quotes])
        stored = [self.stored_vectors(p.chunk.chunk_id) for p in passages] if self.stored_vectors else None
        if stored is not None and all(v is not None and len(v) == len(p.chunk.sentences) for v, p in zip(stored, passages)):
            question_vector = self.embedder.encode_queries([question])[0]
            return np.array([stored[i][j] @ question_vector for i, j, _ in quotes])  # type: ignore[index]
        texts = [f"{passages[i].chunk.section}: {q.text}" for i, _, q in quotes]
        vectors = self.embedder.encode_queries([question] + texts)
        return vectors[1:] @ vectors[0]


def _compose(groups: list[list[Candidate]], passages: list[ScoredChunk]) -> Answer:
    """Number the cited passages in order of first use and write the answer: one paragraph
    per edition group (a bulleted list for list items), then the editions' comparison."""
    numbers: dict[int, int] = {}
    for c in (c for group in groups for c in group):
        numbers.setdefault(c.passage, len(numbers) + 1)
    paragraphs = [_paragraph(group, numbers, _lead(group, position, len(groups))) for position, group in enumerate(groups)]
    if len(groups) == 2:
        comparison = compare_editions(
            groups[0][0].edition or "older", groups[1][0].edition or "newer",
            [c.quote.text for c in groups[0]], [c.quote.text for c in groups[1]],
        )
        if comparison:
            markers = "".join(f"[{numbers[p]}]" for p in dict.fromkeys(c.passage for g in groups for c in g))
            paragraphs.append(f"{comparison} {markers}")
    picked = [c for group in groups for c in group]
    citations = [
        Citation.of(n, passages[i], tuple(c.quote for c in sorted(picked, key=lambda c: c.quote.start) if c.passage == i))
        for i, n in numbers.items()
    ]
    return Answer(answer="\n\n".join(paragraphs), abstained=False, citations=citations, generator="extractive")


def _paragraph(group: list[Candidate], numbers: dict[int, int], lead: str) -> str:
    sentences = [f"{_as_sentence(c.quote.text)} [{numbers[c.passage]}]" for c in group]
    if len(group) > 2 and all(c.is_item for c in group):
        return lead.rstrip() + "\n" + "\n".join(f"- {s}" for s in sentences)
    return lead + " ".join(sentences)


def _lead(group: list[Candidate], position: int, groups: int) -> str:
    edition = group[0].edition
    if edition is None:
        return ""
    if groups == 1:
        return f"According to the {edition} guide: "
    return f"The {edition} guide says: " if position == 0 else f"The {edition} guide adds: "


def _as_sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?\"”)" else text + "."
