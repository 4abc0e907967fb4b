"""The items of a list, as answer candidates: from the guide's outline when the index has one.

A list answer quotes every item of the list its best-rated item belongs to, in
reading order, by each item's first sentence; an item that no retrieved passage
holds is cited from the chunk the outline says holds it.
"""

from __future__ import annotations

from rag.answer.extractive.features import Candidate
from rag.core.text import near_duplicate
from rag.core.types import Quote, ScoredChunk, Unit
from rag.index.outline import Outline


def list_members(anchor: Candidate, ranked: list[Candidate], passages: list[ScoredChunk],
                  outline: Outline | None) -> list[Candidate]:
    """Each item of the anchor's list once, by its first sentence, in reading order. With an
    outline the list is the guide's; without one, the items among the candidates in the anchor's
    section."""
    if outline is None or anchor.unit is None:
        same = [c for c in ranked if c.is_item and (c.doc, c.section) == (anchor.doc, anchor.section)]
        return _distinct(sorted(same, key=lambda c: c.quote.start))
    return _items_of(outline.block(anchor.doc, anchor.unit.block), anchor, ranked, passages, outline)


def _items_of(block: list[Unit], anchor: Candidate, ranked: list[Candidate], passages: list[ScoredChunk],
              outline: Outline) -> list[Candidate]:
    """Each item of a list block once, by its first sentence, in reading order (filler items left out)."""
    by_start = {(c.doc, c.quote.start): c for c in ranked}
    firsts: dict[int, Unit] = {}
    for unit in block:
        if unit.item >= 0:
            firsts.setdefault(unit.item, unit)
    members = [by_start.get((anchor.doc, u.start)) or _outside(anchor, u, passages, outline)
               for u in firsts.values() if not u.filler]
    return [m for m in members if m is not None]


def _outside(anchor: Candidate, unit: Unit, passages: list[ScoredChunk], outline: Outline) -> Candidate | None:
    """A candidate for a list item that no retrieved passage quoted: cited from the chunk that
    holds it, appended to `passages` (with no score) so it gets a number like the others."""
    chunk = outline.chunk_of(anchor.doc, unit.start)
    if chunk is None:
        return None
    index = next((i for i, p in enumerate(passages) if p.chunk.chunk_id == chunk.chunk_id), None)
    if index is None:
        passages.append(ScoredChunk(chunk=chunk, score=0.0))
        index = len(passages) - 1
    position = next((j for j, q in enumerate(chunk.quotes()) if q.start == unit.start), 0)
    quote = Quote(unit.text, unit.start, unit.end)
    return Candidate(index, position, quote, chunk.doc, chunk.section, chunk.edition, unit, 0.0)


def _distinct(found: list[Candidate]) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in found:
        if not any(near_duplicate(c.quote.text, k.quote.text) for k in kept):
            kept.append(c)
    return kept
