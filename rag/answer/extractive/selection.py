"""Which sentences an extractive answer takes, by the structure of the guide.

Candidates are the quotable sentences of the top passages, scored by the fitted
model (rag.answer.extractive.model): the probability that a sentence is
evidence for the question. The best one always leads. What follows it depends
on what the question asks for (rag.query.intent):
- one fact: the sentence it leans on ("It allows you …" after "DVC is …"), or
  the next sentence of its item or paragraph, or one more sentence elsewhere —
  each only when the model rates it likely evidence too;
- a list: the whole list, in reading order, every item cited (from the guide's
  outline, so items of chunks that were not retrieved are included), when the
  fitted shape model (rag.answer.extractive.shape) says it answers better;
- one edition, or each of several: the same, within that edition's sentences.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rag.answer.extractive.features import Candidate
from rag.answer.extractive.model import SelectionModel
from rag.core.text import near_duplicate
from rag.core.types import Quote, ScoredChunk
from rag.index.outline import Outline

MIN_CHARS = 25
_LEANS_BACK = re.compile(r"^(?:It|This|These|They|That|Those|Such)\b")


def quotable(passages: list[ScoredChunk], outline: Outline | None = None) -> list[tuple[int, int, Quote]]:
    """(passage, position, quote) of every sentence an answer may quote: not filler, not a fragment,
    not a list lead-in ending in ':'. An item of a list (by the outline) is whole however short:
    a list of plain names ("- Straw", "- Wood chips and sawdust") is answered by its names."""
    return [
        (i, j, q)
        for i, p in enumerate(passages)
        for j, q in enumerate(p.chunk.quotes())
        if (_sentence(q.text) or (_short_item(q.text) and _is_item(outline, p.chunk.doc, q.start)))
        and not (j < len(p.chunk.filler) and p.chunk.filler[j])
    ]


def _sentence(text: str) -> bool:
    return len(text) >= MIN_CHARS and len(re.findall(r"[A-Za-z]{2,}", text)) >= 4 and not text.rstrip().endswith(":")


def _short_item(text: str) -> bool:
    """Quotable if the outline says it is a list item (looked up only for texts too short for a sentence)."""
    return re.search(r"[A-Za-z]{2,}", text) is not None and not text.rstrip().endswith(":")


def _is_item(outline: Outline | None, doc: str, start: int) -> bool:
    unit = outline.unit_at(doc, start) if outline is not None else None
    return unit is not None and unit.item >= 0


def pick_fact(ranked: list[Candidate], passages: list[ScoredChunk], model: SelectionModel) -> list[Candidate]:
    """The best sentence, then what the model rates likely evidence beside it: the sentence it
    leans on, the next sentence of its item or paragraph, or one other sentence."""
    best = ranked[0]
    before = _neighbour(best, ranked, passages, -1)
    if before is not None and _LEANS_BACK.match(best.quote.text):
        return [before, best]
    following = _neighbour(best, ranked, passages, +1)
    if following is not None and following.score >= model.threshold("follow", 0.5):
        return [best, following]
    second = next((c for c in ranked[1:] if not near_duplicate(c.quote.text, best.quote.text)), None)
    if second is not None and second.score >= model.threshold("second", 0.6) and second.edition == best.edition:
        return [best, second]
    return [best]


def _neighbour(best: Candidate, ranked: list[Candidate], passages: list[ScoredChunk], step: int) -> Candidate | None:
    """The sentence just before (`step` -1) or after (+1) the best one in its item or paragraph."""
    chunk = passages[best.passage].chunk
    position = best.position + step
    if not 0 <= position < len(chunk.sentences):
        return None
    found = next((c for c in ranked if c.passage == best.passage and c.position == position), None)
    if found is None:
        return None
    if best.unit is not None and found.unit is not None:
        same_place = (found.unit.block, found.unit.item) == (best.unit.block, best.unit.item)
        return found if same_place else None
    earlier, later = sorted((chunk.sentences[position], chunk.sentences[best.position]), key=lambda s: s[2])
    return found if later[2] - earlier[3] <= 2 and not (step > 0 and found.is_item) else None


def with_scores(found: list[Candidate], scores) -> list[Candidate]:
    return [replace(c, score=float(s)) for c, s in zip(found, scores, strict=True)]
