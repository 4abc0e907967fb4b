"""Choose the sentences of an extractive answer: the best one first, then only what adds.

Every sentence of the top passages is a candidate, except filler (`Chunk.filler`),
list lead-ins ("You should be comfortable with:") and fragments. A candidate's
score is its cosine with the question, read under its section heading, plus a
share of its passage's dense score and a small bonus for a list item (a
"Term: description" line states one thing), minus a small penalty per passage
rank. On the golden sets this picks a sentence inside the evidence as often as
any other mix of these signals tried (see README, "How answers are chosen").

What follows the best sentence depends on what the question asks for
(`rag.query.intent`): for one fact, the rest of the best sentence's list item or
paragraph when it scores close, and else at most one more sentence that is
nearly as good and says something new; for a list, the other items of the best
sentence's list; for both editions, each edition's best sentences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag.answer.extractive.comparison import named_terms
from rag.core.text import has_quantity, item_label, terms
from rag.core.types import Quote, ScoredChunk

# A sentence that needs the one before it: "It allows you to ...", "This is ...".
_LEANS_BACK = re.compile(r"^(?:It|This|These|They|That|Those|Such)\b")
_WORD = re.compile(r"[a-z0-9]+")
MIN_CHARS = 25
# Between two sentences of the source: up to _SEPARATED characters, the same item or paragraph;
# up to _HOLE, a line break or bullet; more, text that was not retrieved (or filler) between them.
_SEPARATED = 2
_HOLE = 10


@dataclass(frozen=True)
class Candidate:
    """A sentence that may be quoted: `passage` indexes the passages, `position` the
    passage's sentences."""

    passage: int
    position: int
    quote: Quote
    score: float
    doc: str
    section: str
    edition: str | None
    is_item: bool  # a list item, "Term: description"


@dataclass(frozen=True)
class SelectionSettings:
    """How sentences are scored and how many an answer takes."""

    passages_used: int = 10
    dense_weight: float = 0.3
    item_bonus: float = 0.05
    names_bonus: float = 0.1
    figure_bonus: float = 0.2
    rank_penalty: float = 0.01
    continuation_gap: float = 0.15  # the rest of the best item, if within this of the best score
    second_gap: float = 0.06  # another sentence, if within this of the best score
    max_items: int = 6
    list_gap: float = 0.1  # a list answers a list question if its best item is within this of the best
    item_gap: float = 0.25  # an item of that list, if within this of its best item
    edition_gap: float = 0.25  # another edition's best, if within this of the best score
    max_items_per_edition: int = 3


def candidates(
    passages: list[ScoredChunk],
    quotes: list[tuple[int, int, Quote]],
    similarity: Iterable[float],
    settings: SelectionSettings,
    names_wanted: bool = False,
    figure_wanted: bool = False,
) -> list[Candidate]:
    """Scored candidates: `quotes` are `quotable(passages)` and `similarity` their cosines, in order.
    When the question asks for named things (tools, libraries), a sentence that names several gains;
    when it asks for a figure, a sentence that gives one."""
    found = []
    for (i, j, quote), cosine in zip(quotes, similarity, strict=True):
        p = passages[i]
        item = is_item(quote.text)
        score = float(cosine) + settings.dense_weight * (p.dense or 0.0) - settings.rank_penalty * i
        score += settings.item_bonus * item
        if names_wanted:
            score += settings.names_bonus * min(len(named_terms(quote.text)), 3) / 3
        if figure_wanted and has_quantity(quote.text):
            score += settings.figure_bonus
        found.append(Candidate(i, j, quote, score, p.chunk.doc, p.chunk.section, p.chunk.edition, item))
    return found


def quotable(passages: list[ScoredChunk]) -> list[tuple[int, int, Quote]]:
    """(passage, position, quote) of every sentence an answer may quote."""
    return [
        (i, j, q)
        for i, p in enumerate(passages)
        for j, q in enumerate(p.chunk.quotes())
        if _quotable(q.text) and not (j < len(p.chunk.filler) and p.chunk.filler[j])
    ]


def is_item(text: str) -> bool:
    """A list item written as "Term: description" (not a "Practical Tip:" remark)."""
    return item_label(text) is not None


def _quotable(text: str) -> bool:
    """Not a fragment: long enough, several words, and not a list lead-in ending in ':'."""
    return len(text) >= MIN_CHARS and len(re.findall(r"[A-Za-z]{2,}", text)) >= 4 and not text.rstrip().endswith(":")


def pick_fact(ranked: list[Candidate], passages: list[ScoredChunk], s: SelectionSettings) -> list[Candidate]:
    """The best sentence (after the sentence it leans on, when it opens with "It"/"This"), then the
    rest of its item or paragraph if it scores close, or else one more sentence that is nearly
    as good and not a near-duplicate."""
    best = ranked[0]
    before = _neighbour(best, ranked, passages, -1)
    if before is not None and _LEANS_BACK.match(best.quote.text):
        return [before, best]
    following = _neighbour(best, ranked, passages, +1)
    if following is not None and following.score >= best.score - s.continuation_gap:
        return [best, following]
    second = next((c for c in ranked[1:] if not _similar(c.quote.text, best.quote.text)), None)
    if second is not None and second.score >= best.score - s.second_gap and second.edition == best.edition:
        return [best, second]
    return [best]


def pick_list(
    ranked: list[Candidate], passages: list[ScoredChunk], s: SelectionSettings, kind: str | None = None
) -> list[Candidate]:
    """The items of the list that holds the best-scoring item (the best first, the rest in
    reading order, those within `item_gap` of it), when that item scores within `list_gap`
    of the best sentence: a list question is answered by a list, not by the sentence that
    introduces it. When the item's term names the `kind` of thing asked for, the item alone
    answers. Otherwise as for one fact."""
    anchor = next((c for c in ranked if c.is_item), None)
    best = ranked[0]
    if anchor is None or (anchor is not best and (len(named_terms(best.quote.text)) >= 2 or anchor.score < best.score - s.list_gap)):
        # No list near the top, or the best sentence names the things itself ("Tools like Kafka or Kinesis ...").
        return pick_fact(ranked, passages, s)
    if kind is not None and names_kind(anchor.quote.text, kind):
        # "What output formats ...?" is answered by the item "Output Formatting: ... (JSON, XML)".
        return pick_fact([anchor] + [c for c in ranked if c is not anchor], passages, s)
    members = [c for c in _list_run(anchor, ranked) if c is not anchor and c.score >= anchor.score - s.item_gap]
    members = _distinct([anchor] + members)[: s.max_items]
    return [anchor] + sorted(members[1:], key=lambda c: c.quote.start)


def _list_run(anchor: Candidate, ranked: list[Candidate]) -> list[Candidate]:
    """The items of the anchor's list: the run of items around it in its section, in reading
    order. A sentence only a space after an item is part of it; a paragraph that is not an item
    ends the list, unless text not retrieved lies before it (it may continue an item that was
    not retrieved)."""
    same = sorted((c for c in ranked if c.doc == anchor.doc and c.section == anchor.section), key=lambda c: c.quote.start)
    blocks: list[list[Candidate]] = []
    after_hole: list[bool] = []
    for previous, c in zip([None] + same[:-1], same):
        gap = c.quote.start - previous.quote.end if previous else 0
        if blocks and gap <= _SEPARATED and not c.is_item:
            blocks[-1].append(c)
        else:
            blocks.append([c])
            after_hole.append(gap > _HOLE)
    at = next(i for i, block in enumerate(blocks) if anchor in block)
    kept = [at]
    for step in (-1, +1):
        i = at + step
        while 0 <= i < len(blocks) and (blocks[i][0].is_item or after_hole[i]):
            kept.append(i)
            i += step
    return sorted((blocks[i][0] for i in kept if blocks[i][0].is_item), key=lambda c: c.quote.start)


def _neighbour(best: Candidate, ranked: list[Candidate], passages: list[ScoredChunk], step: int) -> Candidate | None:
    """The sentence just before (`step` -1) or after (+1) the best one in its item or paragraph:
    only a space apart in the source, and after it not the start of another item."""
    chunk = passages[best.passage].chunk
    position = best.position + step
    if not 0 <= position < len(chunk.sentences):
        return None
    earlier, later = sorted((chunk.sentences[position], chunk.sentences[best.position]), key=lambda s: s[2])
    if later[2] - earlier[3] > 2:
        return None
    found = next((c for c in ranked if c.passage == best.passage and c.position == position), None)
    return None if found is None or (step > 0 and found.is_item) else found


def names_kind(item: str, kind: str) -> bool:
    """Whether a list item's term names the kind of thing asked for ("formats" in "Output Formatting")."""
    label = item_label(item)
    if label is None:
        return False
    return bool(set(terms([kind])[0]) & set(terms([label])[0]))


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
