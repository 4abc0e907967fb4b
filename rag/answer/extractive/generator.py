"""The default generator: a short answer made of the guides' own sentences, each cited.

Offline and deterministic. The sentence that best answers the question comes
first; what follows depends on what the question asks for (`rag.query.intent`,
`rag.answer.extractive.selection`): one fact gets one or two sentences, a list gets the items of
the list, a question about both editions gets each edition's part and a
sentence comparing them (`rag.answer.extractive.comparison`). A question that names one edition
is answered from that edition alone. Filler sentences are never quoted.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from rag.answer.extractive.comparison import compare_editions
from rag.answer.extractive.selection import Candidate, SelectionSettings, candidates, pick_fact, pick_list, quotable
from rag.core.types import Answer, Citation, Quote, ScoredChunk
from rag.encoders.embedding import Embedder
from rag.query.editions import without_edition_references
from rag.query.intent import Intent, read_intent

SentenceVectors = Callable[[str], "np.ndarray | None"]


class ExtractiveGenerator:
    """Picks the sentences that best answer the question from the top passages."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        settings: SelectionSettings | None = None,
        stored_vectors: SentenceVectors | None = None,
    ) -> None:
        self.embedder = embedder
        self.settings = settings or SelectionSettings()
        self.stored_vectors = stored_vectors

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        passages = passages[: self.settings.passages_used]
        quotes = quotable(passages)
        if not quotes:
            return Answer(answer="", abstained=True, citations=[], generator=self.name)
        similarity = self._similarity(without_edition_references(question), passages, quotes)
        editions = frozenset(p.chunk.edition for p in passages if p.chunk.edition)
        intent = read_intent(question, editions)
        found = candidates(passages, quotes, similarity, self.settings, intent.wants_names, intent.wants_figure)
        if intent.edition is not None:
            found = [c for c in found if c.edition == intent.edition] or found
        ranked = sorted(found, key=lambda c: -c.score)
        groups = self._by_edition(ranked, passages, intent) if intent.both_editions else [self._pick(ranked, passages, intent)]
        return _compose(groups, passages, intent)

    def _pick(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent) -> list[Candidate]:
        if intent.wants_list:
            return pick_list(ranked, passages, self.settings, intent.kind)
        return pick_fact(ranked, passages, self.settings)

    def _by_edition(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent) -> list[list[Candidate]]:
        """Each edition's own answer, oldest edition first; an edition whose best sentence is far
        below the overall best has nothing on the question and is left out."""
        editions = sorted({c.edition or "" for c in ranked})
        groups = []
        for edition in editions:
            own = [c for c in ranked if (c.edition or "") == edition]
            if own[0].score >= ranked[0].score - self.settings.edition_gap:
                groups.append(self._pick(own, passages, intent)[: self.settings.max_items_per_edition])
        return groups

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


def _compose(groups: list[list[Candidate]], passages: list[ScoredChunk], intent: Intent) -> Answer:
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
