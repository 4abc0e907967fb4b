"""Which sentences an extractive answer takes, by the structure of the guide.

Candidates are the quotable sentences of the top passages, scored by the fitted
model (rag.answer.extractive.model): the probability that a sentence is
evidence for the question. The best one always leads. What follows it depends
on what the question asks for (rag.query.intent):
- one fact: the sentence it leans on ("It allows you …" after "DVC is …"), or
  the next sentence of its item or paragraph, or one more sentence elsewhere —
  each only when the model rates it likely evidence too;
- a list: the whole list the best item belongs to, in reading order, every item
  cited (from the guide's outline, so items of chunks that were not retrieved
  are included);
- one edition, or each of several: the same, within that edition's sentences.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rag.answer.extractive.features import Candidate
from rag.answer.extractive.model import SelectionModel
from rag.answer.extractive.names import named_terms
from rag.core.text import item_label, terms
from rag.core.types import Quote, ScoredChunk, Unit
from rag.index.outline import Outline

MIN_CHARS = 25
_WORD = re.compile(r"[a-z0-9]+")
_LEANS_BACK = re.compile(r"^(?:It|This|These|They|That|Those|Such)\b")


def quotable(passages: list[ScoredChunk]) -> list[tuple[int, int, Quote]]:
    """(passage, position, quote) of every sentence an answer may quote: not filler, not a fragment,
    not a list lead-in ending in ':'."""
    return [
        (i, j, q)
        for i, p in enumerate(passages)
        for j, q in enumerate(p.chunk.quotes())
        if _quotable(q.text) and not (j < len(p.chunk.filler) and p.chunk.filler[j])
    ]


def _quotable(text: str) -> bool:
    return len(text) >= MIN_CHARS and len(re.findall(r"[A-Za-z]{2,}", text)) >= 4 and not text.rstrip().endswith(":")


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
    second = next((c for c in ranked[1:] if not _similar(c.quote.text, best.quote.text)), None)
    if second is not None and second.score >= model.threshold("second", 0.6) and second.edition == best.edition:
        return [best, second]
    return [best]


def pick_list(ranked: list[Candidate], passages: list[ScoredChunk], model: SelectionModel,
              outline: Outline | None, max_items: int, kind: str | None = None) -> list[Candidate]:
    """The whole list that holds the best-rated item, in reading order, each item by its first
    sentence, when that item is rated near the best sentence and the list's retrieved items are
    rated likely evidence too; else as for one fact (a sentence that names the things itself,
    "Tools like Kafka or Kinesis …", answers alone, and so does the one item labelled with the kind
    asked for). A list longer than `max_items` keeps its best-rated items."""
    best = ranked[0]
    anchor = next((c for c in ranked if c.is_item), None)
    if anchor is None or _names_things(anchor) or (anchor is not best and (
            _names_things(best) or anchor.score < best.score * model.threshold("list_ratio", 0.7))):
        return pick_fact(ranked, passages, model)
    members = _list_members(anchor, ranked, passages, outline)
    if kind is not None and [m for m in members if _labels_kind(m, kind)] == [anchor]:
        return pick_fact([anchor] + [c for c in ranked if c is not anchor], passages, model)
    rated = sorted(m.score for m in members if m in ranked)
    introduced = kind is not None and outline is not None and _introduces(outline, anchor, kind)
    if not introduced and (len(rated) < 2 or rated[len(rated) // 2] < model.threshold("list_support", 0.3)):
        return pick_fact(ranked, passages, model)  # the rest of the list is not what was asked
    return _best_rated(members, max_items)


def _best_rated(members: list[Candidate], max_items: int) -> list[Candidate]:
    """The members, in reading order; a list longer than `max_items` keeps its best-rated ones."""
    if len(members) <= max_items:
        return members
    keep = {id(c) for c in sorted(members, key=lambda c: -c.score)[:max_items]}
    return [c for c in members if id(c) in keep]


def _introduces(outline: Outline, anchor: Candidate, kind: str) -> bool:
    """The anchor's list is introduced by a lead-in naming the kind of thing asked for ("Which
    cuts …?" / "The guide lists these cuts:"): the guide itself says the whole list answers."""
    if anchor.unit is None:
        return False
    before = outline.block(anchor.doc, anchor.unit.block - 1)
    lead = before[-1] if before else None
    if lead is None or lead.item >= 0 or lead.section != anchor.unit.section or not lead.text.rstrip().endswith(":"):
        return False
    return bool(set(terms([kind])[0]) & set(terms([lead.text])[0]))


def _labels_kind(c: Candidate, kind: str) -> bool:
    """The item's label names the kind of thing asked for ("Which metrics …?" / "Fairness Metrics: …").
    When one item of a list alone does, that item answers, not its list of other kinds."""
    label = item_label(c.quote.text)
    return label is not None and set(terms([kind])[0]) <= set(terms([label])[0])


def _names_things(c: Candidate) -> bool:
    """A sentence that itself names several things ("frameworks like PyTorch Distributed or
    Horovod"): it answers a "which" question alone."""
    label = item_label(c.quote.text)
    return len([n for n in named_terms(c.quote.text) if n != label]) >= 2


def _list_members(anchor: Candidate, ranked: list[Candidate], passages: list[ScoredChunk],
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


def _distinct(found: list[Candidate]) -> list[Candidate]:
    kept: list[Candidate] = []
    for c in found:
        if not any(_similar(c.quote.text, k.quote.text) for k in kept):
            kept.append(c)
    return kept


def _similar(a: str, b: str) -> bool:
    """Near-duplicates: most words of the shorter text are in the other (the editions repeat each other)."""
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) >= 0.7 * min(len(wa), len(wb))
