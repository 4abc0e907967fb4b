"""The default generator: a short answer made of the guides' own sentences, each cited.

Offline and deterministic. Every quotable sentence of the top passages is scored
by the fitted model (the probability that it answers the question); the best
one comes first, and what follows depends on what the question asks for
(rag.answer.extractive.selection): one fact gets one or two sentences, a list
the whole list, a question about several editions each edition's part and the
sentences comparing them, read off the edition alignment
(rag.answer.extractive.comparison) and put to the edition check
(rag.answer.attribution). A question that names one edition is answered from that
edition alone. Filler is never quoted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from rag.answer.attribution import Statement, check
from rag.answer.extractive.comparison import Claim, Topic, compare
from rag.answer.extractive.features import Candidate, feature_rows
from rag.answer.extractive.model import SelectionModel, load_model
from rag.answer.extractive.selection import pick_fact, quotable, with_scores
from rag.answer.extractive.shape import ListOption, choose, labels_kind, list_options
from rag.core.text import terms
from rag.core.types import Answer, Chunk, Citation, Quote, ScoredChunk
from rag.encoders.embedding import Embedder
from rag.index.alignment import Alignment, Node
from rag.index.outline import Outline
from rag.query.editions import without_edition_references
from rag.query.intent import Intent, read_intent

SentenceVectors = Callable[[str], "np.ndarray | None"]
PASSAGES_USED = 10
MAX_LIST_ITEMS = 8
MAX_ITEMS_PER_EDITION = 5

log = logging.getLogger(__name__)


class ExtractiveGenerator:
    """Picks the sentences that best answer the question from the top passages."""

    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        model: SelectionModel | None = None,
        stored_vectors: SentenceVectors | None = None,
        outline: Outline | None = None,
        alignment: Alignment | None = None,
        plain_model: SelectionModel | None = None,
    ) -> None:
        """`plain_model` scores the passages a question found without the query map (rag.retrieve.query_map):
        on a guide the map does not know, the cosines are the model's own, not the sharper mapped ones."""
        self.embedder = embedder
        self.model = model or load_model()
        self.stored_vectors = stored_vectors
        self.outline = outline
        self.alignment = alignment
        self.plain = ExtractiveGenerator(embedder, plain_model, stored_vectors, outline, alignment) if plain_model else None

    def generate(self, question: str, passages: list[ScoredChunk]) -> Answer:
        passages = list(passages[:PASSAGES_USED])
        if self.plain is not None and not (passages and passages[0].mapped):
            return self.plain.generate(question, passages)
        intent, ranked = self.rank(question, passages)
        if not ranked:
            return Answer(answer="", abstained=True, citations=[], generator=self.name)
        asked = topic_terms(question)
        groups = (self._by_edition(ranked, passages, intent, asked) if intent.both_editions
                  else [self._pick(ranked, passages, intent, asked)])
        return compose(groups, passages, self._comparison(groups, passages, asked), self.outline)

    def _comparison(self, groups: list[list[Candidate]], passages: list[ScoredChunk], asked: frozenset[str]) -> list[Claim]:
        """What the alignment says the two editions' parts share, change and add, about items of the
        passages the answer quotes (so it cites nothing more), beyond the names the question itself
        uses (`asked`, its topic terms); none without an alignment, an outline, or two editions of one series."""
        if len(groups) != 2 or self.alignment is None or self.outline is None:
            return []
        pair = self.alignment.between(groups[0][0].doc, groups[1][0].doc)
        if pair is None:
            return []
        topics = {group[0].doc: Topic.of((c.section if c.unit is None else c.unit.section,
                                          c.unit.block if c.unit else -1, c.is_item) for c in group) for group in groups}
        quoted = {passages[c.passage].chunk.chunk_id for group in groups for c in group}
        outline = self.outline
        return compare(pair, topics[pair.older_doc], topics[pair.newer_doc], outline.text_of, asked=asked,
                       citable=lambda node: bool(held := {c.chunk_id for c in _chunks_over(node, outline)}) and held <= quoted)

    def rank(self, question: str, passages: list[ScoredChunk]) -> tuple[Intent, list[Candidate]]:
        """The question's intent, and the candidate sentences best first (scored by the model)."""
        quotes = quotable(passages, self.outline)
        intent = self.intent(question, passages)
        if not quotes:
            return intent, []
        found, rows = self.features(question, intent, passages, quotes)
        found = with_scores(found, self.model.probability(rows))
        if intent.edition is not None:
            found = [c for c in found if c.edition == intent.edition] or found
        return intent, sorted(found, key=lambda c: -c.score)

    def intent(self, question: str, passages: list[ScoredChunk]) -> Intent:
        """The answer shape the question asks for, its edition words read against the editions of
        the best passage's guide series (the newer of that guide's editions, not the newest of every
        guide in the index), else those of the passages."""
        own = self.outline.editions(passages[0].chunk.series) if self.outline is not None and passages else frozenset()
        return read_intent(question, own or frozenset(p.chunk.edition for p in passages if p.chunk.edition))

    def features(self, question: str, intent: Intent, passages: list[ScoredChunk],
                 quotes: list[tuple[int, int, Quote]]) -> tuple[list[Candidate], np.ndarray]:
        """The candidates and their rows of features (what `rag tune selection` fits on)."""
        topic = without_edition_references(question)
        cosines = self._similarity(topic, passages, quotes)
        found = [Candidate(i, j, q, passages[i].chunk.doc, passages[i].chunk.section, passages[i].chunk.edition,
                           self.outline.unit_at(passages[i].chunk.doc, q.start) if self.outline else None)
                 for i, j, q in quotes]
        firsts = self._first_of_section(found)
        return found, feature_rows(set(topic_terms(question)), intent, passages, found, cosines, firsts)

    def _pick(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent, asked: frozenset[str],
              max_items: int = MAX_LIST_ITEMS) -> list[Candidate]:
        options = list_options(ranked, passages, self.outline, max_items, intent, asked)
        return self.quoted(choose(options, self.model.shape), ranked, passages, intent)

    def quoted(self, option: ListOption | None, ranked: list[Candidate], passages: list[ScoredChunk],
               intent: Intent) -> list[Candidate]:
        """The sentences the answer quotes: the chosen list's items, or (no list chosen) one fact.
        A list whose one item is labelled with the kind asked for ("Which metrics …?" / "Fairness
        Metrics: …") is answered by that item."""
        if option is None:
            return pick_fact(ranked, passages, self.model)
        labelled = [m for m in option.members if intent.kind is not None and labels_kind(m, intent.kind)]
        if len(labelled) == 1:
            return pick_fact(labelled + [c for c in ranked if c is not labelled[0]], passages, self.model)
        return option.members

    def _by_edition(self, ranked: list[Candidate], passages: list[ScoredChunk], intent: Intent,
                    asked: frozenset[str]) -> list[list[Candidate]]:
        """Each edition's own answer, oldest first; an edition whose best sentence is rated far
        below the overall best has nothing on the question and is left out."""
        groups = []
        for edition in sorted({c.edition or "" for c in ranked}):
            own = [c for c in ranked if (c.edition or "") == edition]
            if own[0].score >= ranked[0].score * self.model.threshold("edition_ratio", 0.5):
                groups.append(self._pick(own, passages, intent, asked, MAX_ITEMS_PER_EDITION))
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


def topic_terms(question: str) -> frozenset[str]:
    """The terms of what the question is about (edition references left out)."""
    return frozenset(terms([without_edition_references(question)])[0])


def compose(groups: list[list[Candidate]], passages: list[ScoredChunk], claims: list[Claim],
             outline: Outline | None) -> Answer:
    """Number the cited passages in order of first use and write the answer: one paragraph
    per edition group (a bulleted list for list items), then the editions' comparison, each
    sentence cited into the editions it names and kept only if the edition check passes."""
    numbers: dict[int, int] = {}
    for c in (c for group in groups for c in group):
        numbers.setdefault(c.passage, len(numbers) + 1)
    paragraphs = [_paragraph(group, numbers, _lead(group, position, len(groups))) for position, group in enumerate(groups)]
    statements = [_cited(claim, passages, numbers, outline) for claim in claims]
    picked = [c for group in groups for c in group]
    citations = [
        Citation.of(n, passages[i], tuple(c.quote for c in sorted(picked, key=lambda c: c.quote.start) if c.passage == i))
        for i, n in numbers.items()
    ]
    checked = check([s for s in statements if s is not None], citations)
    for failed in checked.failed:
        log.warning("dropped a generated sentence that fails the edition check: %s", failed.text)
    if checked.kept:
        paragraphs.append(" ".join(s.text for s in checked.kept))
    return Answer(answer="\n\n".join(paragraphs), abstained=False, citations=citations, generator="extractive",
                  checked_sentences=len(checked.kept) + len(checked.failed), failed_sentences=len(checked.failed))


def _cited(claim: Claim, passages: list[ScoredChunk], numbers: dict[int, int], outline: Outline | None) -> Statement | None:
    """The claim with a marker for each passage that holds an item it rests on (a passage the
    answer did not retrieve is added, from the outline); None when no passage is known."""
    markers = []
    for node in claim.nodes:
        for chunk in _chunks_over(node, outline):
            index = next((i for i, p in enumerate(passages) if p.chunk.chunk_id == chunk.chunk_id), None)
            if index is None:
                passages.append(ScoredChunk(chunk=chunk, score=0.0))
                index = len(passages) - 1
            markers.append(numbers.setdefault(index, len(numbers) + 1))
    if not markers:
        return None
    markers = sorted(set(markers))
    return Statement(f"{claim.text[:-1]} {''.join(f'[{n}]' for n in markers)}.", claim.names)


def _chunks_over(node: Node, outline: Outline | None) -> list[Chunk]:
    """The chunks that hold the node's sentences, first to last."""
    guide = outline.guides.get(node.doc) if outline else None
    if outline is None or guide is None:
        return []
    held = (outline.chunk_of(node.doc, u.start) for u in guide.units if node.start <= u.start < node.end)
    return list({c.chunk_id: c for c in held if c is not None}.values())


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
